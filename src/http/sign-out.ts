import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Config } from '../config/types.js'
import { isGatewayError } from '../errors.js'
import type { Flows } from '../oidc/flows.js'
import type { Audit } from '../observability/audit.js'
import type { SessionEvents } from '../session/events.js'
import type { Sessions } from '../session/sessions.js'
import type { TicketCodec } from '../session/ticket.js'
import { clearCookieOptions } from './cookies.js'
import { currentSession } from './current-session.js'
import { chooseAccountView, endingProviderSessionView, signedOutView, signOutView } from '../render/pages.js'
import { safeRedirect } from './redirect.js'
import { sendError, sendPage, viewContext } from '../render/respond.js'

export interface SignOutOptions {
  readonly config: Config
  readonly sessions: Sessions
  readonly codec: TicketCodec
  readonly flows: Flows
  readonly events: SessionEvents
  readonly now?: () => number
  /** Upper bound on the background revocation. */
  readonly revokeTimeoutMs?: number
  readonly onRevoked?: (revoked: boolean) => void
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

/*
 * Why sign-out ends on a page of our own origin: the sign-out button is a form, and after a form
 * POST Chromium checks the page's `form-action 'self'` against every redirect of the chain. A
 * POST answered with a redirect to `/` and on to the provider is blocked half way (the session is
 * gone, the page still says "signed in"). So the POST ends on a same-origin page: a 303 to
 * `/signed_out`, or, when the browser must go on to the provider (its end-session endpoint, or
 * its account chooser), a page of ours that continues there as a plain navigation.
 */

/**
 * Registers `GET /sign_out` (a page with a button), `POST /sign_out` (the sign-out itself) and
 * `GET /signed_out` (where every sign-out ends).
 */
export function registerSignOut (app: FastifyInstance, options: SignOutOptions): void {
  const { config, sessions, codec, flows, events } = options
  const now = options.now ?? Date.now
  const { authPrefix, publicUrl, allowedRedirectHosts } = config.server
  const cookie = config.session.cookie
  const revokeTimeoutMs = options.revokeTimeoutMs ?? 2000
  const signedOutPath = `${authPrefix}/signed_out`
  const redirectTarget = (raw: unknown): string => safeRedirect(raw, { publicUrl, allowedHosts: allowedRedirectHosts })
  const sessionOf = (request: FastifyRequest): ReturnType<typeof currentSession> =>
    currentSession(request, { cookieName: cookie.name, codec, sessions, now })

  function startUrl (rd: string, switchAccount: boolean): string {
    return `${authPrefix}/start?${new URLSearchParams({ rd, ...(switchAccount ? { prompt: 'select_account' } : {}) }).toString()}`
  }

  function signOutUrl (rd: string, switchAccount: boolean): string {
    return `${authPrefix}/sign_out?${new URLSearchParams({ rd, ...(switchAccount ? { switch: '1' } : {}) }).toString()}`
  }

  app.get(`${authPrefix}/sign_out`, { config: { gateway: true } }, async (request, reply) => {
    const query = request.query as Record<string, unknown>
    const rd = redirectTarget(query.rd)
    const switchAccount = query.switch === '1'
    const current = await sessionOf(request)
    if (current === null) {
      request.portcullis.outcome = 'not_signed_in'
      if (switchAccount) return sendPage(reply, 200, chooseAccountView(viewContext(reply), startUrl(rd, true)))
      return reply.header('cache-control', 'no-store').redirect(`${signedOutPath}?${new URLSearchParams({ rd }).toString()}`, 303)
    }
    return sendPage(reply, 200, signOutView(viewContext(reply), current.record.identity.email, signOutUrl(rd, switchAccount), rd, switchAccount))
  })

  app.post(`${authPrefix}/sign_out`, { config: { gateway: true } }, async (request, reply) => {
    if (!sameOriginRequest(request, publicUrl)) {
      request.portcullis.outcome = 'sign_out_refused'
      return sendError(request, reply, 'PCS_CROSS_SITE', { actions: [{ label: 'Go to the sign-out page', href: `${authPrefix}/sign_out`, primary: true }] })
    }
    const query = request.query as Record<string, unknown>
    const switchAccount = query.switch === '1'
    // "Use another account" from the 403 page comes back to the page that refused the account.
    const rd = redirectTarget(query.rd ?? (switchAccount ? request.headers.referer : undefined))
    let idToken: string | null = null
    const ticket = codec.decode(request.cookies[cookie.name])
    if (ticket !== null) {
      try {
        const record = await sessions.load(ticket)
        await sessions.destroy(ticket)
        await events.publish('ended', sessions.keys(ticket).session)
        options.audit?.record('sign_out', request, { email: record?.identity.email, sessionId: ticket.sid })
        if (record !== null) {
          idToken = record.tokens.idToken
          revokeInBackground(record.tokens.refreshToken, record.tokens.accessToken)
        }
      } catch (err) {
        if (isGatewayError(err)) return sendError(request, reply, err)
        throw err
      }
    }
    reply.clearCookie(cookie.name, clearCookieOptions(cookie))
    request.portcullis.outcome = 'signed_out'
    reply.header('cache-control', 'no-store')
    if (switchAccount) return sendPage(reply, 200, chooseAccountView(viewContext(reply), startUrl(rd, true)))
    const endSession = config.provider.rpInitiatedLogout && idToken !== null
      ? flows.endSessionUrl(idToken, `${publicUrl}${signedOutPath}`, rd)
      : null
    if (endSession !== null) return sendPage(reply, 200, endingProviderSessionView(viewContext(reply), endSession))
    return reply.redirect(`${signedOutPath}?${new URLSearchParams({ rd }).toString()}`, 303)
  })

  app.get(signedOutPath, { config: { gateway: true } }, async (request, reply) => {
    const query = request.query as Record<string, unknown>
    // Back from the provider's end-session endpoint, the landing path comes back as `state`.
    const fromProvider = query.rd === undefined && typeof query.state === 'string'
    const rd = redirectTarget(fromProvider ? query.state : query.rd)
    if (await sessionOf(request) !== null) {
      // Signed in (again) meanwhile: this page would not be true; offer the sign-out instead.
      return reply.header('cache-control', 'no-store').redirect(signOutUrl(rd, false), 303)
    }
    request.portcullis.outcome = 'signed_out_page'
    return sendPage(reply, 200, signedOutView(viewContext(reply), startUrl(rd, false), fromProvider))
  })

  // Revocation may finish just after the response, bounded in time; it never blocks sign-out.
  function revokeInBackground (refreshToken: string | null, accessToken: string): void {
    const revoke = refreshToken !== null ? flows.revoke(refreshToken, 'refresh_token') : flows.revoke(accessToken, 'access_token')
    const bounded = Promise.race([revoke, new Promise<boolean>((resolve) => setTimeout(resolve, revokeTimeoutMs, false).unref())])
    void bounded.then((revoked) => options.onRevoked?.(revoked))
  }
}
