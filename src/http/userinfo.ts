import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/types.js'
import type { Authenticator } from './authenticate.js'
import { sendError } from '../render/respond.js'

/** Registers `GET /userinfo`: the signed-in user's identity as JSON, or 401. */
export function registerUserinfo (app: FastifyInstance, options: { config: Config, authenticator: Authenticator }): void {
  const { authPrefix, publicUrl } = options.config.server
  app.get(`${authPrefix}/userinfo`, { config: { gateway: true } }, async (request, reply) => {
    // A store or refresh failure rejects: the error handler answers it (503).
    const outcome = await options.authenticator.authenticate(request)
    if (outcome.kind !== 'signed_in') {
      request.portcullis.outcome = 'unauthenticated'
      return sendError(request, reply, 'PCS_UNAUTHENTICATED', { json: { sign_in: `${publicUrl}${authPrefix}/start` } })
    }
    const identity = outcome.record.identity
    request.portcullis.outcome = 'userinfo'
    return reply.header('cache-control', 'no-store').send({
      user: identity.sub,
      email: identity.email,
      preferred_username: identity.preferredUsername,
      groups: identity.groups
    })
  })
}
