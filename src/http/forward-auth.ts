import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/types.js'
import { isGatewayError } from '../errors.js'
import { debugEnabled } from '../observability/request-logger.js'
import type { CompiledPolicy } from '../policy/decide.js'
import { authRequestHeaders, safeHeaderValue } from '../proxy/identity-headers.js'
import type { RouteTable } from '../policy/routes.js'
import type { TicketCodec } from '../session/ticket.js'
import { createAdmission, type IdentifyVerdict, type IdentityVerdict } from './admission.js'
import type { AuthOutcome, Authenticator } from './authenticate.js'
import { sendBearerRefused } from './bearer.js'
import { clearCookieOptions, cookieOptions } from './cookies.js'
import { CONFLICT, originalRequest, type OriginalRequest } from './original-request.js'
import { forbiddenPage } from '../render/pages.js'
import { safeRedirect } from './redirect.js'
import { sendError, sendPage, wantsHtml } from '../render/respond.js'

export interface ForwardAuthOptions {
  readonly config: Config
  readonly authenticator: Authenticator
  readonly policy: CompiledPolicy
  readonly routes: RouteTable
  readonly codec: TicketCodec
  readonly isTrustedProxy: (ip: string) => boolean
  readonly now?: () => number
}

/** Header of a 401 carrying where to send the browser to sign in (nginx reads it with `auth_request_set`). */
export const signInHeader = 'x-auth-request-sign-in'

/**
 * Registers `GET /auth` for nginx `auth_request`, Traefik ForwardAuth and Caddy `forward_auth`.
 *
 * Answers: 202 with `X-Auth-Request-User`, `-Email`, `-Preferred-Username`, `-Groups` (and
 * `-Access-Token` when `pass_access_token` is on) when signed in and allowed, or when the original
 * URI is on a public route (then without identity); 401 when not signed in, with
 * `X-Auth-Request-Sign-In` naming the sign-in URL that comes back to the original request; 403
 * when signed in but not allowed (or the route refuses the method); 400 when the original request
 * is named twice or its path cannot be read safely. With `?mode=redirect`, a browser navigation
 * that is not signed in gets a 302 to that sign-in URL instead of the 401, which is what Traefik
 * and Caddy hand back to the browser.
 *
 * The original request comes from the configured `forward_auth.uri_header`/`method_header`, and
 * only when the caller is a trusted proxy (`original-request.ts`); otherwise only the global
 * `access` rule applies. Admission (`admission.ts`) decides exactly as for a proxied request;
 * this module only renders its verdict. When the session was refreshed, the 202 carries exactly
 * one `Set-Cookie` renewing the session cookie, for the proxy to pass on to the browser.
 */
