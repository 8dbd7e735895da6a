import { createServer, type Server } from 'node:http'
import type { FastifyInstance } from 'fastify'
import type { Metrics } from './metrics.js'

/** Registers `GET /metrics` (Prometheus text) on the gateway's main listener. */
export function registerMetricsRoute (app: FastifyInstance, metrics: Pick<Metrics, 'render'>): void {
  app.get('/metrics', { config: { gateway: true } }, async (_request, reply) => {
    const { contentType, body } = await metrics.render()
    return reply.header('cache-control', 'no-store').type(contentType).send(body)
  })
}

export interface MetricsServer {
  /** The bound URL, e.g. `http://127.0.0.1:9090`. */
  readonly url: string
  close (): Promise<void>
}

/**
 * Serves `/metrics` alone on its own address (`metrics.listen`), so it can stay on a private
 * interface while the main listener faces users. Plain node:http: it answers one path and needs
 * none of the gateway's hooks. Anything else is 404.
 */
export async function startMetricsServer (listen: { host: string, port: number }, metrics: Pick<Metrics, 'render'>): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n')
      return
    }
    metrics.render().then(({ contentType, body }) => {
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' })
      res.end(req.method === 'HEAD' ? undefined : body)
    }, () => {
      res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n')
    })
  })
  server.keepAliveTimeout = 5000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : listen.port
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host
  return {
    url: `http://${host}:${port}`,
    async close () {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
