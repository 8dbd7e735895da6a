import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Config } from '../config/types.js'
import type { Flows } from '../oidc/flows.js'
import type { SessionEvents } from '../session/events.js'
import type { Sessions } from '../session/sessions.js'
import type { TicketCodec } from '../session/ticket.js'
import { clearCookieOptions } from './cookies.js'
import { signOutPage } from '../render/pages.js'
import { safeRedirect } from './redirect.js'
import { sendError, sendPage } from '../render/respond.js'
import type { Audit } from '../observability/audit.js'

export interface SignOutOptions {
  readonly config: Config
  readonly sessions: Sessions
  readonly codec: TicketCodec
  readonly flows: Flows
  readonly events: SessionEvents
  /** Upper bound on the background revocation. */
  readonly revokeTimeoutMs?: number
  /** Writes the audit line `sign_out`. */
  readonly audit?: Audit
}

/**
 * True when the request comes from our own origin, or says nothing about where it comes from.
 * Browsers send `Origin` on every cross-site POST; together with SameSite cookies this refuses a
 * sign-out forced by another site.
 */
export function sameOriginRequest (request: FastifyRequest, publicUrl: string): boolean {
  const origin = request.headers.origin
  if (typeof origin === 'string' && origin !== '') return origin === publicUrl
  const referer = request.headers.referer
  if (typeof referer === 'string' && referer !== '') {
    try {
      return new URL(referer).origin === publicUrl
    } catch {
      return false
    }
  }
  return true
}

/** Registers `GET` (a page with a button) and `POST` (the sign-out itself) of `/sign_out`. */
export function registerSignOut (app: FastifyInstance, options: SignOutOptions): void {
  const { config, sessions, codec, flows, events } = options
  const { authPrefix, publicUrl, allowedRedirectHosts } = config.server
  const cookie = config.session.cookie
  const revokeTimeoutMs = options.revokeTimeoutMs ?? 2000

  app.get(`${authPrefix}/sign_out`, { config: { gateway: true } }, async (request, reply) => {
    const rd = safeRedirect((request.query as Record<string, unknown>).rd, { publicUrl, allowedHosts: allowedRedirectHosts })
    const ticket = codec.decode(request.cookies[cookie.name])
    let email: string | null = null
    if (ticket !== null) {
      try {
        email = (await sessions.load(ticket))?.identity.email ?? null
      } catch {
        email = null
      }
    }
    return sendPage(reply, 200, signOutPage(`${authPrefix}/sign_out?rd=${encodeURIComponent(rd)}`, email))
  })

  app.post(`${authPrefix}/sign_out`, { config: { gateway: true } }, async (request, reply) => {
    if (!sameOriginRequest(request, publicUrl)) {
      request.portcullis.outcome = 'sign_out_refused'
      return sendError(request, reply, 'PCS_CROSS_SITE')
    }
    const rd = safeRedirect((request.query as Record<string, unknown>).rd, { publicUrl, allowedHosts: allowedRedirectHosts })
    const ticket = codec.decode(request.cookies[cookie.name])
    if (ticket !== null) {
      // A store failure rejects: the error handler answers it (503), and the cookie stays.
      const record = await sessions.load(ticket)
      await sessions.destroy(ticket)
      await events.publish('ended', sessions.keys(ticket).session)
      options.audit?.record('sign_out', request, { email: record?.identity.email, sessionId: ticket.sid })
      if (record !== null) {
        const { refreshToken, accessToken } = record.tokens
        // Revocation may finish just after the response, bounded in time; it never blocks sign-out.
        const revoke = refreshToken !== null ? flows.revoke(refreshToken, 'refresh_token') : flows.revoke(accessToken, 'access_token')
        void Promise.race([revoke, new Promise<boolean>((resolve) => setTimeout(resolve, revokeTimeoutMs, false).unref())])
      }
    }
    reply.clearCookie(cookie.name, clearCookieOptions(cookie))
    request.portcullis.outcome = 'signed_out'
    return reply.header('cache-control', 'no-store').redirect(rd, 303)
  })
}
