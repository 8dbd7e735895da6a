import t from 'tap'
import { buildGateway, type Gateway } from '../../src/app.js'
import { createLogger } from '../../src/observability/logger.js'
import { baseRawConfig, configFrom } from '../helpers/stack.js'

/*
 * `server.reuse_port`: a second gateway may listen on the address a running one holds, so a new
 * version starts before the old one stops and no connection is refused in between.
 */

async function gatewayOn (port: number, reusePort: boolean): Promise<{ gateway: Gateway, listening: Promise<string> }> {
  const raw = baseRawConfig({ publicUrl: 'http://127.0.0.1', port, issuer: 'http://127.0.0.1:9', upstream: 'http://127.0.0.1:9', store: 'memory' })
  raw.server.reuse_port = reusePort
  raw.logging = { level: 'silent' }
  const config = configFrom(raw)
  const gateway = await buildGateway(config, { logger: createLogger(config.logging) })
  return { gateway, listening: gateway.listen() }
}

async function pings (port: number, count: number): Promise<number[]> {
  const statuses: number[] = []
  for (let i = 0; i < count; i++) {
    // A new connection each time, so the kernel chooses a listener each time.
    const res = await fetch(`http://127.0.0.1:${port}/ping`, { headers: { connection: 'close' }, signal: AbortSignal.timeout(5000) })
    statuses.push(res.status)
    await res.arrayBuffer()
  }
  return statuses
}

t.test('reuse_port: true lets a second gateway listen on the same address, which serves alone once the first stops', async (t) => {
  const first = await gatewayOn(0, true)
  t.teardown(() => first.gateway.close())
  const port = Number(new URL(await first.listening).port)
  const second = await gatewayOn(port, true)
  t.teardown(() => second.gateway.close())
  t.equal(Number(new URL(await second.listening).port), port, 'the second gateway is bound to the same port')
  t.strictSame(await pings(port, 20), Array(20).fill(200), 'every connection is answered while both listen')
  await first.gateway.close()
  t.strictSame(await pings(port, 10), Array(10).fill(200), 'the second one answers alone after the first stopped')
})

t.test('reuse_port: false (the default) refuses a second process on the address', async (t) => {
  const first = await gatewayOn(0, false)
  t.teardown(() => first.gateway.close())
  const port = Number(new URL(await first.listening).port)
  const second = await gatewayOn(port, false)
  t.teardown(() => second.gateway.close().catch(() => {}))
  await t.rejects(second.listening, { code: 'EADDRINUSE' })
  t.strictSame(await pings(port, 3), [200, 200, 200], 'the first keeps serving')
})
