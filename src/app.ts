import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import cookie from '@fastify/cookie'
import Fastify, { LogController, type FastifyInstance, type FastifyRequest } from 'fastify'
import type { Config } from './config/types.js'
import { isGatewayError } from './errors.js'
import { createAuthenticator } from './http/authenticate.js'
import { newRequestState } from './http/context.js'
import { loginCookieName } from './http/cookies.js'
import { registerForwardAuth } from './http/forward-auth.js'
import { createGate } from './http/gate.js'
import { registerHealth } from './http/health.js'
import { errorHeader, generatedHeader, sendError } from './http/respond.js'
import { registerSignIn } from './http/sign-in.js'
import { registerSignOut } from './http/sign-out.js'
import { registerUserinfo } from './http/userinfo.js'
import { createFlows } from './oidc/flows.js'
import { createProvider } from './oidc/provider.js'
import { createLogger, type Logger } from './observability/logger.js'
import { compilePolicy } from './policy/decide.js'
import { createForwarding } from './proxy/forwarded.js'
import { createIdentityHeaders } from './proxy/identity-headers.js'
import { registerProxy } from './proxy/proxy.js'
import { createRouteTable } from './proxy/routes.js'
import { connectSessionCache } from './session/cache.js'
import { createSessionEvents } from './session/events.js'
import { eventsChannel } from './session/keys.js'
import { createMemoryStore } from './session/memory-store.js'
import { createRedisStore } from './session/redis-store.js'
import { createRefresher } from './session/refresh.js'
import { createSessions } from './session/sessions.js'
import type { SessionStore } from './session/store.js'
import { createTicketCodec } from './session/ticket.js'

export interface GatewayDependencies {
  /** A store to use instead of the configured one (tests). */
  readonly store?: SessionStore
  readonly logger?: Logger
  readonly now?: () => number
}

export interface Gateway {
  readonly app: FastifyInstance
  readonly logger: Logger
  readonly store: SessionStore
  /** Listens on the configured address (or `port` when given) and returns the bound URL. */
  listen (port?: number): Promise<string>
  /** Stops accepting, drains in-flight requests (bounded by `server.shutdown_timeout`), closes the store. */
  close (): Promise<void>
}

/** Claim names the access rules look at, so sign-in keeps exactly those in the session. */
function ruleClaims (config: Config): Set<string> {
  const names = new Set(Object.keys(config.access.claims))
  for (const route of config.routes) for (const name of Object.keys(route.allow?.claims ?? {})) names.add(name)
  return names
}

/**
 * The composition root: builds every part from the frozen config and wires them together, in the
 * order a request meets them.
 */
