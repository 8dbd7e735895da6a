import type { Server } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'

/*
 * Ports for test servers. Whatever the test starts and can ask binds port 0 and reports the port
 * it got, so no other process can take it in between:
 * - a server in the test process: `listenOnLoopback` below;
 * - a gateway process (`portcullis serve`): `server.listen`, `metrics.listen` and `admin.listen`
 *   say port 0 and helpers/cli.ts reads the bound addresses from its `portcullis listening` line.
 *
 * - a gateway whose `public_url` must carry its port: `holdPort`, bound at port 0 and held until
 *   the gateway binds the same port beside it (`server.reuse_port`).
 *
 * `pickedPort` is the one exception, for the numbers needed before their server exists (see there).
 */

/** Starts `server` on a free loopback port; resolves with its base URL (`http://127.0.0.1:PORT`). */
export async function listenOnLoopback (server: Server): Promise<string> {
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** A loopback port bound at port 0 and held until released (see {@link holdPort}). */
export interface HeldPort {
  readonly port: number
  /** Stops holding the port (once, however often called); call it once the server meant for it listens. */
  release (): Promise<void>
}

/**
 * A port for a gateway whose `server.public_url` must carry its own port: the provider sends the
 * browser back to `public_url` + `/oauth2/callback`, and the gateway fixes that URL when it is
 * built, before it listens. The port is bound here at port 0 with SO_REUSEPORT and held while the
 * stack is built; the gateway, configured with `server.reuse_port: true`, binds the same port
 * beside the hold, and then the hold is released. No other process can take the port meanwhile:
 * a bind without SO_REUSEPORT is refused, and the kernel never hands a held port to a port-0 bind.
 */
export async function holdPort (): Promise<HeldPort> {
  // A connection the kernel gives the hold instead of the gateway is reset at once, so a readiness
  // probe fails fast and tries again rather than waiting on a socket nobody answers.
  const server = createServer((socket) => { socket.resetAndDestroy() })
  server.unref()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen({ port: 0, host: '127.0.0.1', reusePort: true }, resolve)
  })
  const address = server.address()
  if (address === null || typeof address !== 'object') throw new Error('no port')
  let released: Promise<void> | null = null
  return {
    port: address.port,
    release: () => (released ??= new Promise<void>((resolve) => { server.close(() => resolve()) }))
  }
}

/**
 * A TCP port that was free on 127.0.0.1 a moment ago, for a server whose number must be known
 * before it starts and that cannot bind port 0 and report what it got:
 * - an external program configured with its port: redis-server (helpers/redis.ts), nginx
 *   (helpers/nginx.ts), Apache (bench/apache.ts), a podman container's published port;
 * - a gateway process that must know its own port but cannot be held (`holdPort`): the demo
 *   gateway (`npm run demo`) of the browser test, and a gateway nginx must know of.
 *
 * The race: the port is released when this resolves, and another process (a parallel test) may
 * bind it before the intended server does. Callers therefore start over on a new port when the
 * bind fails with a recognisable "address in use" (`onPickedPort`, three attempts): `startRedis`
 * and the sentinels, the nginx and Apache tests (`nginxPortTaken`, `apachePortTaken`), the
 * forward-auth-nginx test and the browser test's demo. They also make sure the server that answers on the port is theirs
 * (redis-server's process id, nginx's and httpd's pid file, the demo's banner). A caller that
 * cannot start over (a container's or a pod's ports, a server a client already waits for) accepts
 * a rare failure that names the taken address.
 */
export function pickedPort (): Promise<number> {
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

/**
 * A loopback port where nothing listens, for refused-connection tests (an unreachable provider or
 * upstream). The same mechanism as `pickedPort`, with the same small chance that a parallel test
 * binds it meanwhile, which would turn "refused" into an answer and fail that test loudly.
 */
export const closedPort = pickedPort

/** How many times a caller of `pickedPort` tries a new port when the bind is refused as taken. */
export const PICKED_PORT_ATTEMPTS = 3

/**
 * Starts something on a picked port, trying a new one (bounded) while `start` fails with an error
 * `inUse` recognises as the port being taken; any other failure is thrown at once.
 */
export async function onPickedPort<T> (start: (port: number) => Promise<T>, inUse: (err: unknown) => boolean = isAddressInUse): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(await pickedPort())
    } catch (err) {
      if (!inUse(err) || attempt >= PICKED_PORT_ATTEMPTS) throw err
    }
  }
}

/**
 * True for Node's "address in use" error (`EADDRINUSE`): thrown by a gateway's listen in the test
 * process, or named in the output of a gateway process that exited (helpers/cli.ts).
 */
export function isAddressInUse (err: unknown): boolean {
  return (err as { code?: string } | null)?.code === 'EADDRINUSE' || /\bEADDRINUSE\b/.test(String((err as Error | null)?.message))
}
