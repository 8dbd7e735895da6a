import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { randomPKCECodeVerifier } from 'openid-client'
import type { Config } from '../config/types.js'
import type { SignInOutcome } from '../domain/outcomes.js'
import { gatewayError, isGatewayError, type GatewayError } from '../errors.js'
import type { Flows, PendingLogin } from '../oidc/flows.js'
import { open, seal } from '../session/crypto.js'
import { loginKey } from '../session/keys.js'
import type { SessionEvents } from '../session/events.js'
import type { Sessions } from '../session/sessions.js'
import type { SessionStore } from '../session/store.js'
import { newOpaqueToken, type TicketCodec } from '../session/ticket.js'
import type { SessionRecord } from '../domain/types.js'
import { DEFAULTS } from '../config/defaults.js'
import type { PendingSignIns } from '../limits/pending-sign-ins.js'
import type { Audit } from '../observability/audit.js'
import { cookieOptions, loginCookieName } from './cookies.js'
import { escapeHtml } from '../render/pages.js'
import { safeRedirect } from './redirect.js'
import { sendError } from '../render/respond.js'

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

/*
 * Pending sign-ins live in the store, not in cookies: each /start writes one single-use record
 * (state -> nonce, PKCE verifier, landing path) with a short TTL. The record is sealed with a key
 * derived from a random value in one short-lived login cookie, which every tab of the browser
 * shares: several tabs can sign in at once (each has its own state), no cookie per attempt piles
 * up, and a callback replayed from another browser cannot open the record.
 */

/** Registers `/start` and `/callback` under the auth prefix. */
export function registerSignIn (app: FastifyInstance, options: SignInOptions): void {
  const { config, store, sessions, codec, flows } = options
  const now = options.now ?? Date.now
  const { authPrefix, publicUrl, allowedRedirectHosts } = config.server
  const cookie = config.session.cookie
  const loginCookie = loginCookieName(cookie)
  const keyPrefix = config.redis.keyPrefix
  const loginCookieOptions = { ...cookieOptions(cookie, config.session.loginTimeoutMs, authPrefix), sameSite: 'lax' as const }

  function bindingKey (binding: string): Buffer {
    return createHash('sha256').update('portcullis login binding\0').update(binding).digest()
  }

  function fail (request: FastifyRequest, reply: FastifyReply, err: GatewayError, outcome: SignInOutcome): FastifyReply {
    options.onSignIn?.(outcome)
    options.audit?.record('sign_in_refused', request, { reason: outcome })
    const retry = `<p><a class="button" href="${escapeHtml(`${authPrefix}/start`)}">Sign in again</a></p>`
    return sendError(request, reply, err, { html: err.status < 500 ? retry : '' })
  }

  app.get(`${authPrefix}/start`, { config: { gateway: true } }, async (request, reply) => {
    const query = request.query as Record<string, unknown>
    // A landing path longer than any real one only inflates the pending record: it becomes `/`.
    const rd = typeof query.rd === 'string' && query.rd.length > DEFAULTS.redirectMaxLength ? '/' : safeRedirect(query.rd, { publicUrl, allowedHosts: allowedRedirectHosts })
    const existing = request.cookies[loginCookie]
    const binding = existing !== undefined && bindingPattern.test(existing) ? existing : newOpaqueToken(32)
    const login: PendingLogin = {
      state: newOpaqueToken(32),
      nonce: newOpaqueToken(32),
      codeVerifier: randomPKCECodeVerifier(),
      rd,
      silent: query.silent === '1'
    }
    // A provider or store failure rejects: the error handler answers it (503).
    const url = await flows.authorizationUrl(login)
    const key = loginKey(keyPrefix, login.state)
    await store.set(key, seal(bindingKey(binding), key, Buffer.from(JSON.stringify(login))), config.session.loginTimeoutMs)
    if (options.pending !== undefined && options.audit !== undefined) {
      for (const old of options.pending.started(options.audit.client(request), key)) store.delete(old).catch(() => {})
    }
    reply.setCookie(loginCookie, binding, loginCookieOptions)
    request.portcullis.outcome = 'sign_in_started'
    return reply.header('cache-control', 'no-store').redirect(url, 302)
  })

  app.get(`${authPrefix}/callback`, { config: { gateway: true } }, async (request, reply) => {
    const query = request.query as Record<string, unknown>
    const state = query.state
    const binding = request.cookies[loginCookie]
    if (typeof state !== 'string' || state === '' || state.length > maxStateLength || binding === undefined || !bindingPattern.test(binding)) {
      return fail(request, reply, gatewayError('PCS_LOGIN_STATE_INVALID'), 'bad_state')
    }
    const key = loginKey(keyPrefix, state)
    // take(): single use, so a replayed callback finds nothing. A store failure rejects (503).
    const sealed = await store.take(key)
    options.pending?.finished(key)
    const plain = sealed === null ? null : open(bindingKey(binding), key, sealed)
    if (plain === null) return fail(request, reply, gatewayError('PCS_LOGIN_STATE_INVALID'), 'bad_state')
    const login = JSON.parse(plain.toString('utf8')) as PendingLogin

    const providerError = query.error
    if (typeof providerError === 'string') {
      if (login.silent && ['login_required', 'interaction_required', 'consent_required', 'account_selection_required'].includes(providerError)) {
        request.portcullis.outcome = 'silent_sign_in_fallback'
        return reply.redirect(`${authPrefix}/start?rd=${encodeURIComponent(login.rd)}`, 302)
      }
      const message = providerError === 'access_denied'
        ? 'The sign-in was cancelled or refused at the identity provider.'
        : 'The identity provider could not complete the sign-in.'
      return fail(request, reply, gatewayError('PCS_LOGIN_PROVIDER_ERROR', { message, details: { error: providerError.slice(0, 64) } }), 'provider_error')
    }

    const search = (request.raw.url ?? '').split('?')[1] ?? ''
    const callbackUrl = new URL(`${publicUrl}${authPrefix}/callback?${search}`)
    try {
      const { identity, tokens, providerSid } = await flows.exchangeCode(callbackUrl, login)
      const previous = codec.decode(request.cookies[cookie.name])
      if (previous !== null) {
        await sessions.destroy(previous).catch(() => {})
        await options.events?.publish('ended', sessions.keys(previous).session)
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
      if (isGatewayError(err)) {
        request.log.warn({ code: err.code, details: err.details }, 'sign-in failed')
        return fail(request, reply, err, err.code === 'PCS_LOGIN_CLAIMS_INVALID' ? 'claims_invalid' : err.status >= 500 ? 'provider_unavailable' : 'code_invalid')
      }
      throw err
    }
  })
}
