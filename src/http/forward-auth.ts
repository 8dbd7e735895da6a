import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Config } from '../config/types.js'
import { isGatewayError } from '../errors.js'
import { decide, type CompiledPolicy } from '../policy/decide.js'
import { normalisePath } from '../proxy/path.js'
import type { RouteTable } from '../proxy/routes.js'
import type { Authenticator } from './authenticate.js'
import { sendError } from './respond.js'

export interface ForwardAuthOptions {
  readonly config: Config
  readonly authenticator: Authenticator
  readonly policy: CompiledPolicy
  readonly routes: RouteTable
  readonly isTrustedProxy: (ip: string) => boolean
}

/** Reads the original request's URI, believed only from a trusted proxy. */
function originalUri (request: FastifyRequest, trusted: boolean): string | null {
  if (!trusted) return null
  const value = request.headers['x-original-uri'] ?? request.headers['x-forwarded-uri']
  return typeof value === 'string' && value !== '' ? value : null
}

/**
 * Registers `GET /auth` for nginx `auth_request` and similar forward-auth callers: 202 with
 * `X-Auth-Request-*` headers when signed in and allowed, 401 when not signed in, 403 when not
 * allowed. The route policy applies to the original URI when a trusted proxy names it.
 * A refresh keeps the same ticket, so the answer never needs a Set-Cookie.
 */
export function registerForwardAuth (app: FastifyInstance, options: ForwardAuthOptions): void {
  const { config, authenticator, policy, routes } = options
  const { authPrefix, publicUrl } = config.server

  app.get(`${authPrefix}/auth`, { config: { gateway: true } }, async (request, reply) => {
    let outcome
    try {
      outcome = await authenticator.authenticate(request)
    } catch (err) {
      if (isGatewayError(err)) return sendError(request, reply, err)
      throw err
    }
    if (outcome.kind !== 'signed_in') {
      request.portcullis.outcome = 'unauthenticated'
      return sendError(request, reply, 'PCS_UNAUTHENTICATED', { json: { sign_in: `${publicUrl}${authPrefix}/start` } })
    }
    const uri = originalUri(request, options.isTrustedProxy(request.socket.remoteAddress ?? ''))
    let route = null
    if (uri !== null) {
      const normalised = normalisePath(uri)
      if (normalised === null) return sendError(request, reply, 'PCS_BAD_PATH')
      route = routes.match(normalised.path)
    }
    const identity = outcome.record.identity
    const method = typeof request.headers['x-original-method'] === 'string' ? request.headers['x-original-method'] : 'GET'
    const decision = decide(policy, identity, route, method)
    request.log.debug({ decision: decision.reason, allow: decision.allow }, 'forward-auth decision')
    if (!decision.allow) {
      request.portcullis.outcome = 'denied'
      return sendError(request, reply, 'PCS_FORBIDDEN')
    }
    request.portcullis.outcome = outcome.refreshed ? 'refreshed' : 'authorized'
    reply.header('x-auth-request-user', identity.sub)
    reply.header('x-auth-request-email', identity.email)
    if (identity.preferredUsername !== null) reply.header('x-auth-request-preferred-username', identity.preferredUsername)
    if (identity.groups.length > 0) reply.header('x-auth-request-groups', identity.groups.join(','))
    if (config.identity.passAccessToken) reply.header('x-auth-request-access-token', outcome.record.tokens.accessToken)
    return reply.code(202).header('cache-control', 'no-store').send()
  })
}