export function registerForwardAuth (app: FastifyInstance, options: ForwardAuthOptions): void {
  const { config, authenticator, codec } = options
  const now = options.now ?? Date.now
  const { authPrefix, publicUrl, allowedRedirectHosts } = config.server
  const cookie = config.session.cookie
  const admission = createAdmission({ routes: options.routes, policy: options.policy, scope: 'forward-auth', authPrefix, reservedPaths: new Set() })

  /** The absolute sign-in URL that lands back on the original request (validated like every redirect). */
  function signInUrl (original: OriginalRequest, verdict: IdentifyVerdict, silent: boolean): string {
    const target = original.url ?? (verdict.path === null ? '/' : verdict.path + verdict.search)
    const rd = safeRedirect(target, { publicUrl, allowedHosts: allowedRedirectHosts })
    return `${publicUrl}${authPrefix}/start?rd=${encodeURIComponent(rd)}${silent ? '&silent=1' : ''}`
  }

  function signIn (request: FastifyRequest, reply: FastifyReply, verdict: Extract<IdentityVerdict, { kind: 'sign_in' }>, original: OriginalRequest, target: IdentifyVerdict): FastifyReply {
    if (verdict.bearerRefused !== null) return sendBearerRefused(request, reply, verdict.bearerRefused)
    if (verdict.clearCookie) reply.clearCookie(cookie.name, clearCookieOptions(cookie))
    const location = signInUrl(original, target, verdict.silent)
    reply.header(signInHeader, location).header('cache-control', 'no-store')
    const query = request.query as Record<string, unknown>
    const navigation = (original.method === 'GET' || original.method === 'HEAD') && wantsHtml(request) && verdict.route?.api !== true
    if (query.mode === 'redirect' && navigation) {
      request.portcullis.outcome = 'redirected_to_sign_in'
      return reply.redirect(location, 302)
    }
    request.portcullis.outcome = 'unauthenticated'
    reply.header('www-authenticate', `Portcullis realm="${publicUrl}", sign_in="${location}"`)
    return sendError(request, reply, verdict.silent || verdict.expired ? 'PCS_SESSION_EXPIRED' : 'PCS_UNAUTHENTICATED', { json: { sign_in: location } })
  }

  /** A refused method or identity. auth_request understands only 2xx, 401 and 403, so a refused method is a 403 here too. */
  function denied (request: FastifyRequest, reply: FastifyReply, methodRefused: boolean, email: string | null): FastifyReply {
    request.portcullis.outcome = methodRefused ? 'method_not_allowed' : 'denied'
    if (email !== null && wantsHtml(request) && request.portcullis.route?.api !== true) {
      return sendPage(reply, 403, forbiddenPage(email, `${publicUrl}${authPrefix}/sign_out`, true), 'PCS_FORBIDDEN')
    }
    return sendError(request, reply, 'PCS_FORBIDDEN')
  }

  /** Renders the verdict for a request whose session is known (or known to be missing). */
  function render (request: FastifyRequest, reply: FastifyReply, outcome: AuthOutcome, original: OriginalRequest, target: IdentifyVerdict, trusted: boolean): FastifyReply {
    const verdict = admission.identify(target, original.method, outcome)
    if (verdict.kind === 'sign_in') return signIn(request, reply, verdict, original, target)
    request.portcullis.session = verdict.session
    if (debugEnabled(request)) request.log.debug({ decision: verdict.rule, allow: verdict.kind === 'allowed', trusted }, 'forward-auth decision')
    if (verdict.kind === 'forbidden') return denied(request, reply, false, verdict.identity.email)

    request.portcullis.outcome = verdict.refreshed ? 'refreshed' : 'authorized'
    reply.headers(authRequestHeaders(verdict.identity))
    const accessToken = verdict.session?.record.tokens.accessToken
    if (config.identity.passAccessToken && accessToken !== undefined && safeHeaderValue(accessToken)) {
      reply.header('x-auth-request-access-token', accessToken)
    }
    if (verdict.refreshed && verdict.session !== null) {
      // The proxy passes this one header on (nginx: auth_request_set + add_header), so the
      // browser's cookie is renewed with the refreshed session, exactly as a proxied request would.
      reply.setCookie(cookie.name, codec.encode(verdict.session.ticket), cookieOptions(cookie, verdict.session.record.expiresAt - now()))
    }
    return reply.code(202).header('cache-control', 'no-store').send()
  }

  // A cached session is answered without a promise; anything that has to wait (the store, a
  // refresh) takes the awaited path, whose failures answer 503 as everywhere else.
  app.get(`${authPrefix}/auth`, { config: { gateway: true } }, (request, reply) => {
    const trusted = options.isTrustedProxy(request.socket.remoteAddress ?? '')
    const original = originalRequest(request.headers, request.raw.rawHeaders, trusted, config.forwardAuth)
    if (original === CONFLICT) {
      request.portcullis.outcome = 'bad_request'
      return sendError(request, reply, 'PCS_ORIGINAL_REQUEST_CONFLICT')
    }
    const verdict = admission.target(original.uri, original.method)
    switch (verdict.kind) {
      case 'bad_path':
        request.portcullis.outcome = 'bad_path'
        return sendError(request, reply, verdict.code)
      case 'not_found':
      case 'no_route':
        // Not produced in forward-auth scope (no route means the global rule); refused all the same.
        return sendError(request, reply, 'PCS_NOT_FOUND')
      default:
    }
    request.portcullis.path = verdict.path
    request.portcullis.route = verdict.route
    if (verdict.kind === 'public') {
      if (debugEnabled(request)) request.log.debug({ decision: verdict.rule, allow: true }, 'forward-auth decision')
      request.portcullis.outcome = 'public'
      return reply.code(202).header('cache-control', 'no-store').send()
    }
    if (verdict.kind === 'method_not_allowed') {
      if (debugEnabled(request)) request.log.debug({ decision: verdict.rule, allow: false }, 'forward-auth decision')
      return denied(request, reply, true, null)
    }

    const cached = authenticator.authenticateCached(request)
    if (cached !== null) return render(request, reply, cached, original, verdict, trusted)
    return authenticator.authenticate(request).then(
      (outcome) => render(request, reply, outcome, original, verdict, trusted),
      (err: unknown) => {
        if (isGatewayError(err)) return sendError(request, reply, err, { retryAfterSeconds: 5 })
        throw err
      })
  })
}
