import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config, RouteConfig } from '../config/types.js'
import { isGatewayError } from '../errors.js'
import { debugEnabled } from '../observability/request-logger.js'
import { decide, type CompiledPolicy, type Decision } from '../policy/decide.js'
import { normalisePath } from '../proxy/path.js'
import type { RouteTable } from '../proxy/routes.js'
import type { TicketCodec } from '../session/ticket.js'
import type { Identity } from '../domain/types.js'
import type { AuthOutcome, Authenticator } from './authenticate.js'
import { clearCookieOptions, cookieOptions } from './cookies.js'
import { originalRequest, type OriginalRequest } from './original-request.js'
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

// eslint-disable-next-line no-control-regex
const unsafeHeaderValue = /[\u0000-\u0008\u000a-\u001f\u007f]|[^\u0000-\u00ff]/

/**
 * Registers `GET /auth` for nginx `auth_request`, Traefik ForwardAuth and Caddy `forward_auth`.
 *
 * Answers: 202 with `X-Auth-Request-User`, `-Email`, `-Preferred-Username`, `-Groups` (and
 * `-Access-Token` when `pass_access_token` is on) when signed in and allowed, or when the original
 * URI is on a public route (then without identity); 401 when not signed in, with
 * `X-Auth-Request-Sign-In` naming the sign-in URL that comes back to the original request; 403
 * when signed in but not allowed (or the route refuses the method). With `?mode=redirect`, a
 * browser navigation that is not signed in gets a 302 to that sign-in URL instead of the 401,
 * which is what Traefik and Caddy hand back to the browser.
 *
 * The route policy applies to the original URI (`X-Original-URI` / `X-Forwarded-Uri`) only when
 * the caller is a trusted proxy; otherwise those headers are ignored and only the global `access`
 * rule applies. When the session was refreshed, the 202 carries exactly one `Set-Cookie` renewing
 * the session cookie, for the proxy to pass on to the browser.
 */
