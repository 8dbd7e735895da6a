import type { ProviderConfig } from '../config/types.js'
import { gatewayError } from '../errors.js'
import { profileFor } from './profiles/profile.js'
import type { Identity } from '../session/types.js'

type Claims = Readonly<Record<string, unknown>>

const maxClaimValues = 100

/**
 * Builds the session identity from verified id token claims (and, when given, userinfo claims,
 * which may only add to them and must be about the same subject). Refuses an identity the
 * provider does not vouch for: no subject, no verified email, or what the provider's profile
 * refuses (for Google, a hosted domain other than the configured one).
 */
export function identityFromClaims (config: ProviderConfig, keepClaims: ReadonlySet<string>, idClaims: Claims, userinfo?: Claims): Identity {
  const sub = idClaims.sub
  if (typeof sub !== 'string' || sub === '') {
    throw gatewayError('PCS_LOGIN_CLAIMS_INVALID', { details: { reason: 'missing sub' } })
  }
  const claims: Record<string, unknown> = { ...(userinfo?.sub === sub ? userinfo : {}), ...idClaims }

  const email = claims.email
  if (typeof email !== 'string' || email === '' || !email.includes('@')) {
    throw gatewayError('PCS_LOGIN_CLAIMS_INVALID', { details: { reason: 'missing email' } })
  }
  // Google and most providers send a boolean; a few send the string "true".
  const verified = claims.email_verified === true || claims.email_verified === 'true'
  if (!verified) {
    throw gatewayError('PCS_LOGIN_CLAIMS_INVALID', { details: { reason: 'email not verified' } })
  }

  const hd = typeof claims.hd === 'string' ? claims.hd : null
  const refused = profileFor(config.type).refuseClaims(config, claims)
  if (refused !== null) throw gatewayError('PCS_LOGIN_CLAIMS_INVALID', { details: { reason: refused } })
  // With a Workspace API as the source, the groups are fetched afterwards (groups/resolver.ts).
  const fromClaim = config.groups.source === 'claim'

  return {
    sub,
    email,
    emailVerified: true,
    name: stringOrNull(claims.name),
    preferredUsername: stringOrNull(claims.preferred_username),
    groups: fromClaim ? stringList(claims[config.groupsClaim]) : [],
    groupsFrom: { source: config.groups.source, fetchedAt: null, expiresAt: null, retryAt: null, error: null },
    hd,
    claims: pickClaims(claims, keepClaims)
  }
}

function stringOrNull (value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null
}

function stringList (value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value]
  if (!Array.isArray(value)) return []
  return value.filter((v): v is string => typeof v === 'string' && v !== '').slice(0, maxClaimValues)
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
    if (typeof value === 'string') out[name] = value
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string')) out[name] = value.slice(0, maxClaimValues) as string[]
  }
  return out
}
