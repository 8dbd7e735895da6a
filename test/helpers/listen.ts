import type { Server } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'

/*
 * Ports for test servers. A server the test starts itself binds port 0 and reads the port it got
 * (`listenOnLoopback`): no other process can take that port in between.
 */

/** Starts `server` on a free loopback port; resolves with its base URL (`http://127.0.0.1:PORT`). */
export async function listenOnLoopback (server: Server): Promise<string> {
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/**
 * A TCP port that was free on 127.0.0.1 a moment ago, for the cases where the number is needed
 * before the server that binds it exists: a child process's config (redis-server, nginx, a
 * gateway process), a `public_url` the provider must know before the gateway starts, or a port
 * where nothing listens.
 *
 * The race: the port is released when this resolves, and another process (a parallel test) may
 * bind it before the intended server does. The caller must therefore retry on a new port when
 * the bind fails with EADDRINUSE, bounded: `startStack` starts the whole stack over (three
 * attempts) and `startRedis` relaunches redis-server (three attempts). A caller that cannot retry
 * (a fixed port in a test's own config) accepts a rare failure that names EADDRINUSE.
 */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port)
        else reject(new Error('no port'))
      })
    })
  })
}
