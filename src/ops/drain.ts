import type { FastifyInstance } from 'fastify'
import { sendError } from '../render/respond.js'

/*
 * The drain at shutdown, as requests see it. Once it starts, a request that still arrives (on a
 * keep-alive connection that was busy when the listener closed, or pipelined behind one) gets the
 * gateway's own 503 with `Connection: close`, through the normal hooks, so it has an access line
 * like every other request (Fastify's own closing shortcut, `return503OnClosing`, writes a line
 * of its own instead and is turned off). When the drain outlives `server.shutdown_timeout`, the
 * gateway cuts what still runs; those requests are logged as cut by the gateway, not as
 * abandoned by their clients.
 */

export interface Drain {
  /** True from the start of the shutdown on. */
  readonly draining: () => boolean
  /** True once the gateway cuts the connections still open at `server.shutdown_timeout`. */
  readonly cutting: () => boolean
  begin (): void
  cut (): void
}

/** The drain's state, set by the gateway's `close()` and read by the hooks. */
export function createDrain (): Drain {
  let draining = false
  let cutting = false
  return {
    draining: () => draining,
    cutting: () => cutting,
    begin: () => { draining = true },
    cut: () => { cutting = true }
  }
}

/**
 * Registers the hook that answers requests arriving during the drain with `503`
 * `PCS_SHUTTING_DOWN` and `Connection: close`. Register it after the access log, before the
 * gate, so the refused request is logged and nothing else runs for it.
 */
export function registerDrainRefusal (app: FastifyInstance, drain: Pick<Drain, 'draining'>): void {
  app.addHook('onRequest', (request, reply, done) => {
    if (!drain.draining()) return done()
    request.portcullis.outcome = 'draining'
    sendError(request, reply.header('connection', 'close'), 'PCS_SHUTTING_DOWN', { retryAfterSeconds: 1 })
    done()
  })
}
