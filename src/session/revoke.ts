import { auditLine, type AuditLogger } from '../observability/audit.js'
import type { SessionEvents } from './events.js'
import { keysOfTag, sessionRef } from './keys.js'
import type { ListedSession, SessionIndex, SessionSelector } from './session-index.js'
import type { SessionStore } from './store.js'

/*
 * Ending sessions on someone else's word: an operator (CLI, admin endpoint) or the provider
 * (back-channel logout). Each session is deleted with its refresh lock, so a refresh in flight
 * anywhere cannot write it back (its fenced save finds the lock gone), and `ended` is announced
 * on the session events: every replica drops it from its cache, wakes the requests waiting on
 * its refresh, and closes its WebSockets.
 */

/** Who asked, for the audit line. */
export interface RevocationRequest {
  /** `cli`, `admin_api`, `backchannel_logout`... */
  readonly by: string
  readonly reason: string
  readonly client?: string | null
  readonly userAgent?: string | null
}

export interface Revoker {
  /** Ends the sessions the selector names; resolves with what was ended. */
  revoke (selector: SessionSelector, request: RevocationRequest, audit?: string): Promise<readonly ListedSession[]>
}

export interface RevokerOptions {
  readonly store: SessionStore
  readonly index: SessionIndex
  readonly events: Pick<SessionEvents, 'publish'>
  readonly keyPrefix: string
  readonly logger: AuditLogger
  /** This process's open WebSockets of a session (store key), counted for the audit line. */
  readonly openSockets?: (id: string) => number
}

/** Creates the {@link Revoker}. */
export function createRevoker (options: RevokerOptions): Revoker {
  const { store, index, events, keyPrefix, logger } = options
  return {
    async revoke (selector, request, event = 'sessions_revoked') {
      const found = await index.find(selector)
      let sockets = 0
      for (const session of found) {
        const keys = keysOfTag(keyPrefix, session.tag)
        await store.delete(keys.session)
        await store.delete(keys.lock)
        await index.remove(session.tag)
        sockets += options.openSockets?.(keys.session) ?? 0
        await events.publish('ended', keys.session)
      }
      const emails = [...new Set(found.map((s) => s.email))]
      auditLine(logger, event, {
        by: request.by,
        reason: request.reason,
        client: request.client ?? undefined,
        userAgent: request.userAgent ?? undefined,
        selector: describe(selector),
        email: 'email' in selector ? selector.email : emails.length === 1 ? emails[0] : undefined,
        sessions: found.map((s) => sessionRef(s.tag)),
        count: found.length,
        sockets
      })
      return found
    }
  }
}

/** The selector as the audit line names it (a session reference, never a session id). */
function describe (selector: SessionSelector): string {
  if ('email' in selector) return 'email'
  if ('ref' in selector) return `session ${selector.ref}`
  if ('providerSid' in selector) return 'sid'
  if ('sub' in selector) return 'sub'
  return 'all'
}
