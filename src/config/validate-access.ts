/**
 * The parts of the config that decide who reaches what: the global access rule, the routes with
 * their upstreams and per-route rules, and the identity headers sent upstream.
 */
import { DEFAULTS } from './defaults.js'
import { readableFile } from './fields.js'
import { parseDuration } from './duration.js'
import { isHostName, isToken, parseHttpUrl, pathProblem } from './syntax.js'
import { canonicalEmail } from '../domain/email.js'
import type { Path, Problems } from './problems.js'
import type { RawAccessRule, RawConfig } from './schema.js'
import type { AccessRule, IdentityConfig, RouteConfig, ServerConfig } from './types.js'
import type { Base } from './validate.js'

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

/**
 * Headers the gateway or the HTTP layer already owns; an identity header with one of these names
 * would clobber routing, framing or credentials.
 */
const RESERVED_HEADERS = ['host', 'cookie', 'set-cookie', 'authorization', 'connection', 'upgrade', 'content-length',
  'content-type', 'transfer-encoding', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-access-token']

/** The top-level `access` rule; a config that allows nobody explicitly is refused. */
export function buildAccess (raw: RawConfig, problems: Problems): AccessRule {
  const rule = accessRule(raw.access, ['access'], problems)
  if (isEmptyRule(rule)) {
    problems.add(['access'], 'at least one rule is required (emails, email_domains, groups or claims); ' +
      'to allow any verified email, write email_domains: ["*"]')
  }
  return rule
}

function accessRule (raw: RawAccessRule, path: Path, problems: Problems): AccessRule {
  const emails = raw.emails.map((email, i) => {
    // The same check the decision applies: an address it could never match is a config error.
    const canonical = canonicalEmail(email)
    if (canonical === null) problems.add([...path, 'emails', i], 'must be a plain ASCII email address such as alice@example.com')
    return canonical ?? email.toLowerCase()
  })
  const emailDomains = raw.email_domains.map((domain, i) => {
    const value = domain.toLowerCase().replace(/^@/, '')
    if (value !== '*' && !isHostName(value)) problems.add([...path, 'email_domains', i], 'must be a domain such as example.com, or "*" for any verified email')
    return value
  })
  const claims: Record<string, string[]> = {}
  for (const [claim, values] of Object.entries(raw.claims)) claims[claim] = [...values]
  return { emails, emailDomains, groups: [...raw.groups], claims }
}

function isEmptyRule (rule: AccessRule): boolean {
  return rule.emails.length === 0 && rule.emailDomains.length === 0 && rule.groups.length === 0 &&
    Object.values(rule.claims).every(values => values.length === 0)
}

/** The routes, in file order; paths and upstreams are checked and normalised. */
export function buildRoutes (raw: RawConfig, base: Base, server: ServerConfig, problems: Problems): RouteConfig[] {
  const routes = raw.routes
  if (routes.length === 0) problems.add(['routes'], 'at least one route is required')
  const seen = new Map<string, number>()
  return routes.map((route, i) => {
    const path = ['routes', i]
    const reason = pathProblem(route.path)
    if (reason !== null) {
      problems.add([...path, 'path'], reason)
    } else if (seen.has(route.path)) {
      problems.add([...path, 'path'], `duplicates routes[${seen.get(route.path) ?? 0}].path`)
    } else if (route.path === server.authPrefix || route.path.startsWith(`${server.authPrefix}/`)) {
      problems.add([...path, 'path'], `must not be under server.auth_prefix (${server.authPrefix})`)
    }
    if (!seen.has(route.path)) seen.set(route.path, i)

    const isPublic = route.public
    const api = route.api
    if (isPublic && api) problems.add(path, 'public and api cannot both be true')
    if (isPublic && route.allow !== undefined) problems.add(path, 'a public route cannot have allow rules')

    let allow: AccessRule | null = null
    if (route.allow !== undefined) {
      allow = accessRule(route.allow, [...path, 'allow'], problems)
      if (isEmptyRule(allow)) problems.add([...path, 'allow'], 'must name at least one of emails, email_domains, groups or claims')
    }

    let methods: string[] | null = null
    if (route.methods !== undefined) {
      methods = [...new Set(route.methods.map((method, m) => {
        const upper = method.toUpperCase()
        if (!(METHODS as readonly string[]).includes(upper)) problems.add([...path, 'methods', m], `must be one of ${METHODS.join(', ')}`)
        return upper
      }))]
    }

    return {
      ...base.routes[i],
      upstream: upstream(route.upstream, [...path, 'upstream'], problems),
      allow,
      methods,
      // A public route has nobody to authenticate; otherwise the route's own word, else `bearer.enabled`.
      bearer: !isPublic && (route.bearer ?? raw.bearer.enabled)
    }
  })
}

function upstream (value: string, path: Path, problems: Problems): string {
  const url = parseHttpUrl(value)
  if (url === null) {
    problems.add(path, 'must be an http(s) URL')
    return value
  }
  if (/[?#]/.test(value) || url.username !== '' || url.password !== '') {
    problems.add(path, 'must not contain a query, fragment or user info')
  }
  return url.origin + url.pathname.replace(/\/+$/, '')
}

/** The identity headers and the signed assertion sent upstream. */
export function buildIdentity (raw: RawConfig, base: Base, problems: Problems, baseDir: string): IdentityConfig {
  const a = raw.identity.assertion
  const { headers } = base.identity
  const { enabled, header } = a

  const named: Array<[Path, string]> = [
    [['identity', 'headers', 'user'], headers.user],
    [['identity', 'headers', 'email'], headers.email],
    [['identity', 'headers', 'preferred_username'], headers.preferredUsername],
    [['identity', 'headers', 'groups'], headers.groups]
  ]
  if (enabled) named.push([['identity', 'assertion', 'header'], header])
  const taken = new Map<string, Path>()
  for (const [path, name] of named) {
    const lower = name.toLowerCase()
    const earlier = taken.get(lower)
    if (!isToken(name)) problems.add(path, 'must be an HTTP header name')
    else if (RESERVED_HEADERS.includes(lower)) problems.add(path, `must not be a header the gateway already uses (${name})`)
    else if (earlier !== undefined) problems.add(path, `must differ from ${earlier.join('.')}`)
    else taken.set(lower, path)
  }

  if (a.ttl > (parseDuration(DEFAULTS.assertionMaxTtl) as number)) problems.add(['identity', 'assertion', 'ttl'], `must be at most ${DEFAULTS.assertionMaxTtl}`)
  if (a.rotate < (parseDuration(DEFAULTS.assertionMinRotate) as number)) problems.add(['identity', 'assertion', 'rotate'], `must be at least ${DEFAULTS.assertionMinRotate}`)

  const keyFile = a.key_file === undefined ? null : readableFile(a.key_file, baseDir, ['identity', 'assertion', 'key_file'], problems)
  return { ...base.identity, assertion: { ...base.identity.assertion, keyFile } }
}
