import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { randomPKCECodeVerifier } from 'openid-client'
import { DEFAULTS } from '../config/defaults.js'
import type { Config } from '../config/types.js'
import type { SignInOutcome } from '../domain/outcomes.js'
import { gatewayError, isGatewayError, type GatewayError } from '../errors.js'
import type { Flows, PendingLogin } from '../oidc/flows.js'
import { createPendingLogins, type StoredLogin } from '../session/pending-logins.js'
import type { SessionEvents } from '../session/events.js'
import type { Sessions } from '../session/sessions.js'
import type { SessionStore } from '../session/store.js'
import { newOpaqueToken, type TicketCodec } from '../session/ticket.js'
import type { SessionRecord } from '../domain/types.js'
import type { PendingSignIns } from '../limits/pending-sign-ins.js'
import type { Audit } from '../observability/audit.js'
import { clearCookieOptions, cookieOptions, loginCookieName, pendingLoginCookieName } from './cookies.js'
import { currentSession, usableWithoutSignIn } from './current-session.js'
import { signInView } from '../render/pages.js'
import { safeRedirect } from './redirect.js'
import { sendError, sendPage, viewContext, wantsHtml } from '../render/respond.js'

export interface SignInOptions {
  readonly config: Config
  readonly store: SessionStore
  readonly sessions: Sessions
  readonly codec: TicketCodec
  readonly flows: Flows
  readonly now?: () => number
  /** Announces the end of a session this sign-in replaces (caches in every process drop it). */
  readonly events?: Pick<SessionEvents, 'publish'>
  /** Called with the outcome of every finished sign-in (metrics). */
  readonly onSignIn?: (outcome: SignInOutcome) => void
  /** Writes the audit lines `sign_in` and `sign_in_refused`. */
  readonly audit?: Audit
  /** Bounds the pending sign-ins per client and in total (limits/pending-sign-ins.ts). */
  readonly pending?: PendingSignIns
  /** The client's address through trusted proxies (kept with the session for the listing). */
  readonly clientAddress?: (request: FastifyRequest) => string
}

const bindingPattern = /^[A-Za-z0-9_-]{43}$/
const maxStateLength = 128
/** Pending sign-ins one browser may hold at once; the oldest binding cookie is evicted beyond this. */
export const MAX_PENDING_SIGN_INS = 6
/** Provider errors of a silent attempt that mean "ask the person": fall back to a normal sign-in. */
const silentFallbackErrors = new Set(['login_required', 'interaction_required', 'consent_required', 'account_selection_required'])

/*
 * Concurrency: many tabs of one browser may start signing in at the same instant (a restored
 * session reopens them all). A single binding cookie would be overwritten by each /start, and
 * every tab but the last would fail its callback. So every pending sign-in gets a cookie of its
 * own, named after the first characters of its `state`, holding a fresh random binding value
 * that the gateway mints (a value sent by the client is never adopted: a planted cookie cannot
 * bind a victim's sign-in to a value the attacker knows). Concurrent /start responses set
 * different cookies, so none can overwrite another.
 *
 * The pending record (state -> nonce, PKCE verifier, landing path) lives in the store, single
 * use, with the login timeout as TTL, sealed with a key derived from the binding value: a
 * callback replayed from another browser cannot open it.
 *
 * Cleanup: each callback clears its own cookie whatever the result, every cookie expires with
 * the login timeout, and a /start that finds MAX_PENDING_SIGN_INS or more pending clears the
 * oldest, so the browser never piles them up.
 *
 * A callback that cannot be used (its cookie evicted or lost, its code refused) restarts the
 * sign-in once for the same landing path; when the browser is already signed in (another tab
 * finished first), it simply continues to that path.
 */

