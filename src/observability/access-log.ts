import type { AccessOutcome } from '../domain/outcomes.js'
import { randomUUID } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { createAccessLineWriter } from './access-line.js'
import { userAgentOf } from './audit.js'
import type { Metrics } from './metrics.js'
import { levelEnabled } from './request-logger.js'

/** Response header that tells the client the request id to quote in a support request. */
export const requestIdHeader = 'x-request-id'

/**
 * The low-cardinality route label of a request: the configured route it matched, the gateway
 * endpoint's registered path, or `none` (refused before any route matched, or not found).
 * Never the request path, which a client can vary without bound.
 */
export function routeLabel (request: FastifyRequest): string {
  const route = request.portcullis?.route
  if (route !== null && route !== undefined) return route.path
  if (request.routeOptions.config.gateway === true && request.routeOptions.url !== undefined) return request.routeOptions.url
  return 'none'
}

/** The status logged for a request whose client went away before the response finished (as nginx does). */
export const clientClosedStatus = 499
/** The status logged for a request the gateway cut at the end of its shutdown drain. */
export const shutdownCutStatus = 503

export interface AccessLogOptions {
  /** True once the gateway itself closes the connections still open (the drain's timeout). */
  readonly cutByGateway?: () => boolean
  /** The client's address through trusted proxies (default: the peer address). */
  readonly client?: (request: FastifyRequest) => string
}

/**
 * Registers the access log: exactly one `request` line per request, written when the response
 * has finished, and the request metrics from the same place so the two always agree. The line
 * names the request id, method, normalised path (never the query string, which may carry a code
 * or state), status, duration, route, upstream, the user's subject and the outcome. A request
 * whose client disconnects first is logged once too, with status 499 and outcome
 * `client_aborted`, unless the gateway cut it at the end of its shutdown drain: then status 503
 * and outcome `shutdown_cut`. The line also names the client's address (`options.client`, through
 * trusted proxies; the peer address without it) and user agent. Must be called on the root
 * instance so it covers every route. The lines go to `logger`'s destination (the gateway's root
 * logger). Returns the writer for requests Node refused before any route (bad request line,
 * timeout), which have no request object.
 */
export function registerAccessLog (app: FastifyInstance, metrics: Pick<Metrics, 'request'>, logger: Logger, options: AccessLogOptions = {}): (line: RefusedLine) => void {
  const clientOf = options.client ?? ((request: FastifyRequest) => request.socket?.remoteAddress ?? '')
  // The line's fields are built here from values that hold no secret, so it skips the redaction
  // pass: a clone and walk of every field, the largest per-request cost the CPU profile showed in
  // the gateway's own code.
  const accessLine = createAccessLineWriter(logger)

  function write (request: FastifyRequest, status: number, elapsedMs: number, aborted: 'client_aborted' | 'shutdown_cut' | null): void {
    // The request state is set by the first onRequest hook; it marks the line as written.
    const state = request.portcullis
    if (state?.logged === true) return
    if (state !== null && state !== undefined) state.logged = true
    const durationMs = Math.round(elapsedMs * 100) / 100
    const route = routeLabel(request)
    metrics.request(route, status, durationMs)
    // A route may lower its own log level (liveness probes): the access line follows it.
    if (!levelEnabled(request.log, 'info')) return
    accessLine({
      requestId: request.id,
      method: request.method,
      path: state?.path ?? (request.raw.url ?? '').split('?')[0]?.slice(0, 512),
      status,
      durationMs,
      route,
      upstream: state?.proxied === true ? state.route?.upstream : undefined,
      user: state?.session?.record.identity.sub,
      outcome: aborted ?? state?.outcome ?? (request.routeOptions.config.gateway === true ? 'gateway' : undefined),
      client: clientOf(request),
      userAgent: userAgentOf(request)
    })
  }

  // Hooks that never wait use the callback form: no promise per request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(requestIdHeader, request.id)
    const started = performance.now()
    // onResponse runs only for a response that finished; a client that hangs up first (a
    // cancelled download, a closed tab during a slow upstream) would otherwise leave no line.
    reply.raw.once('close', () => {
      if (reply.raw.writableFinished) return
      const cut = options.cutByGateway?.() === true
      write(request, cut ? shutdownCutStatus : clientClosedStatus, performance.now() - started, cut ? 'shutdown_cut' : 'client_aborted')
    })
    done()
  })

  app.addHook('onResponse', (request, reply, done) => {
    write(request, reply.statusCode, reply.elapsedTime, null)
    done()
  })

  return (line) => {
    metrics.request('none', line.status, 0)
    accessLine({
      requestId: line.requestId ?? randomUUID(),
      method: line.method ?? '-',
      path: undefined,
      status: line.status,
      durationMs: 0,
      route: 'none',
      upstream: undefined,
      user: undefined,
      outcome: line.outcome,
      client: line.peer.replace(/^::ffff:/, ''),
      userAgent: undefined
    })
  }
}

/** A request refused before the framework made a request of it: no path is logged (it was unreadable). */
export interface RefusedLine {
  readonly status: number
  readonly outcome: AccessOutcome
  /** The peer address of the connection. */
  readonly peer: string
  readonly method?: string | undefined
  readonly requestId?: string | undefined
}
