import { Redis } from 'ioredis'

/*
 * Why the store listens to the sentinels itself.
 *
 * In a Sentinel failover the old primary keeps running as a primary until the sentinels get
 * around to turning it into a replica, which can take ten seconds and more after the new primary
 * was announced (and never happens while it is cut off from them). A client that only looks for
 * the primary when its connection breaks keeps writing to the old one all that time: every
 * session signed in or refreshed there is thrown away when the old primary becomes a replica,
 * and refresh locks taken there protect nothing. The sentinels announce each switch on their
 * `+switch-master` channel; listening to it moves the gateway to the new primary at once.
 *
 * ioredis has a built-in detector for this, but its sentinel connections have no error
 * listener, so one sentinel being down would print an unstructured line at every reconnect
 * attempt. This listener has the same effect and stays quiet: the data connections' own
 * failures are what the store logs.
 */

export interface SentinelWatchOptions {
  /** The monitored primary's name. */
  readonly name: string
  readonly nodes: ReadonlyArray<{ host: string, port: number }>
  readonly password: string | null
  readonly connectTimeoutMs: number
  /** Reconnect delay after the `times`-th failed attempt. */
  readonly backoff: (times: number) => number
  /** Called for each announcement of a new primary for `name` (once per sentinel that makes it). */
  readonly onSwitch: (primary: { host: string, port: number }) => void
}

export interface SentinelWatch {
  close (): void
}

/**
 * Subscribes to `+switch-master` on every configured sentinel (each announces the switch when it
 * adopts it, so one sentinel being down or late does not delay the move) and reports switches of
 * the primary named `name`. Connections retry forever with `backoff`, and never log.
 */
export function watchSentinels (options: SentinelWatchOptions): SentinelWatch {
  const connections = options.nodes.map(({ host, port }) => {
    const c = new Redis({
      host,
      port,
      connectTimeout: options.connectTimeoutMs,
      retryStrategy: options.backoff,
      maxRetriesPerRequest: null,
      connectionName: 'portcullis-sentinel-watch',
      ...(options.password === null ? {} : { password: options.password })
    })
    c.on('error', () => { /* retried by retryStrategy; the data connections report outages */ })
    // ioredis subscribes again after every reconnect.
    c.subscribe('+switch-master').catch(() => {})
    c.on('message', (_channel: string, message: string) => {
      // "<name> <old-ip> <old-port> <new-ip> <new-port>"
      const [name, , , host, port] = message.split(' ')
      if (name === options.name && host !== undefined && port !== undefined && /^\d+$/.test(port)) {
        options.onSwitch({ host, port: Number(port) })
      }
    })
    return c
  })
  return {
    close () {
      for (const c of connections) c.disconnect()
    }
  }
}
