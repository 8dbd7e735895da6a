import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createAssertions, loadAssertionKey } from './assertion/assertions.js'
import { registerJwks } from './assertion/jwks.js'
import cookie from '@fastify/cookie'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify'
import type { Config } from './config/types.js'
import { isGatewayError } from './errors.js'
import { createAuthenticator } from './http/authenticate.js'
import { createBearerVerifier } from './http/bearer.js'
import { newRequestState } from './http/context.js'
import { auditAuthenticator, registerForbiddenAudit } from './http/audit-hooks.js'
import { gatewayCookieMatcher, gatewayCookieNames } from './http/cookies.js'
import { createClientErrorHandler, createFrameworkErrorHandler, serverTimeouts, type SocketErrorLine } from './http/framework-errors.js'
import { registerSignInLimits } from './http/sign-in-limits.js'
import { createPendingSignIns } from './limits/pending-sign-ins.js'
import { createAudit } from './observability/audit.js'
import { registerForwardAuth } from './http/forward-auth.js'
import { createGate } from './http/gate.js'
import { registerHealth } from './http/health.js'
import { createPagesFor } from './render/pages/for-config.js'
import { errorHeader, generatedHeader, sendError } from './render/respond.js'
import { registerSignIn } from './http/sign-in.js'
import { registerSignOut } from './http/sign-out.js'
import { registerUserinfo } from './http/userinfo.js'
import { createGroupsResolver } from './groups/resolver.js'
import { createFlows } from './oidc/flows.js'
import { createProvider } from './oidc/provider.js'
import { registerAccessLog } from './observability/access-log.js'
import { instrumentFlows, instrumentStore } from './ops/instrument.js'
import { createLogger, type Logger } from './observability/logger.js'
import { inWorkerCluster, workerMetrics } from './observability/cluster-metrics.js'
import { lazyChildLoggerFactory } from './observability/request-logger.js'
import { registerMetricsRoute, startMetricsServer, type MetricsServer } from './observability/metrics-endpoint.js'
import { createMetrics, type Metrics } from './observability/metrics.js'
import { createLiveRouting } from './ops/live-routing.js'
import { createDrain, registerDrainRefusal } from './ops/drain.js'
import { planReload, type ReloadPlan } from './ops/reload.js'
import { wantedClaims } from './policy/claims.js'
import { createForwarding } from './proxy/forwarded.js'
import { createIdentityHeaders } from './proxy/identity-headers.js'
import { registerProxy } from './proxy/proxy.js'
import { createUpstream401Handler } from './proxy/upstream-401.js'
import { connectSessionCache } from './session/cache.js'
import { createSessionEvents } from './session/events.js'
import { eventsChannel } from './session/keys.js'
import { createMemoryStore } from './session/memory-store.js'
import { createRedisStore } from './session/redis-store.js'
import { createStoreBreaker, type StoreBreaker } from './session/breaker.js'
import { createRefresher } from './session/refresh.js'
import { createSessions } from './session/sessions.js'
import { createSessionIndex } from './session/session-index.js'
import { createRevoker } from './session/revoke.js'
import { createSocketTracker } from './proxy/websockets.js'
import { registerBackchannelLogout } from './http/backchannel-logout.js'
import { startAdminServer, type AdminServer } from './ops/admin.js'
import type { SessionStore } from './session/store.js'
import { createTicketCodec } from './session/ticket.js'

declare module 'fastify' {
  interface FastifyListenOptions {
    /** `server.reuse_port`: Node's listen option (SO_REUSEPORT), which fastify passes on but does not declare. */
    reusePort?: boolean
  }
}

export interface GatewayDependencies {
  /** A store to use instead of the configured one (tests). */
  readonly store?: SessionStore
  readonly logger?: Logger
  readonly now?: () => number
  /** Metrics to record into (default: a fresh registry for this gateway). */
  readonly metrics?: Metrics
}

