import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config, RouteConfig } from '../config/types.js'
import { isGatewayError } from '../errors.js'
import type { Logger } from '../observability/logger.js'
import { debugEnabled } from '../observability/request-logger.js'
import { decide, type CompiledPolicy } from '../policy/decide.js'
import { normalisePath } from '../proxy/path.js'
import type { RouteTable } from '../proxy/routes.js'
import type { AuthOutcome, Authenticator } from './authenticate.js'
import { sendBearerRefused } from './bearer.js'
import { clearCookieOptions } from './cookies.js'
import { forbiddenPage } from './pages.js'
import { sendError, sendPage, wantsHtml } from './respond.js'

/** The `Allow` header of a 405: the listed methods, with HEAD wherever GET is listed. */
export function allowHeader (methods: readonly string[]): string {
  const all = new Set(methods)
  if (all.has('GET')) all.add('HEAD')
  return [...all].join(', ')
}

export interface GateOptions {
  readonly config: Config
  readonly routes: RouteTable
  readonly policy: CompiledPolicy
  readonly authenticator: Authenticator
  readonly logger: Logger
  /** Paths the gateway serves itself outside the auth prefix (`/ping`, `/ready`, `/metrics`). */
  readonly reservedPaths: ReadonlySet<string>
  /** Called for a signed-in, allowed request before it is proxied (e.g. to sign an assertion). */
  readonly onAllowed?: (request: FastifyRequest) => Promise<void> | void
  /** `onAllowed` without waiting when it can be done at once: true when done, false to call `onAllowed`. */
  readonly onAllowedNow?: (request: FastifyRequest) => boolean
}

/**
 * The `onRequest` hook in front of the proxy: normalises the path, picks the route, and lets the
 * request through only when the route is public or the session is valid, fresh and allowed.
 * The route is chosen on the same normalised path that is forwarded, so what is checked is what
 * the upstream serves.
 */
