import { auditLine, userAgentOf } from '../observability/audit.js'
import type { FastifyRequest } from 'fastify'
import type { AnonymousReason } from '../domain/outcomes.js'
import { gatewayError } from '../errors.js'
import { withoutExpiredGroups } from '../groups/resolver.js'
import type { BearerVerifier } from './bearer.js'
import type { Logger } from '../observability/logger.js'
import type { SessionCache } from '../session/cache.js'
import type { Refresher } from '../session/refresh.js'
import type { Sessions } from '../session/sessions.js'
import type { Ticket, TicketCodec } from '../session/ticket.js'
import type { SessionRecord } from '../domain/types.js'
import { BoundedMap } from '../util/bounded-map.js'

export type AuthOutcome =
  | { readonly kind: 'signed_in', readonly ticket: Ticket, readonly record: SessionRecord, readonly refreshed: boolean }
  /**
   * No usable session. `hadCookie`: a cookie was sent but led nowhere (clear it). `bearerError`:
   * a bearer token on an opted-in route was refused (answer 401 `Bearer error="invalid_token"`).
   */
  | { readonly kind: 'anonymous', readonly hadCookie: boolean, readonly reason: AnonymousReason, readonly bearerError?: string }
  /** The access token expired and the provider gave no refresh token: sign in again (silently if possible). */
  | { readonly kind: 'reauth', readonly ticket: Ticket }

/**
 * True when the outcome is a session that ended, rather than none at all: its lifetime is over,
 * or its refresh grant is dead. Such a request answers `PCS_SESSION_EXPIRED`, not
 * `PCS_UNAUTHENTICATED`.
 */
export function sessionEnded (outcome: AuthOutcome): boolean {
  if (outcome.kind === 'reauth') return true
  return outcome.kind === 'anonymous' && (outcome.reason === 'lifetime_over' || outcome.reason.startsWith('refresh_'))
}

export interface Authenticator {
  /**
   * Finds the request's session and makes sure its access token is fresh. Rejects with a
   * GatewayError (503) when the store or a needed refresh is unavailable; never lets a request
   * through on a session it could not check (fail closed).
   */
  authenticate (request: FastifyRequest): Promise<AuthOutcome>
  /**
   * The signed-in outcome of {@link Authenticator.authenticate} when it is known without waiting:
   * a cookie that verified before, whose session is cached, within its lifetime and needs no
   * refresh. Null in every other case (call `authenticate`, which decides them all).
   */
  authenticateCached (request: FastifyRequest): AuthOutcome | null
}

export interface AuthenticatorOptions {
  readonly cookieName: string
  readonly codec: TicketCodec
  readonly sessions: Sessions
  readonly refresher: Refresher
  readonly idleTimeoutMs: number
  readonly logger: Logger
  readonly now?: () => number
  /** Optional in-process cache in front of the store (see session/cache.ts). */
  readonly cache?: SessionCache | undefined
  /**
   * Bearer ID tokens (http/bearer.ts): on a route that opted in, a request with
   * `Authorization: Bearer` is authenticated by its token alone, never by the cookie.
   */
  readonly bearer?: BearerVerifier | null
}

/** Touch the store's idle timer at most this often per session (a write per request would double the store load). */
const touchEveryFraction = 50

