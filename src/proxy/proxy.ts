import httpProxy, { type FastifyHttpProxyOptions } from '@fastify/http-proxy'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Config, RouteConfig } from '../config/types.js'
import { gatewayError } from '../errors.js'
import { sendError } from '../render/respond.js'
import type { createForwarding } from './forwarded.js'
import type { createIdentityHeaders } from './identity-headers.js'
import { createForwarder, type ExchangeEvents, type UpstreamAnswer } from './forward.js'
import { upstreamPath } from './upstream-path.js'
import type { SocketTracker } from './websockets.js'

type Headers = Record<string, string | string[] | undefined>

/** The router's constraint strategy, as the framework's `addConstraintStrategy` takes it. */
type ConstraintStrategy = Parameters<FastifyInstance['addConstraintStrategy']>[0]
/** What the router stores under a constraint's value (a route's handler). */
type ConstrainedHandler = Parameters<ReturnType<ConstraintStrategy['storage']>['set']>[1]

/**
 * The WebSocket client options: ws's own, plus the upstream header rewriter the proxy plugin reads
 * from them (its README documents `wsClientOptions.rewriteRequestHeaders`; its types omit it).
 */
type WsClientOptions = NonNullable<FastifyHttpProxyOptions['wsClientOptions']> & {
  readonly rewriteRequestHeaders: (headers: Headers, request: FastifyRequest) => Headers
}

export interface ProxyOptions {
  readonly config: Config
  readonly identityHeaders: ReturnType<typeof createIdentityHeaders>
  readonly forwarding: ReturnType<typeof createForwarding>
  /** Whether a cookie name is one of the gateway's own: an upstream's Set-Cookie for it is dropped. */
  readonly ownCookie: (name: string) => boolean
  /** True once the gateway is shutting down: answers then close their connection. */
  readonly draining?: () => boolean
  /** Called with each upstream failure (metrics). */
  readonly onUpstreamError?: (route: RouteConfig | null, code: string) => void
  /**
   * Handles an upstream 401 on a route with `refresh_on_upstream_401` (see upstream-401.ts):
   * either `retry()` (sends the request once more, never a third time), `answer.pass()`, or
   * answer itself after `answer.discard()`.
   */
  readonly onUpstream401?: (request: FastifyRequest, reply: FastifyReply, answer: UpstreamAnswer, retry: () => void) => Promise<void>
  /** Follows proxied WebSockets, to close them when their session ends (websockets.ts). */
  readonly sockets?: SocketTracker
}

/** The route constraint that sends upgrade requests to the WebSocket proxy. */
const UPGRADE = 'portcullisUpgrade'

/** The methods forwarded (others are answered 404 by the gateway; TRACE never reaches an upstream). */
const HTTP_METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS']

/** Origin, host and base path of a route's upstream, split once. */
function splitUpstream (upstream: string): { origin: string, host: string, basePath: string } {
  const url = new URL(upstream)
  return { origin: url.origin, host: url.host, basePath: url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '') }
}

/**
 * The reverse proxy. HTTP requests are forwarded by forward.ts (undici's dispatch written straight
 * to the client socket), to the upstream of the route the gate matched and with the gate's
 * normalised path, so the path that was authorised is the path the upstream sees. Bodies are
 * streamed, never buffered. WebSocket upgrades pass through the same gate and are proxied by
 * @fastify/http-proxy, whose route this registers.
 */
