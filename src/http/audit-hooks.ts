import type { FastifyInstance } from 'fastify'
import type { Audit } from '../observability/audit.js'
import type { TicketCodec } from '../session/ticket.js'
import type { Authenticator } from './authenticate.js'
import { errorHeader } from '../render/respond.js'

/**
 * The audit lines of authentication, written where its outcome is known rather than in every
 * caller (the proxy gate, forward-auth, userinfo): a session cookie that fails verification
 * (`bad_ticket`) and a session a failed refresh ended (`session_ended`). Everything else passes
 * through as it is; the cached path is not touched.
 */
export function auditAuthenticator (authenticator: Authenticator, audit: Audit, options: { codec: TicketCodec, cookieName: string }): Authenticator {
  return {
    authenticateCached: authenticator.authenticateCached,
    async authenticate (request) {
      const outcome = await authenticator.authenticate(request)
      if (outcome.kind === 'anonymous' && outcome.reason === 'bad_cookie') {
        audit.record('bad_ticket', request, { reason: 'bad_cookie' })
      } else if (outcome.kind === 'anonymous' && outcome.reason.startsWith('refresh_')) {
        const ticket = options.codec.decode(request.cookies[options.cookieName])
        audit.record('session_ended', request, { sessionId: ticket?.sid, reason: outcome.reason })
      }
      return outcome
    }
  }
}

/**
 * Writes the audit line `forbidden` for every 403 decision the gateway answers (the proxy gate
 * and forward-auth alike), read from the error code of the response: one header read per request.
 */
export function registerForbiddenAudit (app: FastifyInstance, audit: Audit): void {
  app.addHook('onResponse', (request, reply, done) => {
    if (reply.statusCode === 403 && reply.getHeader(errorHeader) === 'PCS_FORBIDDEN') {
      const record = request.portcullis?.session?.record
      audit.record('forbidden', request, { email: record?.identity.email, sessionId: request.portcullis?.session?.ticket.sid, reason: request.portcullis?.outcome ?? 'denied' })
    }
    done()
  })
}
