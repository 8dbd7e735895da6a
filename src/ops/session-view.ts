/*
 * How a session is shown and selected, the same for the `portcullis sessions` command and the
 * admin endpoint: never a token, a cookie or an id.
 */
import type { ListedSession, SessionSelector } from '../session/session-index.js'

/** One session as the CLI and the admin endpoint show it: never a token, a cookie or an id. */
export function sessionView (s: ListedSession): Record<string, string | null> {
  return {
    session: s.ref,
    email: s.email,
    created: new Date(s.createdAt).toISOString(),
    last_seen: new Date(s.lastSeenAt).toISOString(),
    expires: new Date(s.expiresAt).toISOString(),
    client: s.client,
    user_agent: s.userAgent
  }
}

/** The selector of `{"email":E}`, `{"session":REF}` or `{"all":true}` (exactly one), or null. */
export function selectorFrom (fields: Record<string, unknown>): SessionSelector | null {
  const given = ['email', 'session', 'all'].filter((k) => fields[k] !== undefined)
  if (given.length !== 1) return null
  if (typeof fields.email === 'string' && fields.email.trim() !== '') return { email: fields.email }
  if (typeof fields.session === 'string' && /^[0-9a-f]{16}$/i.test(fields.session)) return { ref: fields.session }
  if (fields.all === true) return { all: true }
  return null
}