export async function buildGateway (config: Config, deps: GatewayDependencies = {}): Promise<Gateway> {
  const logger = deps.logger ?? createLogger(config.logging)
  const now = deps.now ?? Date.now
  const cookieConfig = config.session.cookie

  // Shared state: the store, the sessions in it, and the events every replica hears.
  const store = deps.store ?? (config.session.store === 'memory' ? createMemoryStore() : createRedisStore(config.redis, logger))
  const sessions = createSessions({ store, keyPrefix: config.redis.keyPrefix, now })
  const events = createSessionEvents(store, eventsChannel(config.redis.keyPrefix))

  // The identity provider and the flows against it.
  const provider = createProvider({ config: config.provider, logger })
  const flows = createFlows({
    config: config.provider,
    provider,
    callbackUrl: `${config.server.publicUrl}${config.server.authPrefix}/callback`,
    keepClaims: ruleClaims(config),
    keepIdToken: config.identity.passIdToken,
    now
  })

  // Sessions: the cookie ticket, refresh coordination, and authentication of a request.
  const codec = createTicketCodec(cookieConfig.secrets)
  const refresher = createRefresher({
    store,
    sessions,
    events,
    flows,
    logger,
    refreshBeforeExpiryMs: config.session.refreshBeforeExpiryMs,
    idleTimeoutMs: config.session.idleTimeoutMs,
    waitTimeoutMs: config.provider.timeoutMs + 5000,
    now
  })
  const cache = connectSessionCache(config.session.cache, events, now)
  const authenticator = createAuthenticator({ cookieName: cookieConfig.name, codec, sessions, refresher, idleTimeoutMs: config.session.idleTimeoutMs, logger, now, cache })

  // Decisions and what the upstream receives.
  const policy = compilePolicy(config.access, config.routes)
  const routes = createRouteTable(config.routes)
  const forwarding = createForwarding(config.server.trustedProxies)
  const identityHeaders = createIdentityHeaders(config.identity, { cookieNames: [cookieConfig.name, loginCookieName(cookieConfig)] })

  const app = Fastify({
    loggerInstance: logger,
    // The gateway writes its own access log line (observability/access-log); fastify's is off.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: (raw) => {
      const incoming = raw.headers['x-request-id']
      const trusted = typeof incoming === 'string' && /^[\w.:-]{1,128}$/.test(incoming) && forwarding.isTrusted(raw.socket.remoteAddress ?? '')
      return trusted ? incoming : randomUUID()
    },
    bodyLimit: 64 * 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    keepAliveTimeout: 72_000,
    routerOptions: { ignoreTrailingSlash: false, ignoreDuplicateSlashes: false, maxParamLength: 8192 },
    ...(config.server.tls === null
      ? {}
      : { https: { cert: readFileSync(config.server.tls.certFile), key: readFileSync(config.server.tls.keyFile) } })
  }) as unknown as FastifyInstance

  let draining = false
  app.decorateRequest('portcullis', null as never)
  // Hooks that never wait use the callback form: no promise per request.
  app.addHook('onRequest', (request, _reply, done) => {
    request.portcullis = newRequestState()
    done()
  })
  await app.register(cookie)

  // One access-log line per request; never a query string, cookie or token. Its fields are built
  // here and hold no secret, so it skips the redaction pass (a clone and walk of every field,
  // the largest per-request cost the CPU profile showed in the gateway's own code).
  const accessLog = logger.child({}, { redact: [] })
  app.addHook('onResponse', (request, reply, done) => {
    const state = request.portcullis
    accessLog.info({
      reqId: request.id,
      method: request.method,
      path: state.path ?? (request.raw.url ?? '').split('?')[0]?.slice(0, 512),
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
      route: state.route?.path,
      upstream: state.proxied ? state.route?.upstream : undefined,
      user: state.session?.record.identity.sub,
      outcome: state.outcome ?? undefined
    }, 'request')
    done()
  })
  app.addHook('onSend', (request, reply, payload, done) => {
    if (!request.portcullis.proxied) reply.header(generatedHeader, 'true')
    done(null, payload)
  })

  app.setErrorHandler((error: Error & { statusCode?: number, code?: string }, request, reply) => {
    if (isGatewayError(error)) return sendError(request, reply, error)
    const status = error.statusCode ?? 500
    if (status >= 400 && status < 500) {
      reply.header(errorHeader, 'PCS_BAD_REQUEST')
      return sendError(request, reply, status === 413 ? 'PCS_PAYLOAD_TOO_LARGE' : status === 415 ? 'PCS_UNSUPPORTED_MEDIA_TYPE' : 'PCS_BAD_REQUEST')
    }
    request.log.error({ err: error }, 'unhandled error')
    return sendError(request, reply, 'PCS_INTERNAL')
  })

  // The gate in front of everything that is proxied.
  app.addHook('onRequest', createGate({
    config,
    routes,
    policy,
    authenticator,
    logger,
    reservedPaths: new Set(['/ping', '/ready', '/metrics'])
  }))

  // The gateway's own endpoints, with a small form parser of their own.
  await app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => done(null, body))
    registerHealth(scope, { store, provider, timeoutMs: config.redis.commandTimeoutMs + 500, draining: () => draining })
    registerSignIn(scope, { config, store, sessions, codec, flows, events, now })
    registerSignOut(scope, { config, sessions, codec, flows, events })
    registerUserinfo(scope, { config, authenticator })
    registerForwardAuth(scope, { config, authenticator, policy, routes, isTrustedProxy: forwarding.isTrusted })
  })

  await registerProxy(app, { config, identityHeaders, forwarding })

  // Pub/sub wakes refresh waiters; until it is up they fall back to their re-check timeout.
  const subscribe = (): void => {
    events.start().catch((err: unknown) => {
      logger.warn({ err: { message: (err as Error).message } }, 'session events unavailable; retrying')
      setTimeout(subscribe, 2000).unref()
    })
  }
  subscribe()

  async function close (): Promise<void> {
    draining = true
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, config.server.shutdownTimeoutMs).unref())
    await Promise.race([app.close(), timeout])
    provider.close()
    await events.stop()
    await store.close()
  }

  return {
    app,
    logger,
    store,
    async listen (port) {
      return await app.listen({ host: config.server.host, port: port ?? config.server.port })
    },
    close
  }
}

export type { FastifyRequest }