/** Registers `/start` and `/callback` under the auth prefix. */
export function registerSignIn (app: FastifyInstance, options: SignInOptions): void {
  const { config, store, sessions, codec, flows } = options
  const now = options.now ?? Date.now
  const { authPrefix, publicUrl, allowedRedirectHosts } = config.server
  const cookie = config.session.cookie
  const pendingLogins = createPendingLogins({ store, keyPrefix: config.redis.keyPrefix })
  const legacyLoginCookie = loginCookieName(cookie)
  const pendingPrefix = `${legacyLoginCookie}_`
  const loginCookieOptions = { ...cookieOptions(cookie, config.session.loginTimeoutMs, authPrefix), sameSite: 'lax' as const }
  const loginClearOptions = { ...clearCookieOptions(cookie, authPrefix), sameSite: 'lax' as const }
  const sessionOf = (request: FastifyRequest): ReturnType<typeof currentSession> =>
    currentSession(request, { cookieName: cookie.name, codec, sessions, now })

  function startUrl (rd: string, extra: Record<string, string> = {}): string {
    return `${authPrefix}/start?${new URLSearchParams({ rd, ...extra }).toString()}`
  }

  /** Clears the oldest binding cookies so that, with the one about to be set, at most the cap remain. */
  function evictOldBindings (request: FastifyRequest, reply: FastifyReply): void {
    const pending: Array<{ name: string, issuedAt: number }> = []
    for (const [name, value] of Object.entries(request.cookies)) {
      if (name === legacyLoginCookie) reply.clearCookie(name, loginClearOptions)
      else if (name.startsWith(pendingPrefix)) pending.push({ name, issuedAt: issuedAtOf(value ?? '') })
    }
    pending.sort((a, b) => a.issuedAt - b.issuedAt)
    for (const { name } of pending.slice(0, Math.max(0, pending.length - MAX_PENDING_SIGN_INS + 1))) reply.clearCookie(name, loginClearOptions)
  }

  async function start (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const query = request.query as Record<string, unknown>
    // A landing path longer than any real one only inflates the pending record: it becomes `/`.
    const rd = typeof query.rd === 'string' && query.rd.length > DEFAULTS.redirectMaxLength ? '/' : safeRedirect(query.rd, { publicUrl, allowedHosts: allowedRedirectHosts })
    const silent = query.silent === '1'
    const prompt = query.prompt === 'select_account' ? 'select_account' as const : undefined
    if (config.pages.signIn === 'button' && !silent && query.go !== '1' && wantsHtml(request)) {
      // A link, not a form: a form's redirect chain to the provider would break form-action 'self'.
      const go = startUrl(rd, { go: '1', ...(prompt === undefined ? {} : { prompt }) })
      request.portcullis.outcome = 'sign_in_page'
      return sendPage(reply, 200, signInView(viewContext(reply), go))
    }
    const binding = newOpaqueToken(32)
    const login: PendingLogin = {
      state: newOpaqueToken(32),
      nonce: newOpaqueToken(32),
      codeVerifier: randomPKCECodeVerifier(),
      rd,
      silent,
      ...(prompt === undefined ? {} : { prompt }),
      retried: query.retry === '1'
    }
    try {
      const url = await flows.authorizationUrl(login)
      const key = await pendingLogins.save(login, binding, now(), config.session.loginTimeoutMs)
      if (options.pending !== undefined && options.audit !== undefined) {
        for (const old of options.pending.started(options.audit.client(request), key)) store.delete(old).catch(() => {})
      }
      evictOldBindings(request, reply)
      reply.setCookie(pendingLoginCookieName(cookie, login.state), `${binding}.${now().toString(36)}`, loginCookieOptions)
      request.portcullis.outcome = 'sign_in_started'
      return reply.header('cache-control', 'no-store').redirect(url, 302)
    } catch (err) {
      if (isGatewayError(err)) return sendError(request, reply, err, { actions: [{ label: 'Try again', href: startUrl(rd), primary: true }] })
      throw err
    }
  }

  /**
   * A callback that cannot complete: continue when the browser is signed in already, restart once
   * for the same landing path, and only then show the error.
   */
  async function unusable (request: FastifyRequest, reply: FastifyReply, err: GatewayError, outcome: SignInOutcome, landing: { rd: string, retried: boolean } | null): Promise<FastifyReply> {
    const rd = landing?.rd ?? '/'
    const signedIn = await sessionOf(request)
    if (signedIn !== null && usableWithoutSignIn(signedIn.record, now())) {
      options.onSignIn?.('already_signed_in')
      request.portcullis.outcome = 'already_signed_in'
      return reply.header('cache-control', 'no-store').redirect(rd, 302)
    }
    if (landing !== null && !landing.retried) {
      options.onSignIn?.('restarted')
      request.portcullis.outcome = 'sign_in_restarted'
      request.log.info({ code: err.code, reason: outcome }, 'sign-in callback unusable; starting again')
      return reply.header('cache-control', 'no-store').redirect(startUrl(rd, { retry: '1' }), 302)
    }
    return fail(request, reply, err, outcome, rd)
  }

  function fail (request: FastifyRequest, reply: FastifyReply, err: GatewayError, outcome: SignInOutcome, rd: string): FastifyReply {
    options.onSignIn?.(outcome)
    options.audit?.record('sign_in_refused', request, { reason: outcome })
    request.portcullis.outcome = 'sign_in_failed'
    const again = err.code === 'PCS_LOGIN_CLAIMS_INVALID'
      ? { label: 'Sign in with another account', href: startUrl(rd, { prompt: 'select_account' }), primary: true }
      : { label: 'Sign in again', href: startUrl(rd), primary: true }
    return sendError(request, reply, err, { actions: [again] })
  }

  /** Takes the pending sign-in of `state` (see session/pending-logins.ts); the bound is told it ended. */
  async function takePending (state: string, binding: string | null): Promise<{ stored: StoredLogin, login: PendingLogin | null } | null> {
    const taken = await pendingLogins.take(state, binding)
    options.pending?.finished(taken.key)
    return taken.stored === null ? null : { stored: taken.stored, login: taken.login }
  }

  async function callback (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const query = request.query as Record<string, unknown>
    const state = query.state
    const invalid = gatewayError('PCS_LOGIN_STATE_INVALID')
    if (typeof state !== 'string' || state === '' || state.length > maxStateLength) return unusable(request, reply, invalid, 'bad_state', null)
    const cookieName = pendingLoginCookieName(cookie, state)
    const value = request.cookies[cookieName]
    if (value !== undefined) reply.clearCookie(cookieName, loginClearOptions)
    const binding = value?.split('.')[0] ?? ''
    let pending
    try {
      pending = await takePending(state, bindingPattern.test(binding) ? binding : null)
    } catch (err) {
      if (isGatewayError(err)) return sendError(request, reply, err)
      throw err
    }
    if (pending === null) return unusable(request, reply, invalid, 'bad_state', null)
    const { stored, login } = pending
    if (login === null) return unusable(request, reply, invalid, 'bad_state', stored)

    const providerError = query.error
    if (typeof providerError === 'string') {
      if (login.silent && silentFallbackErrors.has(providerError)) {
        request.portcullis.outcome = 'silent_sign_in_fallback'
        return reply.redirect(startUrl(login.rd), 302)
      }
      // The person's own cancel (or a refused consent) is not an error of anyone's.
      if (providerError === 'access_denied') return fail(request, reply, gatewayError('PCS_LOGIN_CANCELLED'), 'cancelled', login.rd)
      const err = gatewayError('PCS_LOGIN_PROVIDER_ERROR', { details: { error: providerError.slice(0, 64) } })
      return fail(request, reply, err, 'provider_error', login.rd)
    }

    // Another tab finished first: this browser signed in after this sign-in started, so the code
    // is not needed. A session older than the start is one the person chose to replace (signing
    // in again, perhaps as someone else): the code is exchanged and that session ends.
    const signedIn = await sessionOf(request)
    const byAnotherTab = signedIn !== null && signedIn.record.createdAt >= (stored.startedAt ?? Number.POSITIVE_INFINITY)
    if (signedIn !== null && byAnotherTab && usableWithoutSignIn(signedIn.record, now())) {
      options.onSignIn?.('already_signed_in')
      request.portcullis.outcome = 'already_signed_in'
      return reply.header('cache-control', 'no-store').redirect(login.rd, 302)
    }

    const search = (request.raw.url ?? '').split('?')[1] ?? ''
    const callbackUrl = new URL(`${publicUrl}${authPrefix}/callback?${search}`)
    try {
      const { identity, tokens, providerSid } = await flows.exchangeCode(callbackUrl, login)
      if (signedIn !== null) {
        await sessions.destroy(signedIn.ticket).catch(() => {})
        await options.events?.publish('ended', sessions.keys(signedIn.ticket).session)
      }
      const t = now()
      const record: SessionRecord = {
        v: 1,
        identity,
        tokens,
        createdAt: t,
        expiresAt: t + config.session.lifetimeMs,
        generation: 0,
        refreshedAt: t
      }
      // A fresh session id at every sign-in: no fixation.
      const userAgent = request.headers['user-agent'] ?? null
      const ticket = await sessions.create(record, Math.min(config.session.idleTimeoutMs, config.session.lifetimeMs), { client: options.clientAddress?.(request) ?? request.ip, userAgent, providerSid })
      reply.setCookie(cookie.name, codec.encode(ticket), cookieOptions(cookie, config.session.lifetimeMs))
      request.portcullis.outcome = 'signed_in'
      options.onSignIn?.('success')
      request.log.info({ user: identity.sub }, 'signed in')
      options.audit?.record('sign_in', request, { email: identity.email, sessionId: ticket.sid })
      return reply.header('cache-control', 'no-store').redirect(login.rd, 302)
    } catch (err) {
      if (!isGatewayError(err)) throw err
      request.log.warn({ code: err.code, details: err.details }, 'sign-in failed')
      if (err.code === 'PCS_LOGIN_CODE_INVALID') return unusable(request, reply, err, 'code_invalid', { rd: login.rd, retried: login.retried === true })
      return fail(request, reply, err, err.code === 'PCS_LOGIN_CLAIMS_INVALID' ? 'claims_invalid' : err.status >= 500 ? 'provider_unavailable' : 'code_invalid', login.rd)
    }
  }

  app.get(`${authPrefix}/start`, { config: { gateway: true } }, start)
  app.get(`${authPrefix}/callback`, { config: { gateway: true } }, callback)
}

/** When a binding cookie was set (its value ends in `.<ms since epoch, base 36>`); 0 when unreadable. */
function issuedAtOf (value: string): number {
  const at = parseInt(value.split('.')[1] ?? '', 36)
  return Number.isFinite(at) ? at : 0
}
