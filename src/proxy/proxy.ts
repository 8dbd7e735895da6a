import type { IncomingHttpHeaders } from 'node:http'
import httpProxy from '@fastify/http-proxy'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config, RouteConfig } from '../config/types.js'
import { gatewayError } from '../errors.js'
import { sendError } from '../http/respond.js'
import type { createForwarding } from './forwarded.js'
import type { createIdentityHeaders } from './identity-headers.js'
import { discard, type UpstreamResponse } from './upstream-401.js'

type Headers = Record<string, string | string[] | undefined>

export interface ProxyOptions {
  readonly config: Config
  readonly identityHeaders: ReturnType<typeof createIdentityHeaders>
  readonly forwarding: ReturnType<typeof createForwarding>
  /** Called with each upstream failure (metrics). */
  readonly onUpstreamError?: (route: RouteConfig | null, code: string) => void
  /**
   * Handles an upstream 401 on a route with `refresh_on_upstream_401` (see upstream-401.ts):
   * either `retry()` (sends the request once more, never a third time) or send `res` itself.
   */
  readonly onUpstream401?: (request: FastifyRequest, reply: FastifyReply, res: UpstreamResponse, retry: () => void) => Promise<void>
}

/** Origin and base path of a route's upstream, split once. */
function splitUpstream (upstream: string): { origin: string, basePath: string } {
  const url = new URL(upstream)
  return { origin: url.origin, basePath: url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '') }
}

/**
 * The reverse proxy: one @fastify/http-proxy registration at the root whose upstream is chosen per
 * request from the route the gate matched, and whose path is the gate's normalised path (so the
 * path that was authorised is the path the upstream sees). Bodies are streamed, never buffered;
 * WebSocket upgrades pass through the same gate before they are proxied.
 */
export async function registerProxy (app: FastifyInstance, options: ProxyOptions): Promise<void> {
  const { config, identityHeaders, forwarding } = options
  // Split lazily per route object: a config reload brings new route objects, and a request
  // still in flight keeps the upstream of the route it matched.
  const upstreams = new WeakMap<RouteConfig, { origin: string, basePath: string }>()

  function target (request: FastifyRequest): { origin: string, basePath: string } {
    const route = request.portcullis.route
    if (route === null) throw gatewayError('PCS_NOT_FOUND')
    let upstream = upstreams.get(route)
    if (upstream === undefined) {
      upstream = splitUpstream(route.upstream)
      upstreams.set(route, upstream)
    }
    return upstream
  }

  /** The one place that builds what the upstream receives: client identity copies out, ours in. */
  function upstreamHeaders (request: FastifyRequest, incoming: Headers): Headers {
    const session = request.portcullis.session
    const headers = identityHeaders.apply(incoming, {
      identity: session?.record.identity ?? null,
      accessToken: session?.record.tokens.accessToken ?? null,
      idToken: session?.record.tokens.idToken ?? null,
      assertion: request.portcullis.assertion
    }) as Headers
    const fwd = forwarding.resolve(request.socket.remoteAddress ?? '', request.headers as IncomingHttpHeaders, config.server.tls !== null)
    delete headers.forwarded
    headers['x-forwarded-for'] = fwd.xff
    headers['x-forwarded-proto'] = fwd.proto
    if (fwd.host !== undefined) headers['x-forwarded-host'] = fwd.host
    else delete headers['x-forwarded-host']
    headers['x-request-id'] = request.id
    return headers
  }

  function onError (reply: FastifyReply, { error }: { error: Error & { code?: string, statusCode?: number } }): void {
    const request = reply.request
    const timeout = error.statusCode === 504 || error.code === 'FST_REPLY_FROM_GATEWAY_TIMEOUT'
    options.onUpstreamError?.(request.portcullis.route, error.code ?? 'unknown')
    request.portcullis.proxied = false
    request.portcullis.outcome = timeout ? 'upstream_timeout' : 'upstream_unavailable'
    request.log.warn({ code: error.code, upstream: request.portcullis.route?.upstream }, 'upstream request failed')
    sendError(request, reply, timeout ? 'PCS_UPSTREAM_TIMEOUT' : 'PCS_UPSTREAM_UNAVAILABLE')
  }

  // Requests already sent a second time after an upstream 401: never a third.
  const retried = new WeakSet<FastifyRequest>()
  // The options the proxy handed over for a request, kept only for requests that may be retried.
  const replyOptionsOf = new WeakMap<FastifyRequest, object>()
  const onUpstream401 = options.onUpstream401

  /**
   * The upstream's answer: passed on, or, for a 401 on a route with `refresh_on_upstream_401`,
   * handed to `onUpstream401`, which may send the request once more. One function for every
   * request (it receives the request), so forwarding builds no closure and no options object.
   */
  function onResponse (req: FastifyRequest, rep: FastifyReply, res: UpstreamResponse): void {
    if (res.statusCode === 401 && onUpstream401 !== undefined && req.portcullis.route?.refreshOnUpstream401 === true && !retried.has(req)) {
      onUpstream401(req, rep, res, () => {
        retried.add(req)
        // forward() kept the options of every request on an opted-in route, as this one is.
        forward(req, rep, replyOptionsOf.get(req) as object)
      }).catch((err: unknown) => {
        discard(res.stream)
        req.log.error({ err }, 'upstream 401 handling failed')
        if (!rep.sent) sendError(req, rep, 'PCS_INTERNAL')
      })
      return
    }
    rep.send(res.stream)
  }

  /** Sends the request upstream with the proxy's options (which carry `onResponse` above). */
  function forward (request: FastifyRequest, reply: FastifyReply, replyOptions: object): FastifyReply {
    const { basePath } = target(request)
    request.portcullis.proxied = true
    if (onUpstream401 !== undefined && request.portcullis.route?.refreshOnUpstream401 === true) replyOptionsOf.set(request, replyOptions)
    return reply.from(basePath + (request.portcullis.path ?? '/') + request.portcullis.search, replyOptions as never)
  }

  await app.register(async (scope) => {
    // The WebSocket proxy takes its destination from the request URL: make it the normalised
    // path (with the upstream's base path) before the proxy's handler runs, after the gate.
    scope.addHook('onRequest', (request, _reply, done) => {
      const state = request.portcullis
      if (state.route !== null && state.path !== null) request.raw.url = target(request).basePath + state.path + state.search
      done()
    })
    await scope.register(httpProxy, {
    upstream: '',
    prefix: '/',
    websocket: true,
    disableRequestLogging: true,
    undici: {
      connections: 128,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connectTimeout: Math.min(config.server.upstreamTimeoutMs, 10_000),
      headersTimeout: config.server.upstreamTimeoutMs,
      bodyTimeout: 0
    },
    replyOptions: {
      getUpstream: (request: FastifyRequest) => target(request).origin,
      rewriteRequestHeaders: (request: FastifyRequest, headers: Headers) => upstreamHeaders(request, headers),
      onError,
      onResponse,
      // Never replay a request on our own: the upstream decides what is safe to retry.
      retryDelay: () => null
    },
    wsClientOptions: {
      rewriteRequestHeaders: (headers: Headers, request: FastifyRequest) => {
        const out = upstreamHeaders(request, { ...request.headers })
        for (const name of ['host', 'connection', 'upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol']) delete out[name]
        return { ...headers, ...out }
      }
    },
    handler: (request: FastifyRequest, reply: FastifyReply, _dest: string, replyOptions: object) => forward(request, reply, replyOptions)
    } as never)
  })

  app.setNotFoundHandler((request, reply) => sendError(request, reply, 'PCS_NOT_FOUND'))
}
