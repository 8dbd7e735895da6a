/**
 * The audit log: one structured line per security event, written through the gateway's logger at
 * info level with the message `audit` and a field `audit` naming the event. Every line says who
 * (the client address, resolved through trusted proxies, and the user agent), and where known the
 * email and a hash of the session id: the first 16 hex characters of its SHA-256, enough to join
 * lines of one session, useless to resume it. A token, a cookie or a session id itself is never
 * written. docs/security.md lists the events and fields.
 */

import { createHash } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import type { Logger } from './logger.js'

/** What an audit line is written through: the gateway's logger, or anything with its `info`. */
export interface AuditLogger {
  info (fields: Record<string, unknown>, message: string): void
}

/**
 * One audit line, the one shape every security event shares: info level, message `audit`, the
 * event in `audit`, and `client`, `userAgent`, `email`, `session`, `reason` where known. Never a
 * token. For events outside a request (a group fetch, a revocation, a socket closed); requests
 * go through {@link Audit.record}, which fills in who asked.
 */
export function auditLine (logger: AuditLogger, event: string, fields: Record<string, unknown>): void {
  logger.info({ audit: event, ...fields }, 'audit')
}

/** The security events (other modules add their own names with the same line shape). */
export type AuditEvent =
  | 'sign_in'
  | 'sign_in_refused'
  | 'sign_out'
  | 'session_ended'
  | 'forbidden'
  | 'rate_limited'
  | 'bad_ticket'

export interface AuditDetails {
  readonly email?: string | null | undefined
  /** The session id (hashed before it is written). */
  readonly sessionId?: string | null | undefined
  readonly reason?: string | undefined
}

export interface Audit {
  /** Writes one audit line for `event` about `request`. */
  record (event: AuditEvent, request: FastifyRequest, details?: AuditDetails): void
  /** The client address of a request (through trusted proxies), computed once per request. */
  client (request: FastifyRequest): string
}

/** Longest user agent written; the rest of a client-chosen header is not worth a log line's size. */
const MAX_USER_AGENT = 256

/** The first 16 hex characters of SHA-256 over a session id. */
export function sessionHash (sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('hex').slice(0, 16)
}

/** The user agent of a request, cut to a bounded length, or undefined when none was sent. */
export function userAgentOf (request: FastifyRequest): string | undefined {
  const ua = request.headers['user-agent']
  return typeof ua === 'string' ? ua.slice(0, MAX_USER_AGENT) : undefined
}

/**
 * Creates the audit writer. `tls` tells the forwarding logic the scheme of the listener (only the
 * address is used here). The client address is kept on the request state, so the access line,
 * the proxy and any audit line of one request resolve it once.
 */
/** What the audit needs of the forwarding logic: the client address behind trusted proxies. */
export interface ClientResolver {
  resolve (peer: string, headers: FastifyRequest['headers'], tls: boolean): { readonly clientIp: string }
}

export function createAudit (logger: Logger, forwarding: ClientResolver, tls: boolean): Audit {
  function client (request: FastifyRequest): string {
    const state = request.portcullis as typeof request.portcullis | null | undefined
    const known = state?.client
    if (typeof known === 'string') return known
    const resolved = forwarding.resolve(request.socket?.remoteAddress ?? '', request.headers, tls).clientIp
    if (state !== null && state !== undefined) state.client = resolved
    return resolved
  }

  function record (event: AuditEvent, request: FastifyRequest, details: AuditDetails = {}): void {
    const line: Record<string, unknown> = { audit: event, client: client(request), requestId: request.id }
    const ua = userAgentOf(request)
    if (ua !== undefined) line.userAgent = ua
    if (typeof details.email === 'string' && details.email !== '') line.email = details.email
    if (typeof details.sessionId === 'string' && details.sessionId !== '') line.session = sessionHash(details.sessionId)
    if (details.reason !== undefined) line.reason = details.reason
    logger.info(line, 'audit')
  }

  return { record, client }
}
