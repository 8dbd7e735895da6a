import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose'
import type { Config } from '../config/types.js'
import { isGatewayError } from '../errors.js'
import type { Provider } from '../oidc/provider.js'
import { logoutTokenKey } from '../session/keys.js'
import { auditLine, type AuditLogger } from '../observability/audit.js'
import type { Revoker } from '../session/revoke.js'
import type { SessionStore } from '../session/store.js'
import { sendError } from '../render/respond.js'

/*
 * OpenID Connect Back-Channel Logout 1.0: the provider POSTs a signed logout token when a person
 * signs out there (or an administrator ends their provider session), and the gateway ends the
 * sessions it names, on every replica.
 *
 * The token is checked as the specification asks: signature against the provider's JWKS (the
 * `jwks_uri` of discovery), `iss` the configured issuer, `aud` our client id, `iat` within
 * {@link IAT_WINDOW_S}, an `events` claim with the back-channel logout event, no `nonce` (which
 * would make it an ID token), `sub` or `sid` present, `typ` (when given) `logout+jwt`, and `jti`
 * used once across every replica (a marker in the store, set only if absent). The endpoint is a
 * server-to-server call: no cookie, no origin check, no sign-in rate limit applies to it.
 */

export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'
/** How old (or how far in the future) a logout token's `iat` may be. */
export const IAT_WINDOW_S = 300
/** Header `typ` values accepted; the specification recommends `logout+jwt`. */
const TYPES = new Set([undefined, 'logout+jwt', 'application/logout+jwt', 'JWT'])

export interface BackchannelLogoutOptions {
  readonly config: Config
  readonly provider: Provider
  readonly store: SessionStore
  readonly revoker: Revoker
  readonly logger: AuditLogger
  /** The client's address through trusted proxies, for the audit line. */
  readonly clientAddress?: (request: FastifyRequest) => string
}

class BadLogoutToken extends Error {}

function bad (reply: FastifyReply, description: string): FastifyReply {
  return reply.code(400).header('cache-control', 'no-store').send({ error: 'invalid_request', error_description: description })
}

/** Registers `POST {auth_prefix}/backchannel_logout`. */
export function registerBackchannelLogout (app: FastifyInstance, options: BackchannelLogoutOptions): void {
  const { config, provider, store, revoker, logger } = options
  const clientOf = (request: FastifyRequest): string => options.clientAddress?.(request) ?? request.ip
  const jwksByUri = new Map<string, ReturnType<typeof createRemoteJWKSet>>()

  async function verify (token: string): Promise<JWTPayload> {
    const metadata = (await provider.configuration()).serverMetadata()
    const uri = metadata.jwks_uri
    if (uri === undefined) throw new BadLogoutToken('the provider publishes no jwks_uri')
    let jwks = jwksByUri.get(uri)
    if (jwks === undefined) jwksByUri.set(uri, jwks = createRemoteJWKSet(new URL(uri), { timeoutDuration: config.provider.timeoutMs }))
    let verified
    try {
      verified = await jwtVerify(token, jwks, {
        issuer: metadata.issuer,
        audience: config.provider.clientId,
        maxTokenAge: IAT_WINDOW_S,
        clockTolerance: 60,
        requiredClaims: ['iat', 'jti']
      })
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) throw new BadLogoutToken(`the logout token is not valid: ${err.code}`)
      throw err
    }
    const { payload, protectedHeader } = verified
    if (!TYPES.has(protectedHeader.typ)) throw new BadLogoutToken('the logout token has the wrong typ')
    const events = payload.events as Record<string, unknown> | undefined
    if (typeof events !== 'object' || events === null || typeof events[BACKCHANNEL_LOGOUT_EVENT] !== 'object') {
      throw new BadLogoutToken('the logout token has no back-channel logout event')
    }
    if ('nonce' in payload) throw new BadLogoutToken('a logout token must not carry a nonce')
    if (typeof payload.sub !== 'string' && typeof payload.sid !== 'string') throw new BadLogoutToken('the logout token names neither sub nor sid')
    if (typeof payload.jti !== 'string' || payload.jti === '') throw new BadLogoutToken('the logout token has no jti')
    return payload
  }

  app.post(`${config.server.authPrefix}/backchannel_logout`, { config: { gateway: true } }, async (request, reply) => {
    const body = typeof request.body === 'string' ? new URLSearchParams(request.body) : null
    const token = body?.getAll('logout_token') ?? []
    const refused = (reason: string): FastifyReply => {
      request.portcullis.outcome = 'backchannel_logout_refused'
      auditLine(logger, 'backchannel_logout', { outcome: 'refused', client: clientOf(request), userAgent: request.headers['user-agent'], reason })
      return bad(reply, reason)
    }
    if (token.length !== 1 || token[0] === '' || token[0]!.length > 16_384) return refused('exactly one logout_token form field is required')
    try {
      const payload = await verify(token[0]!)
      const ttlMs = (IAT_WINDOW_S + 120) * 2 * 1000
      if (!await store.setIfAbsent(logoutTokenKey(config.redis.keyPrefix, `${payload.iss}\0${payload.jti}`), Buffer.from('1'), ttlMs)) {
        return refused('the logout token was already used')
      }
      const sid = typeof payload.sid === 'string' ? payload.sid : undefined
      const sub = typeof payload.sub === 'string' ? payload.sub : undefined
      await revoker.revoke(sid !== undefined ? { providerSid: sid, ...(sub === undefined ? {} : { sub }) } : { sub: sub! },
        { by: 'backchannel_logout', reason: sid !== undefined ? 'provider_session_ended' : 'provider_subject_logged_out', client: clientOf(request), userAgent: request.headers['user-agent'] ?? null },
        'backchannel_logout')
      request.portcullis.outcome = 'backchannel_logout'
      return reply.code(200).header('cache-control', 'no-store').send('')
    } catch (err) {
      if (err instanceof BadLogoutToken) return refused(err.message)
      if (isGatewayError(err)) return sendError(request, reply, err, { retryAfterSeconds: 5 })
      throw err
    }
  })
}
