/**
 * Bearer ID tokens for machine callers: on a route with `bearer: true` (or `bearer.enabled`),
 * `Authorization: Bearer <ID token>` authenticates the request instead of a session cookie. No
 * session is created, no cookie set, nothing stored: each request carries its own proof.
 *
 * What a token must pass, in this order (the first failure is the reason the 401 gives):
 * - the header is a compact JWS whose `alg` is in `bearer.algorithms` (asymmetric only: `none`
 *   and HMAC are never accepted, so a public key can never be used as an HMAC secret);
 * - the signature verifies with a key of the issuer's JWKS (from discovery), chosen by `kid`;
 *   the set is cached (10 minutes), fetched again for an unknown `kid` at most once per 5 s (a
 *   flood of made-up kids cannot turn into a flood of JWKS requests, and a rotated key is picked
 *   up within seconds);
 * - `iss` is the configured issuer (or one of the profile's aliases: Google signs with both
 *   `https://accounts.google.com` and `accounts.google.com`), `aud` one of `bearer.audiences`;
 * - `exp`, `nbf` and `iat` hold within `bearer.clock_skew`, and the token is at most a day old;
 * - `email` is present and `email_verified` is true; an address of the hosted domain must carry
 *   that `hd` (a service account's address has no hosted domain and is left to the rules).
 * Then the same access rules decide as for a signed-in person.
 */
import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import type { Config } from '../config/types.js'
import { isGatewayError } from '../errors.js'
import type { GroupsResolver } from '../groups/resolver.js'
import type { Logger } from '../observability/logger.js'
import { identityFromClaims } from '../oidc/identity.js'
import { profileFor } from '../config/profiles/profile.js'
import type { Provider } from '../oidc/provider.js'
import type { Ticket } from '../session/ticket.js'
import type { Identity, SessionRecord } from '../domain/types.js'
import { sendError } from '../render/respond.js'

/** What a bearer token on an opted-in route comes to. */
export type BearerResult =
  | { readonly ok: true, readonly ticket: Ticket, readonly record: SessionRecord }
  | { readonly ok: false, readonly description: string }

export interface BearerVerifier {
  /** The token of `Authorization: Bearer`, or null when there is none or the route has not opted in. */
  tokenOf (request: FastifyRequest): string | null
  verify (token: string): Promise<BearerResult>
}

export interface BearerOptions {
  readonly config: Config
  readonly provider: Provider
  readonly logger: Logger
  /** Workspace groups for the token's subject (admin_directory only: it needs no user token). */
  readonly groups?: GroupsResolver | null
  /** Claim names some access rule uses. */
  readonly keepClaims: ReadonlySet<string>
  readonly now?: () => number
}

const bearerPattern = /^Bearer[ ]+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)[ ]*$/i
/** Longest token considered (a Google ID token is about 1 KB). */
const maxTokenLength = 8192
/** Least time between two JWKS fetches caused by unknown kids. */
export const jwksCooldownMs = 5000
/** Bound on the per-email groups cache of bearer callers. */
const maxCachedGroups = 10_000