export function createAuthenticator (options: AuthenticatorOptions): Authenticator {
  const { codec, sessions, refresher, cookieName, cache, bearer } = options
  const now = options.now ?? Date.now

  // Never the token: the reason it was refused, and who sent it.
  function audit (request: FastifyRequest, event: string, reason: string): void {
    auditLine(options.logger, event, { client: request.ip, userAgent: userAgentOf(request), reason })
  }
  const touchIntervalMs = Math.max(1000, Math.floor(options.idleTimeoutMs / touchEveryFraction))
  // Last touch per session key; bounded so a flood of sessions cannot grow it without limit.
  const touched = new BoundedMap<string, number>(100_000)

  // Fire and forget, at most once per interval per session: the request never waits for it.
  function touch (id: string, ticket: Ticket, record: SessionRecord): void {
    const last = touched.get(id)
    const t = now()
    if (last !== undefined && t - last < touchIntervalMs) return
    touched.set(id, t)
    const ttl = Math.min(options.idleTimeoutMs, record.expiresAt - t)
    if (ttl > 0) sessions.touch(ticket, ttl).catch(() => { touched.delete(id) })
  }

  // With the cache on, the cookie values seen recently are remembered with their verified ticket
  // and store key, so a cached request does no HMAC and no hash: only an exact cookie value that
  // passed verification before finds an entry. Bounded like the cache.
  const verified = new BoundedMap<string, { ticket: Ticket, id: string }>(cache?.maxEntries ?? 1)
  function decode (raw: string): { ticket: Ticket, id: string } | null {
    const known = verified.get(raw)
    if (known !== undefined) return known
    const ticket = codec.decode(raw)
    if (ticket === null) return null
    const entry = { ticket, id: sessions.keys(ticket).session }
    if (cache !== undefined) verified.set(raw, entry)
    return entry
  }

  return {
    authenticateCached (request) {
      if (cache === undefined || bearer?.tokenOf(request) != null) return null
      const raw = request.cookies[cookieName]
      if (raw === undefined) return null
      const known = verified.get(raw)
      if (known === undefined) return null
      const record = cache.get(known.id, known.ticket)
      if (record === undefined || record.expiresAt <= now() || refresher.needsRefresh(record)) return null
      touch(known.id, known.ticket, record)
      return { kind: 'signed_in', ticket: known.ticket, record, refreshed: false }
    },

    async authenticate (request) {
      const token = bearer?.tokenOf(request) ?? null
      if (bearer != null && token !== null) {
        const result = await bearer.verify(token)
        if (result.ok) return { kind: 'signed_in', ticket: result.ticket, record: result.record, refreshed: false }
        audit(request, 'bearer_refused', result.description)
        return { kind: 'anonymous', hadCookie: false, reason: 'bearer_invalid', bearerError: result.description }
      }
      const raw = request.cookies[cookieName]
      if (raw === undefined) return { kind: 'anonymous', hadCookie: false, reason: 'no_cookie' }
      const decoded = decode(raw)
      if (decoded === null) return { kind: 'anonymous', hadCookie: true, reason: 'bad_cookie' }
      const { ticket, id } = decoded

      // One store round trip for a miss (a single GET, or GET and PTTL pipelined for the cache).
      let record = cache?.get(id, ticket) ?? null
      if (record === null && cache !== undefined) {
        const token = cache.begin()
        const entry = await sessions.loadEntry(ticket)
        if (entry !== null) cache.set(id, ticket, entry.record, entry.ttlMs, token)
        record = entry?.record ?? null
      } else if (record === null) {
        record = await sessions.load(ticket)
      }
      // The store forgets a session at its lifetime (its TTL never runs past it): the signed
      // expiry in the ticket tells that end from a session that is simply not there.
      if (record === null) return { kind: 'anonymous', hadCookie: true, reason: ticket.expiresAt !== undefined && ticket.expiresAt <= now() ? 'lifetime_over' : 'no_session' }
      if (record.expiresAt <= now()) {
        cache?.invalidate(id)
        await sessions.destroy(ticket)
        return { kind: 'anonymous', hadCookie: true, reason: 'lifetime_over' }
      }

      const fresh = await refresher.ensureFresh(ticket, record)
      switch (fresh.status) {
        case 'fresh':
          touch(id, ticket, fresh.record)
          return { kind: 'signed_in', ticket, record: fresh.record, refreshed: false }
        case 'refreshed':
          // Saved here with the store TTL below; a record another process saved is read again.
          if (fresh.here) cache?.set(id, ticket, fresh.record, Math.min(options.idleTimeoutMs, fresh.record.expiresAt - now()))
          return { kind: 'signed_in', ticket, record: fresh.record, refreshed: true }
        case 'ended':
          cache?.invalidate(id)
          return { kind: 'anonymous', hadCookie: true, reason: `refresh_${fresh.reason}` }
        case 'no_refresh_token':
          return { kind: 'reauth', ticket }
        case 'unavailable':
          if (fresh.usable) {
            options.logger.warn({ reason: fresh.reason }, 'refresh unavailable; serving with the still-valid access token')
            // Served without the refresh that would fetch them again: groups past max_age are dropped.
            const identity = withoutExpiredGroups(fresh.record.identity, now())
            const record = identity === fresh.record.identity ? fresh.record : { ...fresh.record, identity }
            return { kind: 'signed_in', ticket, record, refreshed: false }
          }
          throw gatewayError('PCS_REFRESH_UNAVAILABLE', { details: { reason: fresh.reason } })
      }
    }
  }
}
