/*
 * The port helpers: a picked port is started over on when it was taken (a real EADDRINUSE from a
 * real socket), a bounded number of times; other failures are not retried.
 */
import { createServer as createHttpServer } from 'node:http'
import { createServer, type Server } from 'node:net'
import t from 'tap'
import { closedPort, holdPort, isAddressInUse, listenOnLoopback, onPickedPort, PICKED_PORT_ATTEMPTS } from './listen.js'

async function listen (server: Server, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve() })
  })
}

t.test('onPickedPort: a bind refused as taken is tried again on a new port', async (t) => {
  const holder = createServer()
  await listen(holder, 0)
  t.teardown(() => holder.close())
  const taken = (holder.address() as { port: number }).port
  const tried: number[] = []
  const server = await onPickedPort(async (port) => {
    tried.push(port)
    const s = createServer()
    // The first attempt meets a port another server holds, as a parallel test's would.
    await listen(s, tried.length === 1 ? taken : port)
    return s
  })
  t.teardown(() => server.close())
  t.equal(tried.length, 2)
  t.equal((server.address() as { port: number }).port, tried[1])
})

t.test('onPickedPort: gives up after the bound, and throws other failures at once', async (t) => {
  let calls = 0
  const inUse = Object.assign(new Error('listen EADDRINUSE: address already in use'), { code: 'EADDRINUSE' })
  await t.rejects(onPickedPort(async () => { calls++; throw inUse }), inUse)
  t.equal(calls, PICKED_PORT_ATTEMPTS)
  calls = 0
  await t.rejects(onPickedPort(async () => { calls++; throw new Error('config invalid') }), /config invalid/)
  t.equal(calls, 1)
})

t.test('isAddressInUse: the code, or a gateway process output that names it', async (t) => {
  t.ok(isAddressInUse({ code: 'EADDRINUSE' }))
  t.ok(isAddressInUse(new Error('the gateway exited while waiting for a log line; output:\nportcullis: listen EADDRINUSE: address already in use 127.0.0.1:4180')))
  t.notOk(isAddressInUse(new Error('ECONNREFUSED')))
  t.notOk(isAddressInUse(null))
})

t.test('closedPort: nothing listens there; listenOnLoopback: the URL of the port it got', async (t) => {
  const port = await closedPort()
  await t.rejects(fetch(`http://127.0.0.1:${port}/`), 'the connection is refused')
  const http = createHttpServer((_req, res) => { res.end('here') })
  const url = await listenOnLoopback(http)
  t.teardown(() => { http.closeAllConnections(); http.close() })
  t.match(url, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/)
  t.equal(await (await fetch(url)).text(), 'here')
})

t.test('holdPort: the held port refuses every other bind but one that shares it on purpose, until released', async (t) => {
  const held = await holdPort()
  const plain = createServer()
  await t.rejects(listen(plain, held.port), { code: 'EADDRINUSE' }, 'a plain bind is refused while held')
  const sharing = createServer()
  await new Promise<void>((resolve) => sharing.listen({ port: held.port, host: '127.0.0.1', reusePort: true }, resolve))
  t.equal((sharing.address() as { port: number }).port, held.port, 'a bind with reusePort (the gateway with server.reuse_port) joins it')
  const others = await Promise.all(Array.from({ length: 50 }, async () => {
    const s = createServer()
    await new Promise<void>((resolve) => s.listen({ port: 0, host: '127.0.0.1', reusePort: true }, resolve))
    return s
  }))
  t.notOk(others.some((s) => (s.address() as { port: number }).port === held.port), 'a port-0 bind is never handed the held port')
  for (const s of others) s.close()
  await held.release()
  await held.release()
  await new Promise<void>((resolve) => sharing.close(() => resolve()))
  const after = createServer()
  await listen(after, held.port)
  t.pass('a plain bind succeeds once released')
  after.close()
})
