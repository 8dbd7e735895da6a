import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config/types.js'
import { isGatewayError } from '../errors.js'
import type { Logger } from '../observability/logger.js'
import { debugEnabled } from '../observability/request-logger.js'
import type { CompiledPolicy } from '../policy/decide.js'
import type { RouteTable } from '../policy/routes.js'
import { breakerRetryAfterSeconds } from '../session/breaker.js'
import { createAdmission, type IdentifyVerdict, type IdentityVerdict } from './admission.js'
import type { AuthOutcome, Authenticator } from './authenticate.js'
import { sendBearerRefused } from './bearer.js'
import { clearCookieOptions } from './cookies.js'
import { forbiddenPage } from '../render/pages.js'
import { sendError, sendPage, wantsHtml } from '../render/respond.js'

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
  /** True while the store breaker is open: a request the cache cannot serve gets 503 at once. */
  readonly storeUnavailable?: () => boolean
  /** `onAllowed` without waiting when it can be done at once: true when done, false to call `onAllowed`. */
  readonly onAllowedNow?: (request: FastifyRequest) => boolean
}

/**
 * The `onRequest` hook in front of the proxy: asks admission (`admission.ts`) for a verdict on
 * the request and renders it; only an `allowed` or `public` verdict lets the request through to
 * the proxy, with the route (and session) admission chose.
 */
export function createGate (options: GateOptions): (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void {
  const { config, authenticator } = options
  const { authPrefix, publicUrl } = config.server
  const cookie = config.session.cookie
  const admission = createAdmission({ routes: options.routes, policy: options.policy, scope: 'proxy', authPrefix, reservedPaths: options.reservedPaths })

  function signInLocation (request: FastifyRequest, silent: boolean): string {
    const state = request.portcullis
    const rd = encodeURIComponent((state.path ?? '/') + state.search)
    return `${authPrefix}/start?rd=${rd}${silent ? '&silent=1' : ''}`
  }

  function signIn (request: FastifyRequest, reply: FastifyReply, verdict: Extract<IdentityVerdict, { kind: 'sign_in' }>): FastifyReply {
    if (verdict.bearerRefused !== null) return sendBearerRefused(request, reply, verdict.bearerRefused)
    if (verdict.clearCookie) reply.clearCookie(cookie.name, clearCookieOptions(cookie))
    const navigation = (request.method === 'GET' || request.method === 'HEAD') && wantsHtml(request) && verdict.route?.api !== true
    // A session whose token expired without a refresh token re-runs sign-in silently
    // (`prompt=none`): the provider's own session usually still stands, so the user only sees
    // a few redirects; the callback falls back to the normal sign-in when it does not.
    if (navigation) {
      request.portcullis.outcome = verdict.silent ? 'silent_sign_in' : 'redirected_to_sign_in'
      return reply.header('cache-control', 'no-store').redirect(signInLocation(request, verdict.silent), 302)
    }
    request.portcullis.outcome = 'unauthenticated'
    const location = `${publicUrl}${signInLocation(request, false)}`
    reply.header('www-authenticate', `Portcullis realm="${publicUrl}", sign_in="${location}"`)
    return sendError(request, reply, verdict.silent || verdict.expired ? 'PCS_SESSION_EXPIRED' : 'PCS_UNAUTHENTICATED', { json: { sign_in: location } })
  }

  /**
   * Renders the second stage. Returns true when the request is allowed and `onAllowed` still has
   * to run; false when it was answered here.
   */
  function render (request: FastifyRequest, reply: FastifyReply, verdict: IdentityVerdict): boolean {
    const state = request.portcullis
    if (verdict.kind === 'sign_in') {
      signIn(request, reply, verdict)
      return false
    }
    state.session = verdict.session
    if (debugEnabled(request)) request.log.debug({ decision: verdict.rule, allow: verdict.kind === 'allowed' }, 'access decision')
    if (verdict.kind === 'forbidden') {
      state.outcome = 'denied'
      if (wantsHtml(request) && verdict.route?.api !== true) {
        sendPage(reply, 403, forbiddenPage(verdict.identity.email, `${authPrefix}/sign_out`), 'PCS_FORBIDDEN')
        return false
      }
      sendError(request, reply, 'PCS_FORBIDDEN')
      return false
    }
    state.outcome = verdict.refreshed ? 'refreshed' : 'proxied'
    return true
  }

  /** The path through the session store, a refresh or the signer: everything that may wait. */
  async function slow (request: FastifyRequest, reply: FastifyReply, target: IdentifyVerdict | null): Promise<void> {
    const state = request.portcullis
    if (target !== null) {
      let outcome: AuthOutcome
      try {
        outcome = await authenticator.authenticate(request)
      } catch (err) {
        if (isGatewayError(err)) {
          state.outcome = err.code === 'PCS_REFRESH_UNAVAILABLE' ? 'refresh_unavailable' : 'store_unavailable'
          return void sendError(request, reply, err, { retryAfterSeconds: 5 })
        }
        throw err
      }
      if (!render(request, reply, admission.identify(target, request.method, outcome))) return
    }
    if (options.onAllowed !== undefined) await options.onAllowed(request)
  }

  /**
   * The store breaker is open: the session cannot be checked, and a sign-in could not be stored
   * either, so even a browser without a session gets the 503 page, not a redirect to sign-in.
   */
  function storeDown (request: FastifyRequest, reply: FastifyReply, done: () => void): void {
    request.portcullis.outcome = 'store_unavailable'
    sendError(request, reply, 'PCS_STORE_UNAVAILABLE', { retryAfterSeconds: breakerRetryAfterSeconds })
    done()
  }

  // The callback form: a signed-in request whose session and assertion are cached is decided
  // without a promise; anything that has to wait continues in `slow`, and its failure (a store
  // or signer error) reaches the error handler exactly as a rejected hook would.
  return function gate (request, reply, done) {
    if (request.routeOptions.config.gateway === true) return done()
    const state = request.portcullis
    const verdict = admission.target(request.raw.url ?? '', request.method)
    switch (verdict.kind) {
      case 'bad_path':
        state.outcome = 'bad_path'
        sendError(request, reply, verdict.code)
        return done()
      case 'not_found':
        state.outcome = 'not_found'
        sendError(request, reply, 'PCS_NOT_FOUND')
        return done()
      default:
    }
    state.path = verdict.path
    state.search = verdict.search
    state.route = verdict.route
    switch (verdict.kind) {
      case 'no_route':
        state.outcome = 'no_route'
        sendError(request, reply, 'PCS_NOT_FOUND')
        return done()
      case 'public':
        state.outcome = 'public'
        return done()
      case 'method_not_allowed':
        request.log.debug({ decision: verdict.rule, allow: false }, 'access decision')
        state.outcome = 'method_not_allowed'
        sendError(request, reply.header('allow', allowHeader(verdict.route.methods ?? [])), 'PCS_METHOD_NOT_ALLOWED')
        return done()
      default:
    }

    const cached = authenticator.authenticateCached(request)
    if (cached === null && options.storeUnavailable?.() === true) return storeDown(request, reply, done)
    if (cached !== null) {
      if (!render(request, reply, admission.identify(verdict, request.method, cached))) return done()
      if (options.onAllowed === undefined || options.onAllowedNow?.(request) === true) return done()
      slow(request, reply, null).then(() => done(), done)
      return
    }
    slow(request, reply, verdict).then(() => done(), done)
  }
}
