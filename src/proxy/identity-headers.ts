/**
 * The one place that decides what identity reaches an upstream. Every client-sent copy of a
 * header the gateway vouches for is removed first, whatever its case or `_`/`-` spelling (many
 * servers treat `X_Forwarded_User` as `X-Forwarded-User`), then the gateway sets its own values
 * from the session. The gateway's own cookies are removed from `Cookie` so an upstream never sees
 * the session ticket. In the same pass, headers an upstream would take as the gateway's word about
 * the request (method overrides, rewritten URLs, the client's address, a remote user) are removed
 * unless a trusted proxy sent them, and `X-Forwarded-*`/`Forwarded` copies in any spelling are
 * removed for the proxy to set its own.
 */

import type { IdentityConfig } from '../config/types.js'
import type { Identity } from '../domain/types.js'
import { connectionListed, hopByHop } from './hop-by-hop.js'
import { BoundedMap } from '../util/bounded-map.js'

export type IncomingHeaders = Readonly<Record<string, string | string[] | undefined>>
export type OutgoingHeaders = Record<string, string | string[]>

export interface IdentityContext {
  /** The signed-in user, or null (public route, or nobody signed in). */
  readonly identity: Identity | null
  /** Whether the request came from a trusted proxy (its request-describing headers are kept). */
  readonly fromTrustedProxy?: boolean
  /** The current access token; sent only when `pass_access_token` is on. */
  readonly accessToken?: string | null
  /** The id token; sent as `Authorization: Bearer` only when `pass_id_token` is on. */
  readonly idToken?: string | null
  /** The signed assertion JWT, sent in the configured assertion header. */
  readonly assertion?: string | null
}

export interface IdentityHeaders {
  /** Whether a header name is reserved for the gateway (never passed from the client). */
  isReserved (name: string): boolean
  /**
   * A copy of the headers without reserved headers, without the gateway's cookies and without
   * hop-by-hop headers (those of RFC 9110 7.6.1 and any the `Connection` header lists).
   */
  strip (headers: IncomingHeaders, fromTrustedProxy?: boolean): OutgoingHeaders
  /** {@link IdentityHeaders.strip}, then the identity headers set from the context. */
  apply (headers: IncomingHeaders, ctx: IdentityContext): OutgoingHeaders
}

/** Headers other gateways use for identity; reserved even when renamed here, so none is spoofed. */
const DEFAULT_RESERVED = [
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-groups',
  'x-forwarded-preferred-username',
  'x-forwarded-access-token',
  'x-portcullis-assertion'
]

const RESERVED_PREFIX = 'x-auth-request-'

/**
 * Headers upstreams read as facts about the request (its real URL or method, the client's
 * address, an authenticated user): believed only from a trusted proxy, removed from anyone else.
 */
const PROXY_ONLY = new Set([
  'x-original-url',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-real-ip',
  'true-client-ip',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'remote-user',
  'x-remote-user'
])

/** Set by the proxy itself after this pass (proxy.ts); every client spelling is removed. */
const PROXY_SET = new Set(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'forwarded'])
const ACCESS_TOKEN_HEADER = 'x-forwarded-access-token'

/**
 * Characters Node refuses in a header value, plus every other control: a value holding one is
 * dropped rather than cleaned, so nothing can be injected and nothing half-true is sent.
 */
// eslint-disable-next-line no-control-regex
const unsafeValue = /[\u0000-\u0008\u000a-\u001f\u007f]|[^\u0000-\u00ff]/

/** The form names are compared in: lower case, `_` as `-`. */
function canonicalName (name: string): string {
  return name.toLowerCase().replaceAll('_', '-')
}

/**
 * Creates the identity-header policy for a config. `cookieNames` are the gateway's own cookies
 * (session and login), removed from the `Cookie` header sent upstream. `Authorization` is
 * reserved only when `pass_id_token` is on; otherwise the client's own passes through.
 */