export function createGate (options: GateOptions): (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void {
  const { config, routes, policy, authenticator } = options
  const { authPrefix, publicUrl } = config.server
  const cookie = config.session.cookie

  function signInLocation (request: FastifyRequest, silent: boolean): string {
    const state = request.portcullis
    const rd = encodeURIComponent((state.path ?? '/') + state.search)
    return `${authPrefix}/start?rd=${rd}${silent ? '&silent=1' : ''}`
  }

  function unauthenticated (request: FastifyRequest, reply: FastifyReply, outcome: AuthOutcome): FastifyReply {
    if (outcome.kind === 'anonymous' && outcome.bearerError !== undefined) return sendBearerRefused(request, reply, outcome.bearerError)
    if (outcome.kind === 'anonymous' && outcome.hadCookie) reply.clearCookie(cookie.name, clearCookieOptions(cookie))
    const route = request.portcullis.route
    const navigation = (request.method === 'GET' || request.method === 'HEAD') && wantsHtml(request) && route?.api !== true
    // A session whose token expired without a refresh token re-runs sign-in silently
    // (`prompt=none`): the provider's own session usually still stands, so the user only sees
    // a few redirects; the callback falls back to the normal sign-in when it does not.
    const reauth = outcome.kind === 'reauth'
    if (navigation) {
      request.portcullis.outcome = reauth ? 'silent_sign_in' : 'redirected_to_sign_in'
      return reply.header('cache-control', 'no-store').redirect(signInLocation(request, reauth), 302)
    }
    request.portcullis.outcome = 'unauthenticated'
    const signIn = `${publicUrl}${signInLocation(request, false)}`
    reply.header('www-authenticate', `Portcullis realm="${publicUrl}", sign_in="${signIn}"`)
    const expired = reauth || (outcome.kind === 'anonymous' && outcome.reason.startsWith('refresh_'))
    return sendError(request, reply, expired ? 'PCS_SESSION_EXPIRED' : 'PCS_UNAUTHENTICATED', { json: { sign_in: signIn } })
  }

  /**
   * What follows authentication: the access decision, then the assertion. Returns true when the
   * request is allowed and `onAllowed` still has to run; false when it was answered here.
   */
  function admit (request: FastifyRequest, reply: FastifyReply, route: RouteConfig, outcome: AuthOutcome): boolean {
    const state = request.portcullis
    if (outcome.kind !== 'signed_in') {
      unauthenticated(request, reply, outcome)
      return false
    }
    state.session = { ticket: outcome.ticket, record: outcome.record }
    const decision = decide(policy, route, request.method, outcome.record.identity)
    if (debugEnabled(request)) request.log.debug({ decision: decision.rule, allow: decision.allow }, 'access decision')
    if (!decision.allow) {
      state.outcome = 'denied'
      if (wantsHtml(request) && route.api !== true) {
        sendPage(reply.header('x-portcullis-error', 'PCS_FORBIDDEN'), 403, forbiddenPage(outcome.record.identity.email, `${authPrefix}/sign_out`))
        return false
      }
      sendError(request, reply, 'PCS_FORBIDDEN')
      return false
    }
    state.outcome = outcome.refreshed ? 'refreshed' : 'proxied'
    return true
  }

  /** The path through the session store, a refresh or the signer: everything that may wait. */
  async function slow (request: FastifyRequest, reply: FastifyReply, route: RouteConfig, outcome: AuthOutcome | null): Promise<void> {
    const state = request.portcullis
    if (outcome === null) {
      try {
        outcome = await authenticator.authenticate(request)
      } catch (err) {
        if (isGatewayError(err)) {
          state.outcome = err.code === 'PCS_REFRESH_UNAVAILABLE' ? 'refresh_unavailable' : 'store_unavailable'
          return void sendError(request, reply, err, { retryAfterSeconds: 5 })
        }
        throw err
      }
      if (!admit(request, reply, route, outcome)) return
    }
    if (options.onAllowed !== undefined) await options.onAllowed(request)
  }

  // The callback form: a signed-in request whose session and assertion are cached is decided
  // without a promise; anything that has to wait continues in `slow`, and its failure (a store
  // or signer error) reaches the error handler exactly as a rejected hook would.
  return function gate (request, reply, done) {
    if (request.routeOptions.config.gateway === true) return done()
    const state = request.portcullis
    const normalised = normalisePath(request.raw.url ?? '')
    if (normalised === null) {
      state.outcome = 'bad_path'
      sendError(request, reply, 'PCS_BAD_PATH')
      return done()
    }
    state.path = normalised.path
    state.search = normalised.search
    // The gateway owns its prefix and reserved paths: a request that only reaches them after
    // normalisation (`/x/../oauth2/start`) or with another method is not proxied.
    if (normalised.path === authPrefix || normalised.path.startsWith(`${authPrefix}/`) || options.reservedPaths.has(normalised.path)) {
      state.outcome = 'not_found'
      sendError(request, reply, 'PCS_NOT_FOUND')
      return done()
    }
    const route = routes.match(normalised.path)
    state.route = route
    if (route === null) {
      state.outcome = 'no_route'
      sendError(request, reply, 'PCS_NOT_FOUND')
      return done()
    }
    // Method and public-route rules need no session: decide them before touching the store.
    const before = decide(policy, route, request.method, null)
    if (before.outcome === 'public') {
      state.outcome = 'public'
      return done()
    }
    if (before.outcome === 'method_not_allowed') {
      request.log.debug({ decision: before.rule, allow: false }, 'access decision')
      state.outcome = 'method_not_allowed'
      sendError(request, reply.header('allow', allowHeader(route.methods ?? [])), 'PCS_METHOD_NOT_ALLOWED')
      return done()
    }

    const cached = authenticator.authenticateCached(request)
    if (cached !== null) {
      if (!admit(request, reply, route, cached)) return done()
      if (options.onAllowed === undefined || options.onAllowedNow?.(request) === true) return done()
    }
    slow(request, reply, route, cached).then(() => done(), done)
  }
}
