import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/types.js'
import { createRateLimiter } from '../limits/rate-limiter.js'
import type { Audit } from '../observability/audit.js'
import { sendError } from '../render/respond.js'

/**
 * Rate-limits sign-in starts and callbacks per client address (through trusted proxies):
 * `server.rate_limit.sign_in` of them per window, together; past that the answer is 429 with
 * `Retry-After` and an audit line `rate_limited`. Registered on the scope of the gateway's own
 * endpoints, before the sign-in routes; every other endpoint of the scope passes untouched.
 */
export function registerSignInLimits (scope: FastifyInstance, options: { config: Config, audit: Audit }): void {
  const { authPrefix, rateLimit } = options.config.server
  if (rateLimit.signIn === 0) return
  const limited = new Set([`${authPrefix}/start`, `${authPrefix}/callback`])
  const limiter = createRateLimiter({ limit: rateLimit.signIn, windowMs: rateLimit.windowMs, maxKeys: rateLimit.maxClients })
  scope.addHook('onRequest', (request, reply, done) => {
    if (request.routeOptions.url === undefined || !limited.has(request.routeOptions.url)) {
      done()
      return
    }
    const decision = limiter.take(options.audit.client(request))
    if (decision.allowed) {
      done()
      return
    }
    request.portcullis.outcome = 'rate_limited'
    options.audit.record('rate_limited', request, { reason: request.routeOptions.url === `${authPrefix}/start` ? 'sign_in_start' : 'sign_in_callback' })
    sendError(request, reply, 'PCS_RATE_LIMITED', { retryAfterSeconds: Math.ceil(decision.retryAfterMs / 1000) })
  })
}
