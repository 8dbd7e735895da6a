import type {} from '@fastify/cookie'
import type { RouteConfig } from '../config/types.js'
import type { RequestOutcome } from '../domain/outcomes.js'
import type { Ticket } from '../session/ticket.js'
import type { SessionRecord } from '../domain/types.js'

/** What the gateway learned about a request while handling it (read by the proxy and the access log). */
export interface RequestState {
  /** Normalised path (null when the request never reached the gate, e.g. gateway endpoints). */
  path: string | null
  /** The raw query string including `?`, or ''. */
  search: string
  route: RouteConfig | null
  session: { readonly ticket: Ticket, readonly record: SessionRecord } | null
  /** Short outcome for the access log (the vocabulary is `domain/outcomes.ts`). */
  outcome: RequestOutcome | null
  /** True once the request is handed to the upstream (its response is not the gateway's). */
  proxied: boolean
  /** The signed identity assertion for the upstream, when enabled. */
  assertion: string | null
  /** True once the access line is written (a finished response and a closed socket both try). */
  logged: boolean
  /** The client's address through trusted proxies, once something needed it (see observability/audit.ts). */
  client: string | null
}

declare module 'fastify' {
  interface FastifyRequest {
    portcullis: RequestState
  }
  interface FastifyContextConfig {
    /** Set on the gateway's own routes: the proxy gate leaves them alone. */
    gateway?: boolean
  }
}

export function newRequestState (): RequestState {
  return { path: null, search: '', route: null, session: null, outcome: null, proxied: false, assertion: null, logged: false, client: null }
}
