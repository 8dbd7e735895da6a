import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { Metrics } from './metrics.js'

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

/**
 * Registers the access log: exactly one `request` line per request, written when the response
 * has finished, and the request metrics from the same place so the two always agree. The line
 * names the request id, method, normalised path (never the query string, which may carry a code
 * or state), status, duration, route, upstream, the user's subject and the outcome. Must be
 * called on the root instance so it covers every route.
 */
export function registerAccessLog (app: FastifyInstance, metrics: Pick<Metrics, 'request'>): void {
  app.addHook('onRequest', async (request, reply) => {
    reply.header(requestIdHeader, request.id)
  })

  app.addHook('onResponse', async (request, reply) => {
    const state = request.portcullis
    const durationMs = Math.round(reply.elapsedTime * 100) / 100
    const route = routeLabel(request)
    metrics.request(route, reply.statusCode, durationMs)
    request.log.info({
      method: request.method,
      path: state?.path ?? (request.raw.url ?? '').split('?')[0]?.slice(0, 512),
      status: reply.statusCode,
      durationMs,
      route,
      upstream: state?.proxied === true ? state.route?.upstream : undefined,
      user: state?.session?.record.identity.sub,
      outcome: state?.outcome ?? (request.routeOptions.config.gateway === true ? 'gateway' : undefined)
    }, 'request')
  })
}
