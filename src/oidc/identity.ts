import type { ProviderConfig } from '../config/types.js'
import { gatewayError } from '../errors.js'
import { profileFor } from '../config/profiles/profile.js'
import type { Identity } from '../domain/types.js'

type Claims = Readonly<Record<string, unknown>>

const maxClaimValues = 100

/**
 * Control characters (C0, DEL, C1) and the Unicode line, paragraph and direction controls: a
 * value holding one is dropped, never cleaned, so nothing half-true reaches a rule or a header.
 */
// eslint-disable-next-line no-control-regex
const controls = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/

/**
 * The one normalisation of an identity value: surrounding whitespace trimmed; null when nothing is
 * left or a control character remains. Applied once, here, where the identity is built, so the
 * policy decides on, the headers carry and the assertion signs exactly the same value.
 */
export function identityText (value: unknown): string | null {
  if (typeof value !== 'string') return null
  const text = value.trim()
  return text === '' || controls.test(text) ? null : text
}

/**
 * Builds the session identity from verified id token claims (and, when given, userinfo claims,
 * which may only add to them and must be about the same subject). Refuses an identity the
 * provider does not vouch for: no subject, no verified email, or what the provider's profile
 * refuses (for Google, a hosted domain other than the configured one).
 */
export function identityFromClaims (config: ProviderConfig, keepClaims: ReadonlySet<string>, idClaims: Claims, userinfo?: Claims): Identity {
  const sub = identityText(idClaims.sub)
  if (sub === null || sub !== idClaims.sub) {
    throw gatewayError('PCS_LOGIN_CLAIMS_INVALID', { details: { reason: 'missing sub' } })
  }
  const claims: Record<string, unknown> = { ...(userinfo?.sub === sub ? userinfo : {}), ...idClaims }

  const email = identityText(claims.email)
  if (email === null || !email.includes('@')) {
    throw gatewayError('PCS_LOGIN_CLAIMS_INVALID', { details: { reason: 'missing email' } })
  }
  // Google and most providers send a boolean; a few send the string "true".
  const verified = claims.email_verified === true || claims.email_verified === 'true'
  if (!verified) {
    throw gatewayError('PCS_LOGIN_CLAIMS_INVALID', { details: { reason: 'email not verified' } })
  }

  const hd = identityText(claims.hd)
  const refused = profileFor(config.type).refuseClaims(config, claims)
  if (refused !== null) throw gatewayError('PCS_LOGIN_CLAIMS_INVALID', { details: { reason: refused } })
  // With a Workspace API as the source, the groups are fetched afterwards (groups/resolver.ts).
  const fromClaim = config.groups.source === 'claim'

  return {
    sub,
    email,
    emailVerified: true,
    name: identityText(claims.name),
    preferredUsername: identityText(claims.preferred_username),
    groups: fromClaim ? stringList(claims[config.groupsClaim]) : [],
    groupsFrom: { source: config.groups.source, fetchedAt: null, expiresAt: null, retryAt: null, error: null },
    hd,
    claims: pickClaims(claims, keepClaims)
  }
}

/** A string or a list of strings as a list of normalised values; unusable entries are dropped. */
function stringList (value: unknown): string[] {
  const list = Array.isArray(value) ? value : [value]
  const out: string[] = []
  for (const v of list) {
    const text = identityText(v)
    if (text !== null && !out.includes(text)) out.push(text)
    if (out.length === maxClaimValues) break
  }
  return out
}

/**
 * Keeps only the claims some access rule looks at, and only string or string-array values: the
 * session stays small (it is stored and read on every uncached request) and holds no more
 * personal data than the gateway uses.
 */
function pickClaims (claims: Claims, keep: ReadonlySet<string>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (const name of keep) {
    const value = claims[name]
    if (typeof value === 'string') {
      const text = identityText(value)
      if (text !== null) out[name] = text
    } else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) {
      out[name] = stringList(value)
    }
  }
  return out
}