export function registerForwardAuth (app: FastifyInstance, options: ForwardAuthOptions): void {
  const { config, authenticator, policy, routes, codec } = options
  const now = options.now ?? Date.now
  const { authPrefix, publicUrl, allowedRedirectHosts } = config.server
  const cookie = config.session.cookie

  /** The absolute sign-in URL that lands back on the original request (validated like every redirect). */
  function signInUrl (original: OriginalRequest, path: string | null, silent: boolean): string {
    const target = original.url ?? path ?? '/'
    const rd = safeRedirect(target, { publicUrl, allowedHosts: allowedRedirectHosts })
    return `${publicUrl}${authPrefix}/start?rd=${encodeURIComponent(rd)}${silent ? '&silent=1' : ''}`
  }

  function unauthenticated (request: FastifyRequest, reply: FastifyReply, outcome: Exclude<AuthOutcome, { kind: 'signed_in' }>, original: OriginalRequest, path: string | null, route: RouteConfig | null): FastifyReply {
    if (outcome.kind === 'anonymous' && outcome.hadCookie) reply.clearCookie(cookie.name, clearCookieOptions(cookie))
    const location = signInUrl(original, path, outcome.kind === 'reauth')
    reply.header(signInHeader, location).header('cache-control', 'no-store')
    const query = request.query as Record<string, unknown>
    const navigation = (original.method === 'GET' || original.method === 'HEAD') && wantsHtml(request) && route?.api !== true
    if (query.mode === 'redirect' && navigation) {
      request.portcullis.outcome = 'redirected_to_sign_in'
      return reply.redirect(location, 302)
    }
    request.portcullis.outcome = 'unauthenticated'
    reply.header('www-authenticate', `Portcullis realm="${publicUrl}", sign_in="${location}"`)
    const code = outcome.kind === 'anonymous' && outcome.reason.startsWith('refresh_') ? 'PCS_SESSION_EXPIRED' : 'PCS_UNAUTHENTICATED'
    return sendError(request, reply, code, { json: { sign_in: location } })
  }

  function denied (request: FastifyRequest, reply: FastifyReply, decision: Decision, email: string | null): FastifyReply {
    request.portcullis.outcome = decision.outcome === 'method_not_allowed' ? 'method_not_allowed' : 'denied'
    // auth_request understands only 2xx, 401 and 403, so a refused method is a 403 here too.
    if (email !== null && wantsHtml(request) && request.portcullis.route?.api !== true) {
      return sendPage(reply, 403, forbiddenPage(email, `${publicUrl}${authPrefix}/sign_out`, true), 'PCS_FORBIDDEN')
    }
    return sendError(request, reply, 'PCS_FORBIDDEN')
  }

  /** The answer for a request whose session is known (or known to be missing). */
  function answer (request: FastifyRequest, reply: FastifyReply, outcome: AuthOutcome, original: OriginalRequest, path: string | null, route: RouteConfig | null, trusted: boolean): FastifyReply {
    if (outcome.kind !== 'signed_in') return unauthenticated(request, reply, outcome, original, path, route)
    const { record } = outcome
    request.portcullis.session = { ticket: outcome.ticket, record }
    const identity = record.identity
    const decision = decide(policy, route, original.method, identity)
    if (debugEnabled(request)) request.log.debug({ decision: decision.rule, allow: decision.allow, trusted }, 'forward-auth decision')
    if (!decision.allow) return denied(request, reply, decision, identity.email)

    request.portcullis.outcome = outcome.refreshed ? 'refreshed' : 'authorized'
    reply.headers(identityHeadersOf(identity))
    if (config.identity.passAccessToken && record.tokens.accessToken !== '' && !unsafeHeaderValue.test(record.tokens.accessToken)) {
      reply.header('x-auth-request-access-token', record.tokens.accessToken)
    }
    if (outcome.refreshed) {
      // The proxy passes this one header on (nginx: auth_request_set + add_header), so the
      // browser's cookie is renewed with the refreshed session, exactly as a proxied request would.
      reply.setCookie(cookie.name, codec.encode(outcome.ticket), cookieOptions(cookie, record.expiresAt - now()))
    }
    return reply.code(202).header('cache-control', 'no-store').send()
  }

  // The identity headers of a 202, checked and joined once per session identity (the object is
  // shared by every request the session cache serves and never changed; a refresh brings a new one).
  const identityHeaderValues = new WeakMap<Identity, Record<string, string>>()
  function identityHeadersOf (identity: Identity): Record<string, string> {
    let headers = identityHeaderValues.get(identity)
    if (headers === undefined) {
      headers = {}
      const set = (name: string, value: string | null): void => {
        if (value !== null && value !== '' && !unsafeHeaderValue.test(value)) headers![name] = value
      }
      set('x-auth-request-user', identity.sub)
      set('x-auth-request-email', identity.email)
      set('x-auth-request-preferred-username', identity.preferredUsername)
      set('x-auth-request-groups', identity.groups.filter((g) => !g.includes(',') && !unsafeHeaderValue.test(g)).join(','))
      identityHeaderValues.set(identity, headers)
    }
    return headers
  }

  // A cached session is answered without a promise; anything that has to wait (the store, a
  // refresh) takes the awaited path, whose failures answer 503 as everywhere else.
  app.get(`${authPrefix}/auth`, { config: { gateway: true } }, (request, reply) => {
    const trusted = options.isTrustedProxy(request.socket.remoteAddress ?? '')
    const original = originalRequest(request.headers, trusted)
    let path: string | null = null
    let route: RouteConfig | null = null
    if (original.uri !== null) {
      const normalised = normalisePath(original.uri)
      if (normalised === null) return sendError(request, reply, 'PCS_BAD_PATH')
      path = normalised.path + normalised.search
      route = routes.match(normalised.path)
      request.portcullis.path = normalised.path
      request.portcullis.route = route
    }

    // Public routes and refused methods are decided without the session.
    const before = decide(policy, route, original.method, null)
    if (before.outcome === 'public') {
      if (debugEnabled(request)) request.log.debug({ decision: before.rule, allow: true }, 'forward-auth decision')
      request.portcullis.outcome = 'public'
      return reply.code(202).header('cache-control', 'no-store').send()
    }
    if (before.outcome === 'method_not_allowed') {
      if (debugEnabled(request)) request.log.debug({ decision: before.rule, allow: false }, 'forward-auth decision')
      return denied(request, reply, before, null)
    }

    const cached = authenticator.authenticateCached(request)
    if (cached !== null) return answer(request, reply, cached, original, path, route, trusted)
    return authenticator.authenticate(request).then(
      (outcome) => answer(request, reply, outcome, original, path, route, trusted),
      (err: unknown) => {
        if (isGatewayError(err)) return sendError(request, reply, err, { retryAfterSeconds: 5 })
        throw err
      })
  })
}
