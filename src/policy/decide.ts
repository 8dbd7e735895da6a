/**
 * The access decision. Everything here is pure: the policy is compiled once from the frozen
 * config, and `decide` maps (policy, route, method, identity) to allow/deny plus the rule that
 * decided, with no I/O, clock or randomness. The gate, forward-auth and `portcullis policy
 * explain` all call the same function, so what an operator tests is what the gateway does.
 */
import type { AccessRule, RouteConfig } from '../config/types.js'
import type { Identity } from '../domain/types.js'
import { canonicalDomain, canonicalEmail, emailDomain } from '../domain/email.js'

/**
 * How a decision came about; callers turn it into a status:
 * - `public`: the route needs no sign-in (allow);
 * - `allowed`: the identity passed every rule that applies (allow);
 * - `method_not_allowed`: the route lists `methods` and this is not one of them (deny, 405);
 * - `sign_in_required`: the route is protected and nobody is signed in (deny, 401);
 * - `denied`: signed in, but no rule admits the identity (deny, 403).
 */
export type Outcome = 'public' | 'allowed' | 'method_not_allowed' | 'sign_in_required' | 'denied'

/** The outcome of an access decision and the rule that made it (for the debug log and `policy explain`). */
export interface Decision {
  readonly allow: boolean
  readonly outcome: Outcome
  /**
   * The rule that decided, in the config's own words: `access.email_domains: example.com`,
   * `routes[/api/].allow.groups: admins`, `routes[/static/].public`,
   * `routes[/api/].methods: DELETE not listed`, `access: no rule matched (deny by default)`.
   */
  readonly rule: string
  /** Every rule part that admitted the identity, global first (empty unless `allowed`). */
  readonly matched: readonly string[]
}

/** A rule prepared once at start-up: canonical, set-based, so a decision is a few lookups. */
export interface CompiledRule {
  readonly label: string
  readonly emails: ReadonlySet<string>
  readonly domains: ReadonlySet<string>
  readonly anyDomain: boolean
  readonly groups: ReadonlySet<string>
  readonly claims: ReadonlyMap<string, ReadonlySet<string>>
}

export interface CompiledPolicy {
  readonly global: CompiledRule
  readonly routes: ReadonlyMap<RouteConfig, CompiledRule>
}

/** The label a route's rules are reported under: `routes[/api/]`. */
export function routeLabel (route: RouteConfig): string {
  return `routes[${route.path}]`
}

/**
 * Prepares an access rule for fast, exact matching. Configured emails that are not plain ASCII
 * `local@domain` addresses can never match anything (the config validator refuses them first).
 */
export function compileRule (rule: AccessRule, label: string): CompiledRule {
  const emails = new Set<string>()
  for (const e of rule.emails) {
    const c = canonicalEmail(e)
    if (c !== null) emails.add(c)
  }
  const domains = new Set(rule.emailDomains.filter((d) => d !== '*').map(canonicalDomain))
  const claims = new Map<string, ReadonlySet<string>>()
  for (const [name, values] of Object.entries(rule.claims)) {
    if (values.length > 0) claims.set(name, new Set(values))
  }
  return { label, emails, domains, anyDomain: rule.emailDomains.includes('*'), groups: new Set(rule.groups), claims }
}

/** Compiles the global rule and every route's `allow` once. */
export function compilePolicy (access: AccessRule, routes: readonly RouteConfig[]): CompiledPolicy {
  const compiled = new Map<RouteConfig, CompiledRule>()
  for (const route of routes) {
    if (route.allow !== null) compiled.set(route, compileRule(route.allow, `${routeLabel(route)}.allow`))
  }
  return { global: compileRule(access, 'access'), routes: compiled }
}

/**
 * The first part of `rule` that admits `identity`, or null. Within one rule the kinds are
 * alternatives (any one admits); they are tried in a fixed order (emails, email_domains, groups,
 * claims) only so that the reported rule is predictable. An unverified email admits nothing,
 * and an email that is not a plain ASCII address matches no email or domain rule.
 */
