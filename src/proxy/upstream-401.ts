import type { FastifyReply, FastifyRequest } from 'fastify'
import { sendError } from '../render/respond.js'
import { decide, type CompiledPolicy } from '../policy/decide.js'
import type { Refresher } from '../session/refresh.js'
import { hasBody, type UpstreamAnswer } from './forward.js'

/** Methods RFC 9110 calls idempotent: sending one twice has the effect of sending it once. */
const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

export interface Upstream401Options {
  readonly refresher: Pick<Refresher, 'refreshRejected'>
  readonly policy: CompiledPolicy
  /** Called again for the refreshed session before the retry (as the gate calls it, e.g. to sign an assertion). */
  readonly onAllowed?: (request: FastifyRequest) => Promise<void> | void
}

/**
 * - `retried`: refreshed and sent again (whatever the second answer is, it goes to the client);
 * - `refused_body`: not retried, the request had a body (streamed, not kept), whatever its method;
 * - `refused_method`: not retried, a request without a body whose method is not idempotent;
 * - `not_refreshed`: the refresh did not produce a new token (no refresh token, provider down,
 *   session ended); the upstream's 401 goes to the client;
 * - `denied`: the refreshed claims no longer pass the access rules (403).
 */
export type Upstream401Outcome = 'retried' | 'refused_method' | 'refused_body' | 'not_refreshed' | 'denied'

/**
 * Why a request may not be sent again, or null when it may. The body is checked first: it alone
 * makes a second sending impossible, so a POST with a body is `refused_body`; the method decides
 * only for a request without one.
 */
export function retryRefusal (request: FastifyRequest): 'refused_method' | 'refused_body' | null {
  // A request body is streamed to the upstream as it arrives and is not kept: once it has
  // been sent there is nothing to send a second time.
  if (hasBody(request.raw)) return 'refused_body'
  return idempotent.has(request.method) ? null : 'refused_method'
}

/**
 * `refresh_on_upstream_401`: when an opted-in route's upstream answers 401 to an idempotent
 * request without a body, the access token it received was refused (revoked, or expired earlier
 * than the provider said), so the session is refreshed once (shared with every concurrent request
 * of the session, in every replica, see session/refresh.ts), the access rules are applied to the
 * refreshed claims, and the request is sent once more. The upstream's 401 body is held back (not
 * read) while this happens, so when the refresh gives nothing new the client still gets it.
 *
 * Returns the handler the proxy calls for a 401: `retry` sends the request again (without a
 * second retry); `pass` sends the upstream response as it is.
 */
export function createUpstream401Handler (options: Upstream401Options): (request: FastifyRequest, reply: FastifyReply, res: UpstreamAnswer, retry: () => void) => Promise<void> {
  const { refresher, policy } = options

  return async function onUpstream401 (request, reply, res, retry) {
    const state = request.portcullis
    const session = state.session
    const decided = (outcome: Upstream401Outcome): void => {
      request.log.info({ upstream401: outcome }, 'upstream answered 401')
    }
    // A bearer token has nothing to refresh: the caller gets the upstream's 401 and brings a new token.
    if (session === null || session.record.bearer === true) return res.pass()
    const refusal = retryRefusal(request)
    if (refusal !== null) {
      decided(refusal)
      return res.pass()
    }
    let fresh
    try {
      fresh = await refresher.refreshRejected(session.ticket, session.record)
    } catch {
      fresh = null
    }
    if (request.raw.destroyed) {
      res.discard()
      return
    }
    if (fresh?.status !== 'refreshed') {
      decided('not_refreshed')
      return res.pass()
    }
    state.session = { ticket: session.ticket, record: fresh.record }
    const decision = decide(policy, state.route, request.method, fresh.record.identity)
    res.discard()
    if (!decision.allow) {
      decided('denied')
      state.outcome = 'denied'
      state.proxied = false
      sendError(request, reply, 'PCS_FORBIDDEN')
      return
    }
    if (options.onAllowed !== undefined) await options.onAllowed(request)
    decided('retried')
    state.outcome = 'retried_after_upstream_401'
    retry()
  }
}
