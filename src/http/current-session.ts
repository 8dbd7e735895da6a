import type { FastifyRequest } from 'fastify'
import type { Sessions } from '../session/sessions.js'
import type { Ticket, TicketCodec } from '../session/ticket.js'
import type { SessionRecord } from '../domain/types.js'

export interface CurrentSessionOptions {
  readonly cookieName: string
  readonly codec: TicketCodec
  readonly sessions: Sessions
  readonly now: () => number
}

/**
 * The browser's session as the sign-in and sign-out pages need it: the ticket and record when the
 * cookie verifies and the session is within its lifetime, else null. It never refreshes and never
 * throws (a store that cannot answer reads as "not signed in": these pages then offer sign-in,
 * and the proxy gate still fails closed on its own).
 */
export async function currentSession (request: FastifyRequest, options: CurrentSessionOptions): Promise<{ ticket: Ticket, record: SessionRecord } | null> {
  const ticket = options.codec.decode(request.cookies[options.cookieName])
  if (ticket === null) return null
  try {
    const record = await options.sessions.load(ticket)
    return record !== null && record.expiresAt > options.now() ? { ticket, record } : null
  } catch {
    return null
  }
}

/**
 * True when the session can serve requests without a new sign-in: its access token is still
 * valid, or a refresh token can renew it. (Without either, the gateway runs a silent sign-in,
 * whose callback must complete.)
 */
export function usableWithoutSignIn (record: SessionRecord, now: number): boolean {
  const { accessTokenExpiresAt, refreshToken } = record.tokens
  return refreshToken !== null || accessTokenExpiresAt === null || accessTokenExpiresAt > now
}