export function matchRule (rule: CompiledRule, identity: Identity): string | null {
  if (!identity.emailVerified) return null
  const email = canonicalEmail(identity.email)
  if (email !== null) {
    if (rule.emails.has(email)) return `${rule.label}.emails: ${email}`
    const domain = emailDomain(email)
    if (rule.domains.has(domain)) return `${rule.label}.email_domains: ${domain}`
    if (rule.anyDomain) return `${rule.label}.email_domains: *`
  }
  for (const group of identity.groups) {
    if (rule.groups.has(group)) return `${rule.label}.groups: ${group}`
  }
  for (const [name, accepted] of rule.claims) {
    const value = identity.claims[name]
    const values = typeof value === 'string' ? [value] : (value ?? [])
    for (const v of values) {
      if (accepted.has(v)) return `${rule.label}.claims.${name}: ${v}`
    }
  }
  return null
}

/** Whether a route's `methods` list admits `method`; a listed GET admits HEAD too. */
function methodListed (methods: readonly string[], method: string): boolean {
  return methods.includes(method) || (method === 'HEAD' && methods.includes('GET'))
}

/**
 * The access decision, in this order (the first step that decides wins):
 * 1. the route lists `methods` and `method` is not one of them: deny (`method_not_allowed`);
 * 2. the route is `public`: allow, whoever asks;
 * 3. nobody is signed in (`identity` null): deny (`sign_in_required`);
 * 4. no part of the global `access` rule admits the identity: deny (deny by default);
 * 5. the route has `allow` and no part of it admits the identity: deny (it narrows, never widens);
 * 6. otherwise allow, reporting the route's matching rule when it has one, else the global one.
 * `route` null means no route applies (forward-auth for a URI the routes do not cover): only the
 * global rule is checked. Pure: the same inputs always give the same decision.
 */
export function decide (policy: CompiledPolicy, route: RouteConfig | null, method: string, identity: Identity | null): Decision {
  const verb = method.toUpperCase()
  const before = decideWithoutIdentity(route, verb)
  if (before === 'method_not_allowed') return deny('method_not_allowed', methodRule(route as RouteConfig, verb))
  if (before === 'public') return { allow: true, outcome: 'public', rule: `${routeLabel(route as RouteConfig)}.public`, matched: [] }
  if (identity === null) return deny('sign_in_required', 'not signed in')
  const global = matchRule(policy.global, identity)
  if (global === null) return deny('denied', 'access: no rule matched (deny by default)')
  const routeRule = route === null ? undefined : policy.routes.get(route)
  if (routeRule === undefined) return { allow: true, outcome: 'allowed', rule: global, matched: [global] }
  const narrowed = matchRule(routeRule, identity)
  if (narrowed === null) return deny('denied', `${routeRule.label}: no rule matched (deny by default)`)
  return { allow: true, outcome: 'allowed', rule: narrowed, matched: [global, narrowed] }
}

/**
 * Steps 1 and 2 of {@link decide}, which need no identity: `method_not_allowed`, `public`, or
 * null when the identity decides. Allocation-free, for the gate's path before the session.
 * `method` must be upper case.
 */
export function decideWithoutIdentity (route: RouteConfig | null, method: string): 'method_not_allowed' | 'public' | null {
  if (route === null) return null
  if (route.methods !== null && !methodListed(route.methods, method)) return 'method_not_allowed'
  return route.public ? 'public' : null
}

/** The rule reported for a refused method: `routes[/api/].methods: DELETE not listed`. */
export function methodRule (route: RouteConfig, method: string): string {
  return `${routeLabel(route)}.methods: ${method.toUpperCase()} not listed`
}

function deny (outcome: Outcome, rule: string): Decision {
  return { allow: false, outcome, rule, matched: [] }
}
