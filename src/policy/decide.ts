import type { AccessRule, RouteConfig } from '../config/types.js'
import type { Identity } from '../session/types.js'
import { canonicalDomain, canonicalEmail, emailDomain } from './email.js'

/** The outcome of an access decision and the rule that made it (for logs and `policy explain`). */
export interface Decision {
  readonly allow: boolean
  /** e.g. `access.email_domains: example.com`, `routes[/api/].allow.groups: admins`, `deny: no rule matched`. */
  readonly reason: string
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

/** Prepares an access rule for fast, exact matching. */
export function compileRule (rule: AccessRule, label: string): CompiledRule {
  const emails = new Set<string>()
  for (const e of rule.emails) {
    const c = canonicalEmail(e)
    if (c !== null) emails.add(c)
  }
  const domains = new Set(rule.emailDomains.filter((d) => d !== '*').map(canonicalDomain))
  const claims = new Map<string, ReadonlySet<string>>()
  for (const [name, values] of Object.entries(rule.claims)) claims.set(name, new Set(values))
  return { label, emails, domains, anyDomain: rule.emailDomains.includes('*'), groups: new Set(rule.groups), claims }
}

/** The first part of `rule` that admits `identity`, or null. */
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

export interface CompiledPolicy {
  readonly global: CompiledRule
  readonly routes: ReadonlyMap<RouteConfig, CompiledRule>
}

/** Compiles the global rule and every route's `allow` once. */
export function compilePolicy (access: AccessRule, routes: readonly RouteConfig[]): CompiledPolicy {
  const compiled = new Map<RouteConfig, CompiledRule>()
  for (const route of routes) {
    if (route.allow !== null) compiled.set(route, compileRule(route.allow, `routes[${route.path}].allow`))
  }
  return { global: compileRule(access, 'access'), routes: compiled }
}

/**
 * The access decision: deny unless the global `access` rules admit the identity AND, when the
 * route has an `allow`, that narrows it further; a route's `methods` list refuses other methods.
 * Pure: the same inputs always give the same decision.
 */
export function decide (policy: CompiledPolicy, identity: Identity, route: RouteConfig | null, method: string): Decision {
  if (route !== null && route.methods !== null && !route.methods.includes(method.toUpperCase())) {
    return { allow: false, reason: `routes[${route.path}].methods: ${method.toUpperCase()} not listed` }
  }
  const global = matchRule(policy.global, identity)
  if (global === null) return { allow: false, reason: 'deny: no access rule matched' }
  const routeRule = route === null ? undefined : policy.routes.get(route)
  if (routeRule === undefined) return { allow: true, reason: global }
  const narrowed = matchRule(routeRule, identity)
  if (narrowed === null) return { allow: false, reason: `deny: no rule of ${routeRule.label} matched` }
  return { allow: true, reason: narrowed }
}