export function createIdentityHeaders (config: IdentityConfig, options: { cookieNames: readonly string[], ownCookie?: (name: string) => boolean }): IdentityHeaders {
  const names = {
    user: config.headers.user.toLowerCase(),
    email: config.headers.email.toLowerCase(),
    preferredUsername: config.headers.preferredUsername.toLowerCase(),
    groups: config.headers.groups.toLowerCase(),
    assertion: config.assertion.header.toLowerCase()
  }
  const reserved = new Set([...DEFAULT_RESERVED, ...Object.values(names)].map(canonicalName))
  if (config.passIdToken) reserved.add('authorization')
  const cookieNames = new Set(options.cookieNames)
  // The gateway's cookies by name, and by pattern (one binding cookie per pending sign-in).
  const ownCookie = options.ownCookie ?? ((): boolean => false)
  const isOwn = (name: string): boolean => cookieNames.has(name) || ownCookie(name)

  // Header names repeat from request to request: each is classified once (bounded memo).
  const KEEP = 0
  const RESERVED = 1
  const COOKIE = 2
  const HOP = 3
  const PROXY = 4
  const PROXY_SETS = 5
  const seen = new BoundedMap<string, number>(1024)
  function kindOf (name: string): number {
    const known = seen.get(name)
    if (known !== undefined) return known
    const canonical = canonicalName(name)
    const kind = hopByHop.has(name.toLowerCase())
      ? HOP
      : reserved.has(canonical) || canonical.startsWith(RESERVED_PREFIX)
        ? RESERVED
        : canonical === 'cookie' ? COOKIE : PROXY_ONLY.has(canonical) ? PROXY : PROXY_SET.has(canonical) ? PROXY_SETS : KEEP
    seen.set(name, kind)
    return kind
  }
  const isReserved = (name: string): boolean => kindOf(name) === RESERVED

  function strip (headers: IncomingHeaders, fromTrustedProxy = false): OutgoingHeaders {
    const out: OutgoingHeaders = {}
    // `Connection: keep-alive` (or `close`) lists nothing else; anything more is dropped too.
    const listed = connectionListed(headers.connection)
    for (const name of Object.keys(headers)) {
      const value = headers[name]
      if (value === undefined) continue
      const kind = kindOf(name)
      if (kind === KEEP || (kind === PROXY && fromTrustedProxy)) {
        if (listed === null || !listed.includes(name.toLowerCase())) out[name] = value
      } else if (kind === COOKIE) {
        const kept = stripCookies(value, isOwn)
        if (kept !== undefined) out[name] = kept
      }
    }
    return out
  }

  const identityHeaderLists = new WeakMap<Identity, ReadonlyArray<readonly [string, string]>>()
  function headersOf (identity: Identity): ReadonlyArray<readonly [string, string]> {
    let list = identityHeaderLists.get(identity)
    if (list === undefined) {
      const values = identityValues(identity)
      const pairs: Array<readonly [string, string]> = []
      if (values.user !== null) pairs.push([names.user, values.user])
      if (values.email !== null) pairs.push([names.email, values.email])
      if (values.preferredUsername !== null) pairs.push([names.preferredUsername, values.preferredUsername])
      if (values.groups !== null) pairs.push([names.groups, values.groups])
      list = pairs
      identityHeaderLists.set(identity, list)
    }
    return list
  }

  const safeAssertions = new BoundedMap<string, true>(1024)

  function apply (headers: IncomingHeaders, ctx: IdentityContext): OutgoingHeaders {
    const out = strip(headers, ctx.fromTrustedProxy === true)
    const set = (name: string, value: string | null | undefined): void => {
      if (value === null || value === undefined || !safeHeaderValue(value)) return
      out[name] = value
    }
    const identity = ctx.identity
    if (identity !== null) {
      for (const [name, value] of headersOf(identity)) out[name] = value
    }
    if (config.passAccessToken) set(ACCESS_TOKEN_HEADER, ctx.accessToken)
    // set() drops the whole value when the token holds a forbidden character.
    if (config.passIdToken && typeof ctx.idToken === 'string' && ctx.idToken !== '') {
      set('authorization', 'Bearer ' + ctx.idToken)
    }
    const assertion = ctx.assertion
    if (assertion !== null && assertion !== undefined && assertion !== '') {
      // The same assertion is sent with many requests (the signer reuses it): checked once.
      if (safeAssertions.has(assertion)) out[names.assertion] = assertion
      else if (!unsafeValue.test(assertion)) {
        safeAssertions.set(assertion, true)
        out[names.assertion] = assertion
      }
    }
    return out
  }

  return { isReserved, strip, apply }
}

