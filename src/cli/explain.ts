/**
 * `portcullis policy explain`: runs the gateway's own decision for a path, a method and a made-up
 * identity against a config file, and prints the decision and the rule that made it, so a policy
 * can be tested before it is deployed. The CLI wiring lives in `cli.ts`; this is the logic, with
 * the output streams passed in so it can be tested without a process.
 */
import type { Config, RouteConfig } from '../config/types.js'
import { ConfigError, loadConfigFile } from '../config/load.js'
import { normalisePath } from '../proxy/path.js'
import { createRouteTable } from '../policy/routes.js'
import type { Identity } from '../domain/types.js'
import { compilePolicy, decide, type Decision, type Outcome } from '../policy/decide.js'
import { AMBIGUOUS, UNREADABLE, chooseRoute, explainReadings } from '../policy/route-choice.js'
import { describeGroupsSource } from '../groups/resolver.js'

export const explainUsage = `Usage: portcullis policy explain --config FILE --path PATH [options]

Prints whether the gateway would let a request through, and the rule that decided.

Options:
  --config FILE       the config file (or PORTCULLIS_CONFIG)
  --path PATH         request path, with an optional query (/admin/users?page=2)
  --method METHOD     request method (default GET)
  --email ADDRESS     the signed-in user's verified email; without it, nobody is signed in
  --groups A,B        the user's groups (repeatable)
  --claim NAME=VALUE  a claim of the user (repeatable; repeat a name for a list)
  --forward-auth      decide as /oauth2/auth does (a path no route covers gets the access rules)
  --json              print the result as one JSON object

Exit code: 0 allow, 1 deny, 2 usage or config error.
`

interface ExplainArgs {
  readonly config: string | undefined
  readonly path: string
  readonly method: string
  readonly email: string | undefined
  readonly groups: readonly string[]
  readonly claims: Readonly<Record<string, string[]>>
  readonly forwardAuth: boolean
  readonly json: boolean
}

type Parsed = { readonly ok: true, readonly args: ExplainArgs } | { readonly ok: false, readonly error: string | null }

const valueFlags = new Set(['--config', '--path', '--method', '--email', '--groups', '--claim'])

/** Parses the options after `policy explain`; `error` null means help was asked for. */
export function parseExplainArgs (argv: readonly string[]): Parsed {
  const values = new Map<string, string[]>()
  let forwardAuth = false
  let json = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--help' || arg === '-h') return { ok: false, error: null }
    if (arg === '--json') { json = true; continue }
    if (arg === '--forward-auth') { forwardAuth = true; continue }
    const eq = arg.indexOf('=')
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg
    if (!valueFlags.has(name)) return { ok: false, error: `unknown option "${arg}"` }
    let value: string | undefined
    if (name !== arg) value = arg.slice(eq + 1)
    else value = argv[++i]
    if (value === undefined) return { ok: false, error: `${name} needs a value` }
    values.set(name, [...values.get(name) ?? [], value])
  }
  const single = (name: string): string | undefined => values.get(name)?.at(-1)

  const path = single('--path')
  if (path === undefined) return { ok: false, error: '--path is required' }
  if (!path.startsWith('/')) return { ok: false, error: '--path must start with "/"' }
  const method = (single('--method') ?? 'GET').toUpperCase()
  if (!/^[A-Z]{1,16}$/.test(method)) return { ok: false, error: '--method must be an HTTP method such as GET' }
  const groups = (values.get('--groups') ?? []).flatMap((g) => g.split(',')).map((g) => g.trim()).filter((g) => g !== '')
  const claims: Record<string, string[]> = {}
  for (const pair of values.get('--claim') ?? []) {
    const at = pair.indexOf('=')
    if (at <= 0) return { ok: false, error: `--claim must be NAME=VALUE, got "${pair}"` }
    const key = pair.slice(0, at)
    claims[key] = [...claims[key] ?? [], pair.slice(at + 1)]
  }
  const email = single('--email')
  if (email === undefined && (groups.length > 0 || Object.keys(claims).length > 0)) {
    return { ok: false, error: '--groups and --claim describe a signed-in user: add --email' }
  }
  return { ok: true, args: { config: single('--config'), path, method, email, groups, claims, forwardAuth, json } }
}