export interface Gateway {
  readonly app: FastifyInstance
  readonly logger: Logger
  readonly store: SessionStore
  readonly metrics: Metrics
  /** Listens on the configured address (or `port` when given) and returns the bound URL. */
  listen (port?: number): Promise<string>
  /** Stops accepting, drains in-flight requests (bounded by `server.shutdown_timeout`), closes the store. */
  close (): Promise<void>
  /**
   * Applies a newly loaded config's routes, access rules and log level without touching any
   * connection; reports what changed and which other changed keys need a restart.
   */
  reload (next: Config): ReloadPlan
  /** The URL of the separate metrics listener, once listening (null when metrics share the main one). */
  metricsUrl (): string | null
  /** The URL of the admin listener (`admin.listen`), once listening; null when it is off. */
  adminUrl (): string | null
}

/**
 * The composition root: builds every part from the frozen config and wires them together, in the
 * order a request meets them.
 */
export async function buildGateway (config: Config, deps: GatewayDependencies = {}): Promise<Gateway> {
  const logger = deps.logger ?? createLogger(config.logging)
  const now = deps.now ?? Date.now
  const cookieConfig = config.session.cookie
  const metrics = deps.metrics ?? createMetrics()
  const clustered = inWorkerCluster(config.server.workers)
  // A worker offers its registry to the primary, which sums all workers for every scrape.
  const scraped = clustered && config.metrics.enabled ? workerMetrics(metrics.registry) : metrics
  let running = config
  // Before anything is opened: a bad assertion key_file stops start-up here.
  const assertionKey = await loadAssertionKey(config)

  // Shared state: the store, the sessions in it, and the events every replica hears.
  // The breaker answers store calls at once while the store is known to be down (session/breaker.ts).
  let breaker: StoreBreaker | null = null
  const backend = deps.store ?? (config.session.store === 'memory' ? createMemoryStore() : createRedisStore(config.redis, logger, (up) => breaker?.connection(up)))
  breaker = createStoreBreaker(instrumentStore(backend, metrics), { onChange: (state, reason) => { metrics.storeBreaker(state); logger[state === 'open' ? 'warn' : 'info']({ reason }, `session store breaker ${state}`) } })
  const store = breaker.store
  // Sessions, their indexes (listing, revocation), and the open WebSockets that follow them.
  const index = createSessionIndex({ store, keyPrefix: config.redis.keyPrefix, secrets: cookieConfig.secrets, idleTimeoutMs: config.session.idleTimeoutMs, now })
  const sessions = createSessions({ store, keyPrefix: config.redis.keyPrefix, index, now })
  const events = createSessionEvents(store, eventsChannel(config.redis.keyPrefix))
  const sockets = createSocketTracker({ store, events, keyPrefix: config.redis.keyPrefix, sessionKey: (ticket) => sessions.keys(ticket).session, logger, now })
  const revoker = createRevoker({ store, index, events, keyPrefix: config.redis.keyPrefix, logger, openSockets: sockets.openFor })

  // Routes and access rules sit behind a swappable view, so SIGHUP can replace them.
  const live = createLiveRouting(config.access, config.routes)
  // Claims the rules need from the provider (userinfo is read when the id token lacks one); grows on reload.
  const wantClaims = wantedClaims(config)

  // The identity provider and the flows against it (sign-in keeps the claims the rules use).
  const provider = createProvider({ config: config.provider, logger, onDiscovery: (ok, ms) => metrics.provider('discovery', ms, !ok) })
  // Workspace groups (null when they come from a claim), for sessions and bearer callers alike.
  const groups = createGroupsResolver({ config: config.provider.groups, logger, allowHttp: config.provider.allowInsecureIssuer, now })
  const flows = instrumentFlows(createFlows({
    config: config.provider,
    provider,
    callbackUrl: `${config.server.publicUrl}${config.server.authPrefix}/callback`,
    keepClaims: live.keepClaims,
    wantClaims,
    // RP-Initiated Logout sends the id token back to the provider as id_token_hint.
    keepIdToken: config.identity.passIdToken || config.provider.rpInitiatedLogout,
    groups,
    now
  }), metrics)

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
    now,
    onRefresh: (report) => metrics.refresh(report)
  })
  const cache = connectSessionCache(config.session.cache, events, now)
  // Bearer ID tokens on routes that opt in (a reload may opt more in; the issuer's keys are fetched lazily).
  const bearer = createBearerVerifier({ config, provider, logger, groups, keepClaims: live.keepClaims, now })

  // Decisions and what the upstream receives; the audit log names clients through the same trust.
  const { policy, routes } = live
  const forwarding = createForwarding(config.server.trustedProxies)
  const audit = createAudit(logger, forwarding, config.server.tls !== null)
  const authenticator = auditAuthenticator(
    createAuthenticator({ cookieName: cookieConfig.name, codec, sessions, refresher, idleTimeoutMs: config.session.idleTimeoutMs, logger, now, cache, bearer }),
    audit, { codec, cookieName: cookieConfig.name })
  const clientAddress = audit.client
  // The signed assertion: its key and the keyring shared through the store.
  const assertions = config.identity.assertion.enabled ? createAssertions({ config, fileKey: assertionKey, store, logger, now }) : null
  const identityHeaders = createIdentityHeaders(config.identity, { cookieNames: gatewayCookieNames(cookieConfig), ownCookie: gatewayCookieMatcher(cookieConfig) })

  const timeouts = serverTimeouts(config.server.timeouts)
  let socketErrorLine: SocketErrorLine | null = null
  // Request loggers are the framework's logger interface, not pino's (observability/request-logger.ts).
  const frameworkLogger: FastifyBaseLogger = logger
  const app = Fastify({
    loggerInstance: frameworkLogger,
    // The gateway writes its own access log line (observability/access-log); fastify's is off.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    // Each request's logger (bound to its id) is built only when the request logs a line.
    childLoggerFactory: lazyChildLoggerFactory,
    requestIdHeader: false,
    genReqId: (raw) => {
      const incoming = raw.headers['x-request-id']
      const trusted = typeof incoming === 'string' && /^[\w.:-]{1,128}$/.test(incoming) && forwarding.isTrusted(raw.socket.remoteAddress ?? '')
      return trusted ? incoming : randomUUID()
    },
    bodyLimit: 64 * 1024,
    // The drain's 503 is the gateway's own (ops/drain.ts), with an access line like any request.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: false, ignoreDuplicateSlashes: false, maxParamLength: 8192 },
    // Limits that hold under abuse, and Fastify's own refusals answered as the gateway's.
    ...timeouts.fastify,
    frameworkErrors: createFrameworkErrorHandler(() => socketErrorLine),
    clientErrorHandler: createClientErrorHandler(() => socketErrorLine),
    ...(config.server.tls === null
      ? { http: timeouts.http }
      : { https: { ...timeouts.http, cert: readFileSync(config.server.tls.certFile), key: readFileSync(config.server.tls.keyFile) } })
  })

  const drain = createDrain()
  // Each request's state is set in onRequest; the decoration is null (a shared object would leak between requests).
  app.decorateRequest('portcullis', null, [])
  app.decorate('portcullisPages', createPagesFor(config))
  // Hooks that never wait use the callback form: no promise per request.
  app.addHook('onRequest', (request, _reply, done) => {
    request.portcullis = newRequestState()
    done()
  })
  await app.register(cookie)
  socketErrorLine = registerAccessLog(app, metrics, logger, { cutByGateway: drain.cutting, client: audit.client })
  registerDrainRefusal(app, drain)
  registerForbiddenAudit(app, audit)
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
    reservedPaths: new Set(['/ping', '/ready', '/metrics']),
    storeUnavailable: breaker.isOpen,
    ...(assertions === null ? {} : { onAllowed: assertions.onAllowed, onAllowedNow: assertions.onAllowedNow })
  }))

  // The gateway's own endpoints, with a small form parser of their own.
  await app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => done(null, body))
    registerHealth(scope, { store, provider, timeoutMs: config.redis.commandTimeoutMs + 500, draining: drain.draining })
    // Workers of one `server.workers` gateway answer with the sum over all of them (the primary's).
    // /metrics is on the public listener only when asked for (`metrics.public`).
    if (config.metrics.enabled && config.metrics.public) registerMetricsRoute(scope, scraped)
    registerSignInLimits(scope, { config, audit })
    const pending = createPendingSignIns({ ...config.server.pendingSignIns, ttlMs: config.session.loginTimeoutMs, now })
    registerSignIn(scope, { config, store, sessions, codec, flows, events, now, onSignIn: (outcome) => metrics.signIn(outcome), audit, pending, clientAddress })
    registerSignOut(scope, { config, sessions, codec, flows, events, now, audit })
    registerUserinfo(scope, { config, authenticator })
    registerForwardAuth(scope, { config, authenticator, policy, routes, codec, isTrustedProxy: forwarding.isTrusted, now })
    registerJwks(scope, { config, keyring: assertions?.keyring ?? null })
    registerBackchannelLogout(scope, { config, provider, store, revoker, logger, clientAddress })
  })

  await registerProxy(app, {
    config,
    ownCookie: gatewayCookieMatcher(config.session.cookie),
    draining: drain.draining,
    identityHeaders,
    forwarding,
    onUpstream401: createUpstream401Handler({ refresher, policy, ...(assertions === null ? {} : { onAllowed: assertions.onAllowed }) }),
    onUpstreamError: (route, code) => metrics.upstreamError(route?.path ?? 'none', /TIMEOUT/i.test(code) ? 'timeout' : 'unavailable'),
    sockets
  })

  // Pub/sub wakes refresh waiters; until it is up they fall back to their re-check timeout.
  const subscribe = (): void => {
    events.start().catch((err: unknown) => {
      logger.warn({ err: { message: (err as Error).message } }, 'session events unavailable; retrying')
      setTimeout(subscribe, 2000).unref()
    })
  }
  subscribe()

  let metricsServer: MetricsServer | null = null
  let adminServer: AdminServer | null = null

  async function close (): Promise<void> {
    drain.begin()
    let timedOut = false
    const timeout = new Promise<void>((resolve) => setTimeout(() => { timedOut = true; resolve() }, config.server.shutdownTimeoutMs).unref())
    const closing = app.close()
    await Promise.race([closing, timeout])
    if (timedOut) {
      // Bounded drain: whatever still runs is cut, so a stuck upstream cannot hold the shutdown.
      logger.warn({ timeoutMs: config.server.shutdownTimeoutMs }, 'shutdown timeout reached; closing the remaining connections')
      drain.cut()
      app.server.closeAllConnections()
      // The cut connections close (and their requests are logged) in the next turns of the loop.
      await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 1000).unref())])
    }
    await metricsServer?.close()
    await adminServer?.close()
    sockets.stop()
    provider.close()
    await events.stop()
    await store.close()
  }

  return {
    app,
    logger,
    store,
    metrics,
    async listen (port) {
      const url = await app.listen({ host: config.server.host, port: port ?? config.server.port, reusePort: config.server.reusePort })
      // With workers, the primary serves metrics.listen (summed over workers); workers do not.
      if (config.metrics.enabled && config.metrics.listen !== null && metricsServer === null && !clustered) {
        metricsServer = await startMetricsServer(config.metrics.listen, metrics)
      }
      if (config.admin.listen !== null && adminServer === null) adminServer = await startAdminServer({ config, index, revoker, logger })
      return url
    },
    close,
    reload (next) {
      const plan = planReload(running, next)
      live.apply(next.access, next.routes)
      // Open WebSockets the new routes or rules no longer allow are closed (code 1008).
      sockets.recheck(routes, policy)
      // Claims new rules need are fetched from the next sign-in or refresh on.
      for (const name of wantedClaims(next)) wantClaims.add(name)
      running = plan.effective
      metrics.configReload('applied')
      // Reported under the old level: the new one applies from the next line on.
      logger.info({ reloaded: plan.reloaded }, plan.reloaded.length === 0 ? 'configuration reloaded; nothing to apply' : 'configuration reloaded')
      if (plan.restartRequired.length > 0) logger.warn({ restartRequired: plan.restartRequired }, 'changed keys take effect only after a restart')
      logger.level = next.logging.level
      return plan
    },
    metricsUrl: () => metricsServer?.url ?? null,
    adminUrl: () => adminServer?.url ?? null
  }
}

export type { FastifyRequest }