export async function registerProxy (app: FastifyInstance, options: ProxyOptions): Promise<void> {
  const { config, identityHeaders, forwarding } = options
  // Split lazily per route object: a config reload brings new route objects, and a request
  // still in flight keeps the upstream of the route it matched.
  const upstreams = new WeakMap<RouteConfig, { origin: string, host: string, basePath: string }>()

  /** The route's upstream origin and host, and the path (with query) to ask it for. */
  function target (request: Pick<FastifyRequest, 'portcullis'>): { origin: string, host: string, path: string } {
    const route = request.portcullis.route
    if (route === null) throw gatewayError('PCS_NOT_FOUND')
    let upstream = upstreams.get(route)
    if (upstream === undefined) {
      upstream = splitUpstream(route.upstream)
      upstreams.set(route, upstream)
    }
    const state = request.portcullis
    const path = upstreamPath(upstream.basePath, route, state.path ?? '/', state.search)
    if (path === null) throw gatewayError('PCS_BAD_PATH')
    return { origin: upstream.origin, host: upstream.host, path }
  }

  /** The one place that builds what the upstream receives: client identity copies out, ours in. */
  // What the gateway serves, told to the upstream unless a trusted proxy says otherwise: never
  // the client's Host, which an upstream building absolute URLs (redirects, password-reset links)
  // would otherwise take from an attacker.
  const served = new URL(config.server.publicUrl)
  const servedProto = served.protocol === 'https:' ? 'https' : 'http'

  function upstreamHeaders (request: FastifyRequest, incoming: Headers): Headers {
    const session = request.portcullis.session
    const fwd = forwarding.resolve(request.socket.remoteAddress ?? '', request.headers, config.server.tls !== null)
    // Resolved here anyway: the access line and audit lines reuse it (observability/audit.ts).
    request.portcullis.client = fwd.clientIp
    const headers = identityHeaders.apply(incoming, {
      fromTrustedProxy: fwd.trusted,
      identity: session?.record.identity ?? null,
      accessToken: session?.record.tokens.accessToken ?? null,
      idToken: session?.record.tokens.idToken ?? null,
      assertion: request.portcullis.assertion
    })
    headers['x-forwarded-for'] = fwd.xff
    headers['x-forwarded-proto'] = fwd.trusted ? fwd.proto : servedProto
    headers['x-forwarded-host'] = fwd.trusted ? fwd.host ?? served.host : served.host
    headers['x-request-id'] = request.id
    return headers
  }

  function failed (request: FastifyRequest, reply: FastifyReply, error: Error & { code?: string }): void {
    const code = error.code ?? 'unknown'
    const timeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT'
    options.onUpstreamError?.(request.portcullis.route, code)
    request.portcullis.proxied = false
    request.portcullis.outcome = timeout ? 'upstream_timeout' : 'upstream_unavailable'
    request.log.warn({ code, upstream: request.portcullis.route?.upstream }, 'upstream request failed')
    if (!reply.sent) sendError(request, reply, timeout ? 'PCS_UPSTREAM_TIMEOUT' : 'PCS_UPSTREAM_UNAVAILABLE')
  }

  const forwarder = createForwarder({
    connectTimeoutMs: Math.min(config.server.upstreamTimeoutMs, 10_000),
    headersTimeoutMs: config.server.upstreamTimeoutMs,
    ownCookie: options.ownCookie
  })
  app.addHook('onClose', async () => { await forwarder.close() })

  // Requests already sent a second time after an upstream 401: never a third.
  const retried = new WeakSet<FastifyRequest>()
  const onUpstream401 = options.onUpstream401

  /** The events of one exchange; an object per request, its methods shared through the prototype. */
  class Events implements ExchangeEvents {
    constructor (readonly request: FastifyRequest, readonly reply: FastifyReply) {}

    /**
     * The upstream's answer: passed on, or, for a 401 on a route with `refresh_on_upstream_401`,
     * held and handed to `onUpstream401`, which may send the request once more.
     */
    onAnswer (answer: UpstreamAnswer): boolean {
      const { request, reply } = this
      if (answer.statusCode !== 401 || onUpstream401 === undefined || request.portcullis.route?.refreshOnUpstream401 !== true || retried.has(request)) return true
      onUpstream401(request, reply, answer, () => {
        retried.add(request)
        forward(request, reply)
      }).catch((err: unknown) => {
        answer.discard()
        request.log.error({ err }, 'upstream 401 handling failed')
        if (!reply.sent) sendError(request, reply, 'PCS_INTERNAL')
      })
      return false
    }

    onFailure (err: Error & { code?: string }): void { failed(this.request, this.reply, err) }
    ownHeaders (): Record<string, string | number | string[] | undefined> {
      // While draining, a keep-alive client would hold its idle connection (and the shutdown) open.
      if (options.draining?.() === true) this.reply.header('connection', 'close')
      return this.reply.getHeaders()
    }
    takeOver (): void { this.reply.hijack() }
  }

  /** Sends the request upstream; the answer goes straight to the client. */
  function forward (request: FastifyRequest, reply: FastifyReply): void {
    const { origin, host, path } = target(request)
    request.portcullis.proxied = true
    const headers = upstreamHeaders(request, request.headers)
    headers.host = host
    forwarder.forward(request.raw, reply.raw, origin, path, headers, new Events(request, reply))
  }

  // Upgrade requests (WebSocket) are routed to @fastify/http-proxy's routes, every other request
  // to the forwarder's: the same paths, told apart by a route constraint on the Upgrade header.
  const upgradeStrategy: ConstraintStrategy = {
    name: UPGRADE,
    storage () {
      const handlers = new Map<unknown, ConstrainedHandler>()
      return { get: (value) => handlers.get(value) ?? null, set: (value, handler) => { handlers.set(value, handler) } }
    },
    deriveConstraint: (req) => req.headers.upgrade === undefined ? undefined : 'yes',
    mustMatchWhenDerived: false
  }
  app.addConstraintStrategy(upgradeStrategy)

  // Every request body is streamed upstream untouched: none is parsed (the catch-all parser
  // leaves the stream as it is), so no body limit or parse error of the gateway applies.
  const passBody = (_request: FastifyRequest, _payload: unknown, done: (err: null, body?: unknown) => void): void => { done(null) }

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers()
    scope.addContentTypeParser('*', passBody)
    const handler = (request: FastifyRequest, reply: FastifyReply): void => { forward(request, reply) }
    scope.route({ method: HTTP_METHODS, url: '/', handler })
    scope.route({ method: HTTP_METHODS, url: '/*', handler })
  })

  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers()
    // The WebSocket proxy takes its destination from the request URL: make it the normalised
    // path (with the upstream's base path, see upstream-path.ts) before the proxy's handler runs,
    // after the gate.
    scope.addHook('onRequest', (request, _reply, done) => {
      const state = request.portcullis
      try {
        if (state.route !== null && state.path !== null) request.raw.url = target(request).path
      } catch (err) {
        return done(err as Error)
      }
      options.sockets?.remember(request)
      done()
    })
    const wsClientOptions: WsClientOptions = {
      rewriteRequestHeaders: (headers, request) => {
        const out = upstreamHeaders(request, { ...request.headers })
        for (const name of ['host', 'connection', 'upgrade', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol']) delete out[name]
        return { ...headers, ...out }
      }
    }
    await scope.register(httpProxy, {
      upstream: '',
      prefix: '/',
      websocket: true,
      constraints: { [UPGRADE]: 'yes' },
      disableRequestLogging: true,
      ...(options.sockets === undefined ? {} : { wsHooks: options.sockets.hooks }),
      replyOptions: {
        getUpstream: (request) => target(request).origin
      },
      wsClientOptions,
      // A request with an Upgrade header that is not a WebSocket handshake is an HTTP request.
      handler: (request, reply) => { forward(request, reply) }
    })
  })

  app.setNotFoundHandler((request, reply) => sendError(request, reply, 'PCS_NOT_FOUND'))
}