/** What the gateway answers for each outcome, in proxy mode and in forward-auth mode. */
const answers: Record<Outcome, { proxy: string, forwardAuth: string }> = {
  public: { proxy: 'proxied without sign-in', forwardAuth: '202 without identity' },
  allowed: { proxy: 'proxied with the identity headers', forwardAuth: '202 with X-Auth-Request-* headers' },
  method_not_allowed: { proxy: '405 Method Not Allowed', forwardAuth: '403' },
  sign_in_required: { proxy: 'sign-in (302 for a browser, 401 otherwise)', forwardAuth: '401 (or a 302 to sign-in in redirect mode)' },
  denied: { proxy: '403 Access denied', forwardAuth: '403' }
}

export interface Explanation {
  readonly decision: 'allow' | 'deny'
  readonly outcome: Outcome | 'bad_path' | 'ambiguous_path' | 'not_proxied' | 'no_route'
  readonly rule: string
  readonly matched: readonly string[]
  readonly answer: string
  readonly mode: 'proxy' | 'forward-auth'
  readonly method: string
  readonly path: string
  readonly route: { readonly path: string, readonly upstream: string } | null
  /**
   * How common upstreams read the path and the route each reading selects (first: as forwarded);
   * the route that decides is the strictest of them (docs/policy.md, "How a path is matched").
   */
  readonly readings: ReadonlyArray<{ readonly how: string, readonly path: string, readonly route: string | null }>
  readonly identity: { readonly email: string, readonly groups: readonly string[], readonly groupsFrom: string, readonly claims: Readonly<Record<string, string[]>> } | null
}

/**
 * Explains one request against a loaded config, with the same path normalisation, route table
 * and decision function the gateway runs.
 */
export function explain (config: Config, args: ExplainArgs): Explanation {
  const mode = args.forwardAuth ? 'forward-auth' : 'proxy'
  const identity: Identity | null = args.email === undefined
    ? null
    : { sub: args.email, email: args.email, emailVerified: true, name: null, preferredUsername: null, groups: args.groups, hd: null, claims: args.claims }
  const base = {
    mode,
    method: args.method,
    path: args.path,
    identity: args.email === undefined ? null : { email: args.email, groups: args.groups, groupsFrom: describeGroupsSource(config.provider), claims: args.claims }
  } as const
  let readings: Explanation['readings'] = []
  const stop = (outcome: Explanation['outcome'], rule: string, answer: string): Explanation =>
    ({ ...base, decision: 'deny', outcome, rule, matched: [], answer, route: null, readings })

  const normalised = normalisePath(args.path)
  if (normalised === null) return stop('bad_path', 'the path cannot be normalised safely', '400 Bad Request')
  const prefix = config.server.authPrefix
  if (mode === 'proxy' && (normalised.path === prefix || normalised.path.startsWith(`${prefix}/`))) {
    return stop('not_proxied', `server.auth_prefix: ${prefix} is the gateway's own`, '404 (never proxied)')
  }
  const table = createRouteTable(config.routes)
  const policy = compilePolicy(config.access, config.routes)
  readings = (explainReadings(table, normalised.path) ?? []).map((r) => ({ how: r.how, path: r.path, route: r.route?.path ?? null }))
  const chosen = chooseRoute(table, policy, normalised.path, args.forwardAuth ? 'forward-auth' : 'proxy')
  if (chosen === UNREADABLE) return stop('bad_path', 'a reading of the path climbs above the root or has a segment of dots only', '400 PCS_BAD_PATH')
  if (chosen === AMBIGUOUS) {
    return stop('ambiguous_path', 'readings of the path select routes of which none is at least as strict as the others', '400 PCS_AMBIGUOUS_PATH')
  }
  const route: RouteConfig | null = chosen
  if (route === null && mode === 'proxy') return stop('no_route', `routes: none covers ${normalised.path}`, '404 Not Found')

  const decision: Decision = decide(policy, route, args.method, identity)
  return {
    ...base,
    readings,
    decision: decision.allow ? 'allow' : 'deny',
    outcome: decision.outcome,
    rule: decision.rule,
    matched: decision.matched,
    answer: args.forwardAuth ? answers[decision.outcome].forwardAuth : answers[decision.outcome].proxy,
    route: route === null ? null : { path: route.path, upstream: route.upstream }
  }
}

