import type { Socket } from 'node:net'
import type { FastifyRequest } from 'fastify'
import type { RouteConfig } from '../config/types.js'
import { decide, type CompiledPolicy } from '../policy/decide.js'
import type { SessionEvents } from '../session/events.js'
import { sessionRef, tagOfKey } from '../session/keys.js'
import { auditLine, type AuditLogger } from '../observability/audit.js'
import type { SessionStore } from '../session/store.js'
import type { Ticket } from '../session/ticket.js'
import type { SessionRecord } from '../domain/types.js'
import type { RouteTable } from '../policy/routes.js'

/*
 * Proxied WebSockets follow their session. A socket opened for a session is remembered by the
 * session's store key; when the session ends by any means it is closed with code 1008 (policy
 * violation), the code a client sees as "this connection is no longer allowed":
 * - sign-out, revocation, back-channel logout, a refresh that ended the session: each announces
 *   `ended` on the session events, which every replica hears (its own at once);
 * - lifetime or idle timeout: a timer per socket fires at the session's absolute expiry or when
 *   the store would forget it, whichever is first, and checks the store again;
 * - a config reload whose routes or rules no longer allow the socket's identity on its path.
 */

/** The WebSocket close code sent when the session behind a socket is gone or no longer allowed. */
export const SESSION_ENDED_CLOSE_CODE = 1008

/** The part of a `ws` WebSocket used here. */
interface ClientSocket {
  readonly readyState: number
  close (code: number, reason: string): void
  terminate (): void
  readonly _socket?: Socket
}

interface Tracked {
  readonly ws: ClientSocket
  readonly id: string
  readonly record: SessionRecord
  readonly path: string
  readonly method: string
  timer: NodeJS.Timeout | null
}

export interface SocketTracker {
  /** The WebSocket scope's `onRequest` hook, after the gate: remembers whose socket this will be. */
  remember (request: FastifyRequest): void
  /** The hooks given to the WebSocket proxy. */
  readonly hooks: {
    onConnect (context: unknown, source: ClientSocket): void
    onDisconnect (context: unknown, source: ClientSocket): void
  }
  /** Open sockets of the session with store key `id` in this process. */
  openFor (id: string): number
  /** Closes the session's sockets here; returns how many. */
  closeSession (id: string, reason: string): number
  /** Closes every socket the routes and policy no longer allow; returns how many. */
  recheck (routes: RouteTable, policy: CompiledPolicy): number
  /** Stops the timers (shutdown). */
  stop (): void
  readonly size: number
}

export interface SocketTrackerOptions {
  readonly store: Pick<SessionStore, 'ttl'>
  readonly events: Pick<SessionEvents, 'onEvent'>
  readonly keyPrefix: string
  /** The store key of a session (its id in the session events). */
  readonly sessionKey: (ticket: Ticket) => string
  readonly logger: AuditLogger
  readonly now?: () => number
}

/** How soon a timer that could not reach the store tries again. */
const RETRY_MS = 1000
/** setTimeout's upper bound; longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1
/** How long a client has to answer the close frame before its connection is cut. */
const CLOSE_GRACE_MS = 1000

/** Creates the tracker of proxied WebSockets in this process. */
export function createSocketTracker (options: SocketTrackerOptions): SocketTracker {
  const { store, logger, keyPrefix } = options
  const now = options.now ?? Date.now
  // Upgrade requests that passed the gate, by their connection, until the proxy connects them.
  const pending = new WeakMap<Socket, Omit<Tracked, 'ws' | 'timer'>>()
  const bySession = new Map<string, Set<Tracked>>()
  const bySocket = new Map<ClientSocket, Tracked>()

  function closeOne (t: Tracked, reason: string): void {
    untrack(t)
    if (t.ws.readyState > 1) return
    t.ws.close(SESSION_ENDED_CLOSE_CODE, reason)
    // A client that never answers the close frame does not keep the connection.
    setTimeout(() => { if (t.ws.readyState !== 3) t.ws.terminate() }, CLOSE_GRACE_MS).unref()
  }

  function untrack (t: Tracked): void {
    if (t.timer !== null) clearTimeout(t.timer)
    t.timer = null
    bySocket.delete(t.ws)
    const set = bySession.get(t.id)
    if (set?.delete(t) !== true) return
    if (set.size === 0) bySession.delete(t.id)
  }

  function closeSession (id: string, reason: string): number {
    const set = bySession.get(id)
    if (set === undefined) return 0
    const all = [...set]
    for (const t of all) closeOne(t, reason)
    auditLine(logger, 'session_ended', { session: sessionRefOf(id), email: all[0]!.record.identity.email, reason, sockets: all.length })
    return all.length
  }

  /** Arms the timer that checks the session at its expiry or when the store would forget it. */
  function schedule (t: Tracked, inMs: number): void {
    t.timer = setTimeout(() => { void check(t) }, Math.max(0, Math.min(inMs, MAX_TIMER_MS)))
    t.timer.unref()
  }

  async function check (t: Tracked): Promise<void> {
    t.timer = null
    const left = t.record.expiresAt - now()
    if (left <= 0) {
      closeSession(t.id, 'lifetime_over')
      return
    }
    let ttl: number
    try {
      ttl = await store.ttl(t.id)
    } catch {
      if (bySession.get(t.id)?.has(t) === true) schedule(t, RETRY_MS)
      return
    }
    if (bySession.get(t.id)?.has(t) !== true) return
    if (ttl < 0) {
      closeSession(t.id, 'idle_timeout')
      return
    }
    schedule(t, Math.min(left, ttl))
  }

  options.events.onEvent((kind, id) => {
    if (kind === 'ended') closeSession(id, 'session_ended')
  })

  return {
    remember (request) {
      const state = request.portcullis
      const session = state.session
      if (session === null || state.path === null) return
      const id = options.sessionKey(session.ticket)
      pending.set(request.raw.socket, { id, record: session.record, path: state.path, method: request.method })
    },
    hooks: {
      onConnect (_context, source) {
        const socket = source._socket
        const known = socket === undefined ? undefined : pending.get(socket)
        if (known === undefined || socket === undefined) return
        pending.delete(socket)
        const t: Tracked = { ...known, ws: source, timer: null }
        let set = bySession.get(t.id)
        if (set === undefined) bySession.set(t.id, set = new Set())
        set.add(t)
        bySocket.set(source, t)
        void check(t)
      },
      onDisconnect (_context, source) {
        const t = bySocket.get(source)
        if (t !== undefined) untrack(t)
      }
    },
    openFor: (id) => bySession.get(id)?.size ?? 0,
    closeSession,
    recheck (routes, policy) {
      let closed = 0
      for (const set of [...bySession.values()]) {
        for (const t of [...set]) {
          const route: RouteConfig | null = routes.match(t.path)
          if (route !== null && decide(policy, route, t.method, t.record.identity).allow) continue
          closeOne(t, 'not_allowed_after_reload')
          auditLine(logger, 'forbidden', { session: sessionRefOf(t.id), email: t.record.identity.email, reason: 'not_allowed_after_reload', sockets: 1 })
          closed++
        }
      }
      return closed
    },
    stop () {
      for (const set of bySession.values()) for (const t of set) if (t.timer !== null) clearTimeout(t.timer)
    },
    get size () { return bySocket.size }
  }

  function sessionRefOf (id: string): string | undefined {
    const tag = tagOfKey(keyPrefix, id)
    return tag === null ? undefined : sessionRef(tag)
  }
}
