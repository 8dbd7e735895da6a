/*
 * Our own floor: a bare fastify with @fastify/http-proxy and the same upstream connection pool
 * settings as the gateway, without authentication, access log or header rewriting.
 */
import httpProxy from '@fastify/http-proxy'
import Fastify from 'fastify'

const upstream = process.env.UPSTREAM ?? ''
const app = Fastify({ logger: false, keepAliveTimeout: 72_000 })
await app.register(httpProxy, {
  upstream,
  prefix: '/',
  undici: { connections: 128, pipelining: 1, keepAliveTimeout: 30_000 }
})
const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) })
process.stdout.write(`${JSON.stringify({ listening: Number(new URL(address).port) })}\n`)
process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
