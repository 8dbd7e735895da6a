/**
 * Gateway replicas as real operating-system processes: each one is `node dist/src/cli.js serve
 * --config FILE`, exactly as an operator starts it (helpers/cli.ts), with its own event loop, its
 * own Redis connections and its own in-process state, so that what several of them share is only
 * what really is shared (Redis and the provider).
 */
import { spawnGateway, writeConfigFile, type GatewayProcess } from './cli.js'
import type { RawConfig } from './stack.js'

/** A gateway process started from a raw config, with the URL it listens on. */
export interface ReplicaProcess extends GatewayProcess {
  readonly url: string
}

/**
 * Writes `raw` as YAML into a fresh temporary directory, starts a gateway process on it and
 * resolves once its /ready answers 200 (bounded: rejects after 20 s and stops the process). `url`
 * is the address the process logged as bound, so `server.listen` may say port 0.
 */
export async function startGatewayProcess (raw: RawConfig): Promise<ReplicaProcess> {
  const gateway = await spawnGateway(writeConfigFile(raw), { timeoutMs: 20_000 })
  const url = gateway.listening.url
  const started = Date.now()
  while (Date.now() - started < 20_000) {
    const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) }).catch(() => null)
    if (res?.status === 200) return Object.assign(gateway, { url })
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await gateway.stop()
  throw new Error(`gateway process on ${url} was not ready within 20 s: ${gateway.output().slice(-4000)}`)
}
