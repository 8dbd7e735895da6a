/**
 * Starting and stopping the demo's plain node:http servers, shared by the development provider
 * and the demo app: a bounded start (a port that never binds fails loudly instead of hanging a
 * test) and a stop that does not wait for idle keep-alive connections.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

const STARTUP_TIMEOUT_MS = 10_000

/**
 * Listens on `host:port` (0 picks a free port) and resolves with the base URL, e.g.
 * `http://127.0.0.1:41234`; rejects on a listen error or after 10 s.
 */
export async function listenBounded (server: Server, host: string, port: number, what: string): Promise<string> {
  const address = await new Promise<AddressInfo>((resolve, reject) => {
    const timer = setTimeout(() => {
      server.close()
      reject(new Error(`${what} did not start listening on ${host}:${port} within ${STARTUP_TIMEOUT_MS} ms`))
    }, STARTUP_TIMEOUT_MS)
    server.once('error', (err) => { clearTimeout(timer); reject(err) })
    server.listen(port, host, () => {
      clearTimeout(timer)
      resolve(server.address() as AddressInfo)
    })
  })
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`
}

/** Stops accepting, drops open connections (idle keep-alive ones included) and resolves when closed. */
export async function closeServer (server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => { resolve() })
    server.closeAllConnections()
  })
}
