/**
 * Shared set-up of the multi-process refresh tests: one real redis-server, one development
 * provider in the test process (counting refresh grants), one demo upstream, and two gateway
 * processes sharing them. Signing in goes through the first; both accept the cookie (same
 * secrets, same store, both on 127.0.0.1, where cookies ignore the port).
 */
import { Redis } from 'ioredis'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from '../../demo/accounts.js'
import { startDevProvider, type DevProvider, type DevProviderOptions } from '../../demo/provider.js'
import { startDemoApp } from '../../demo/upstream.js'
import { CookieJar } from './cookie-jar.js'
import { startGatewayProcess, type ReplicaProcess } from './gateway-process.js'
import { type RedisServer } from './redis.js'
import { holdPort } from './listen.js'
import { fetchWithJar, signIn } from './signin.js'
import { baseRawConfig, type RawConfig } from './stack.js'

export interface Replicas {
  readonly provider: DevProvider
  readonly gateways: readonly [ReplicaProcess, ReplicaProcess]
  readonly redis: Redis
  readonly upstreamUrl: string
  close (): Promise<void>
}

export interface ReplicaOptions {
  readonly redis: RedisServer
  readonly providerOptions?: Partial<DevProviderOptions>
  /** Changes each gateway's raw config (index 0 or 1) before it is written. */
  readonly configure?: (raw: RawConfig, index: number) => void
  /** An upstream to use instead of the demo app. */
  readonly upstreamUrl?: string
}

/**
 * Starts the provider, the upstream and both gateway processes. Each gateway's public_url, which
 * the provider must know, carries its port: both ports are held (bound at port 0) until the
 * gateways bind them beside the holds (`server.reuse_port`, helpers/listen.ts).
 */
export async function startReplicas (options: ReplicaOptions): Promise<Replicas> {
  const held = [await holdPort(), await holdPort()] as const
  try {
    return await startReplicasOn([held[0].port, held[1].port], options)
  } finally {
    for (const h of held) await h.release()
  }
}

async function startReplicasOn (ports: readonly [number, number], options: ReplicaOptions): Promise<Replicas> {
  const urls = ports.map((p) => `http://127.0.0.1:${p}`)
  const app = options.upstreamUrl === undefined ? await startDemoApp({ host: '127.0.0.1', port: 0 }) : null
  const upstreamUrl = options.upstreamUrl ?? app!.url.replace(/\/$/, '')
  const provider = await startDevProvider({
    clients: [{ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, redirect_uris: urls.map((u) => `${u}/oauth2/callback`) }],
    ...options.providerOptions
  })
  const gateways: ReplicaProcess[] = []
  try {
    for (const [i, port] of ports.entries()) {
      const raw = baseRawConfig({ publicUrl: urls[i]!, port, issuer: provider.issuer, upstream: upstreamUrl, store: 'redis', redisUrl: options.redis.url })
      raw.identity = { pass_access_token: true }
      raw.provider.timeout = '15s'
      raw.session.refresh_before_expiry = '1s'
      raw.server.reuse_port = true
      options.configure?.(raw, i)
      gateways.push(await startGatewayProcess(raw))
    }
  } catch (err) {
    for (const g of gateways) await g.stop()
    await provider.close()
    await app?.close()
    throw err
  }
  const [first, second] = gateways
  if (first === undefined || second === undefined) throw new Error('two gateway processes were to start')
  const redis = new Redis(options.redis.url)
  return {
    provider,
    gateways: [first, second],
    redis,
    upstreamUrl,
    async close () {
      redis.disconnect()
      for (const g of gateways) await g.stop()
      await provider.close()
      await app?.close()
    }
  }
}

/** Signs `email` in through the first gateway; resolves with the jar and when the sign-in finished. */
export async function signInReplica (replicas: Replicas, email = 'alice@example.com'): Promise<{ jar: CookieJar, signedInAt: number }> {
  const jar = new CookieJar()
  const result = await signIn({ gatewayUrl: replicas.gateways[0].url, jar, email })
  if (result.status !== 200) throw new Error(`sign-in ended with ${result.status}`)
  return { jar, signedInAt: Date.now() }
}

export interface JsonResult { readonly status: number, readonly body: any, readonly headers: Headers }

/** GETs `path` from `base` as an API client (Accept: application/json) with the jar's cookies. */
export async function getJson (base: string, path: string, jar: CookieJar, timeoutMs = 30_000): Promise<JsonResult> {
  const response = await fetchWithJar(`${base}${path}`, jar, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) })
  const text = await response.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch { /* not JSON */ }
  return { status: response.status, body, headers: response.headers }
}

/** `count` concurrent requests, alternating between the two gateways. */
export async function burst (replicas: Replicas, jar: CookieJar, count: number, path = '/token'): Promise<JsonResult[]> {
  return await Promise.all(Array.from({ length: count }, (_, i) => getJson(replicas.gateways[i % 2]!.url, path, jar)))
}

/** Sleeps until `at` (epoch ms). */
export async function sleepUntil (at: number): Promise<void> {
  const ms = at - Date.now()
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms))
}

/** Where each gateway's log stands now; pass it to the functions below to see only later lines. */
export function logMark (replicas: Replicas): number[] {
  return replicas.gateways.map((g) => g.lines.length)
}

/** The `token refresh` log lines of both gateways (written after `mark`, when given). */
export function refreshLogs (replicas: Replicas, mark?: readonly number[]): Array<Record<string, unknown>> {
  return replicas.gateways.flatMap((g, i) => g.lines.slice(mark?.[i] ?? 0).filter((l) => typeof l.refresh === 'string'))
}

/**
 * The `token refresh` log lines once `ready` holds for them (or after 5 s, whatever they are then):
 * a process's log lines travel through a pipe and may arrive after its HTTP responses.
 */
export async function settledRefreshLogs (replicas: Replicas, ready: (lines: Array<Record<string, unknown>>) => boolean, mark?: readonly number[]): Promise<Array<Record<string, unknown>>> {
  const started = Date.now()
  while (!ready(refreshLogs(replicas, mark)) && Date.now() - started < 5000) await new Promise((resolve) => setTimeout(resolve, 50))
  return refreshLogs(replicas, mark)
}