/** Whether a value may be sent in a header as it is: not empty, no control character, Latin-1 only. */
export function safeHeaderValue (value: string): boolean {
  return value !== '' && !unsafeValue.test(value)
}

/** An identity's header values, each null when absent or unsafe to send. */
export interface IdentityValues {
  readonly user: string | null
  readonly email: string | null
  readonly preferredUsername: string | null
  /** Comma-separated. */
  readonly groups: string | null
}

// Checked once per identity object: the session cache hands the same object to every request of
// a session and never changes it (a refresh brings a new one).
const checkedValues = new WeakMap<Identity, IdentityValues>()

/**
 * The values of an identity the headers carry, checked once per identity: the proxy's identity
 * headers and forward-auth's `X-Auth-Request-*` headers are both written from these, so the two
 * modes never disagree about what a user is called.
 */
export function identityValues (identity: Identity): IdentityValues {
  let values = checkedValues.get(identity)
  if (values === undefined) {
    const checked = (value: string | null): string | null => value !== null && safeHeaderValue(value) ? value : null
    values = {
      user: checked(identity.sub),
      email: checked(identity.email),
      preferredUsername: checked(identity.preferredUsername),
      groups: joinGroups(identity.groups)
    }
    checkedValues.set(identity, values)
  }
  return values
}

const authRequestHeaderSets = new WeakMap<Identity, Readonly<Record<string, string>>>()

/**
 * Forward-auth's answer headers for an identity (`X-Auth-Request-User`, `-Email`,
 * `-Preferred-Username`, `-Groups`), from {@link identityValues}; built once per identity.
 */
export function authRequestHeaders (identity: Identity): Readonly<Record<string, string>> {
  let headers = authRequestHeaderSets.get(identity)
  if (headers === undefined) {
    const values = identityValues(identity)
    const out: Record<string, string> = {}
    if (values.user !== null) out['x-auth-request-user'] = values.user
    if (values.email !== null) out['x-auth-request-email'] = values.email
    if (values.preferredUsername !== null) out['x-auth-request-preferred-username'] = values.preferredUsername
    if (values.groups !== null) out['x-auth-request-groups'] = values.groups
    headers = out
    authRequestHeaderSets.set(identity, headers)
  }
  return headers
}

/**
 * The groups as one comma-separated value. A group whose name holds a comma is left out: sent as
 * is, `staff,admins` would read as membership of `admins`.
 */
function joinGroups (groups: readonly string[]): string | null {
  const safe = groups.filter(g => g !== '' && !g.includes(',') && !unsafeValue.test(g))
  return safe.length === 0 ? null : safe.join(',')
}

/**
 * Removes the named cookies from one or more `Cookie` header values. Other cookies are kept
 * exactly as sent and in order, joined with `; `; the header is dropped when nothing is left.
 * Names compare exactly (cookie names are case-sensitive), after trimming the whitespace around
 * them that servers ignore.
 */
function stripCookies (value: string | string[], isOwn: (name: string) => boolean): string | string[] | undefined {
  const strip1 = (header: string): string | undefined => {
    const kept = header.split(';')
      .map(pair => pair.trim())
      .filter(pair => pair !== '' && !isOwn(cookieName(pair)))
    return kept.length === 0 ? undefined : kept.join('; ')
  }
  if (typeof value === 'string') return strip1(value)
  const kept = value.map(strip1).filter((v): v is string => v !== undefined)
  return kept.length === 0 ? undefined : kept
}

function cookieName (pair: string): string {
  const eq = pair.indexOf('=')
  return (eq === -1 ? pair : pair.slice(0, eq)).trim()
}