export function createBearerVerifier (options: BearerOptions): BearerVerifier {
  const { config, provider, logger } = options
  const now = options.now ?? Date.now
  const { bearer } = config
  const providerConfig = config.provider
  const issuers = [providerConfig.issuer, ...profileFor(providerConfig.type).issuerAliases(providerConfig)]
  const skewSeconds = Math.ceil(bearer.clockSkewMs / 1000)
  let jwks: ReturnType<typeof createRemoteJWKSet> | null = null
  // Groups fetched for bearer callers, per email, believed for groups.max_age like a session's.
  const groupsCache = new Map<string, Identity>()

  async function keySet (): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (jwks !== null) return jwks
    const configuration = await provider.configuration()
    const uri = configuration.serverMetadata().jwks_uri
    if (typeof uri !== 'string') throw new Error('the provider publishes no jwks_uri')
    jwks = createRemoteJWKSet(new URL(uri), { cooldownDuration: jwksCooldownMs, cacheMaxAge: 600_000, timeoutDuration: providerConfig.timeoutMs })
    return jwks
  }

  async function withGroups (identity: Identity): Promise<Identity> {
    const groups = options.groups ?? null
    if (groups === null || providerConfig.groups.source !== 'admin_directory') return identity
    const cached = groupsCache.get(identity.email)
    const expiresAt = cached?.groupsFrom?.expiresAt ?? null
    if (cached !== undefined && expiresAt !== null && now() < (cached.groupsFrom?.retryAt ?? expiresAt)) {
      return { ...identity, groups: cached.groups, groupsFrom: cached.groupsFrom as NonNullable<Identity['groupsFrom']> }
    }
    const resolved = await groups.resolve(identity, '', cached ?? null)
    if (groupsCache.size >= maxCachedGroups) groupsCache.delete(groupsCache.keys().next().value as string)
    groupsCache.set(identity.email, resolved)
    return resolved
  }

  return {
    tokenOf (request) {
      if (request.portcullis.route?.bearer !== true) return null
      const header = request.headers.authorization
      if (typeof header !== 'string' || !/^bearer /i.test(header)) return null
      return header
    },

    async verify (header) {
      const match = header.length <= maxTokenLength + 7 ? bearerPattern.exec(header) : null
      if (match === null) return { ok: false, description: 'the bearer token is not a JWT' }
      const token = match[1] as string
      let payload: JWTPayload
      try {
        ({ payload } = await jwtVerify(token, await keySet(), {
          algorithms: [...bearer.algorithms],
          issuer: issuers,
          audience: [...bearer.audiences],
          clockTolerance: skewSeconds,
          maxTokenAge: '24h',
          requiredClaims: ['exp', 'iat', 'sub'],
          currentDate: new Date(now())
        }))
      } catch (err) {
        if (isGatewayError(err)) throw err
        return { ok: false, description: describe(err) }
      }
      if (typeof payload.email !== 'string' || payload.email === '') return { ok: false, description: 'the token has no email' }
      if (payload.email_verified !== true && payload.email_verified !== 'true') return { ok: false, description: 'the token\'s email is not verified' }
      // The hosted domain vouches for addresses of that domain only; a service account has none.
      const hostedDomain = providerConfig.hostedDomain
      const ofHostedDomain = hostedDomain !== null && payload.email.toLowerCase().endsWith(`@${hostedDomain}`)
      let identity: Identity
      try {
        identity = identityFromClaims(ofHostedDomain ? providerConfig : { ...providerConfig, hostedDomain: null }, options.keepClaims, payload)
      } catch (err) {
        const reason = isGatewayError(err) ? String(err.details?.reason ?? err.message) : 'claims refused'
        return { ok: false, description: `the token's claims are refused (${reason})` }
      }
      identity = await withGroups(identity)
      const exp = (payload.exp as number) * 1000
      // A stand-in ticket, never stored and never sent as a cookie: its id only keys the assertion cache.
      const sid = `bearer.${createHash('sha256').update(token).digest('base64url').slice(0, 22)}`
      const record: SessionRecord = {
        v: 1,
        identity,
        tokens: { accessToken: '', refreshToken: null, idToken: token, accessTokenExpiresAt: exp },
        createdAt: (payload.iat as number) * 1000,
        expiresAt: exp,
        generation: 0,
        refreshedAt: now(),
        bearer: true
      }
      logger.debug({ sub: identity.sub }, 'bearer token accepted')
      return { ok: true, ticket: { sid, key: Buffer.alloc(0) }, record }
    }
  }
}

/** A short, safe reason from a jose error (never the token or a key). */
function describe (err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'the token has expired'
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'the token is not valid yet'
    if (err.claim === 'iat') return 'the token\'s iat is in the future or too old'
    if (err.claim === 'iss') return 'the token\'s issuer is not accepted'
    if (err.claim === 'aud') return 'the token\'s audience is not accepted'
    return `the token's ${err.claim} claim is invalid`
  }
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'the token\'s algorithm is not accepted'
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key of the issuer matches the token\'s kid'
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'the token\'s signature does not verify'
  if (err instanceof joseErrors.JWKSTimeout || err instanceof joseErrors.JWKSInvalid) return 'the issuer\'s keys cannot be fetched'
  if (err instanceof joseErrors.JOSEError) return 'the token is malformed'
  return 'the token cannot be verified'
}

/**
 * The 401 for a refused bearer token (RFC 6750): JSON, with
 * `WWW-Authenticate: Bearer error="invalid_token", error_description="..."`.
 */
export function sendBearerRefused (request: FastifyRequest, reply: FastifyReply, description: string): FastifyReply {
  request.portcullis.outcome = 'bearer_refused'
  reply.header('www-authenticate', `Bearer error="invalid_token", error_description="${description.replace(/["\\]/g, '')}"`)
  return sendError(request, reply, 'PCS_BEARER_INVALID', { json: { error_description: description } })
}