/** The human-readable form: a verdict line, then aligned details. */
export function formatExplanation (e: Explanation): string {
  const lines = [`${e.decision.toUpperCase()}  ${e.method} ${e.path}${e.mode === 'forward-auth' ? '  (forward-auth)' : ''}`]
  const row = (label: string, value: string): void => { lines.push(`  ${(label + ':').padEnd(12)}${value}`) }
  row('route', e.route === null ? 'none' : `routes[${e.route.path}] -> ${e.route.upstream}`)
  // Only worth showing when some reading selects another route than the path as forwarded.
  if (e.readings.some((r) => r.route !== e.readings[0]?.route)) {
    for (const r of e.readings) row('reading', `${r.path}  (${r.how}) -> ${r.route === null ? 'no route' : `routes[${r.route}]`}`)
    row('rule', e.outcome === 'ambiguous_path' ? 'readings disagree and no route is the strictest: refused' : 'readings disagree: the strictest route decides')
  }
  if (e.identity === null) {
    row('user', 'not signed in')
  } else {
    const claims = Object.entries(e.identity.claims).map(([k, v]) => `${k}=${v.join('|')}`)
    row('user', `${e.identity.email}; groups: ${e.identity.groups.length === 0 ? 'none' : e.identity.groups.join(', ')}; claims: ${claims.length === 0 ? 'none' : claims.join(', ')}`)
    // Workspace groups come from an API, not the token: say which one and how fresh they are kept.
    if (!e.identity.groupsFrom.startsWith('claim')) row('groups via', `--groups here; at run time ${e.identity.groupsFrom}`)
  }
  row('decided by', e.rule)
  const also = e.matched.filter((m) => m !== e.rule)
  if (also.length > 0) row('also met', also.join('; '))
  row('answer', e.answer)
  return lines.join('\n') + '\n'
}

/**
 * Runs `policy explain` with the arguments after `explain`: prints the explanation to `out` and
 * returns 0 (allow) or 1 (deny); a usage or config problem goes to `err` and returns 2.
 */
export function runExplain (argv: readonly string[], env: NodeJS.ProcessEnv, out: (s: string) => void, err: (s: string) => void): number {
  const parsed = parseExplainArgs(argv)
  if (!parsed.ok) {
    if (parsed.error === null) {
      out(explainUsage)
      return 0
    }
    err(`portcullis policy explain: ${parsed.error}\n\n${explainUsage}`)
    return 2
  }
  const file = parsed.args.config ?? env.PORTCULLIS_CONFIG
  if (file === undefined || file === '') {
    err('portcullis policy explain: no config file: pass --config FILE or set PORTCULLIS_CONFIG\n')
    return 2
  }
  let config: Config
  try {
    config = loadConfigFile(file, env)
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    err(`portcullis: invalid configuration in ${file}:\n${error.problems.map((p) => `  - ${p}\n`).join('')}`)
    return 2
  }
  const result = explain(config, parsed.args)
  out(parsed.args.json ? `${JSON.stringify(result)}\n` : formatExplanation(result))
  return result.decision === 'allow' ? 0 : 1
}

/** `portcullis policy <subcommand>`: only `explain` exists. */
export function runPolicyCommand (argv: readonly string[], env: NodeJS.ProcessEnv, out: (s: string) => void, err: (s: string) => void): number {
  const [sub, ...rest] = argv
  if (sub === 'explain') return runExplain(rest, env, out, err)
  if (sub === '--help' || sub === '-h') {
    out(explainUsage)
    return 0
  }
  err(`portcullis policy: ${sub === undefined ? 'a subcommand is required' : `unknown subcommand "${sub}"`}\n\n${explainUsage}`)
  return 2
}
