import type { FastifyInstance } from 'fastify'
import type { Provider } from '../oidc/provider.js'
import type { SessionStore } from '../session/store.js'

export interface HealthOptions {
  readonly store: SessionStore
  readonly provider: Provider
  /** Upper bound on the store check, so /ready answers quickly when the store stalls. */
  readonly timeoutMs: number
  /** True once shutdown started: not ready any more, so load balancers move away first. */
  readonly draining: () => boolean
}

/**
 * `/ping`: liveness, 200 while the process serves. `/ready`: 200 only when the session store
 * answers and the provider's discovery succeeded.
 */
export function registerHealth (app: FastifyInstance, options: HealthOptions): void {
  app.get('/ping', { config: { gateway: true }, logLevel: 'warn' }, async (_request, reply) => {
    return reply.header('cache-control', 'no-store').type('text/plain; charset=utf-8').send('OK')
  })

  app.get('/ready', { config: { gateway: true } }, async (_request, reply) => {
    let store = 'ok'
    try {
      await Promise.race([
        options.store.ping(),
        new Promise((_resolve, reject) => setTimeout(reject, options.timeoutMs, new Error('timeout')).unref())
      ])
    } catch {
      store = 'unavailable'
    }
    const provider = options.provider.isReady() ? 'ok' : 'unavailable'
    const draining = options.draining()
    const ready = store === 'ok' && provider === 'ok' && !draining
    return reply.code(ready ? 200 : 503).header('cache-control', 'no-store')
      .send({ ready, store, provider, ...(draining ? { draining: true } : {}) })
  })
}
