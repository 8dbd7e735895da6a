import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { stringify } from 'yaml'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from '../../demo/accounts.js'
import { startDevProvider, type DevProvider, type DevProviderOptions } from '../../demo/provider.js'
import { startDemoApp } from '../../demo/upstream.js'
import { buildGateway, type Gateway } from '../../src/app.js'
import { parseConfig } from '../../src/config/load.js'
import type { Config } from '../../src/config/types.js'
import { createLogger } from '../../src/observability/logger.js'
import { startRedis, type RedisServer } from './redis.js'
import { baseRaw } from '../fixtures/config/base.js'
import { holdPort, type HeldPort } from './listen.js'

/** A YAML-shaped config object (snake_case keys) that tests may change before it is parsed. */
export type RawConfig = Record<string, any>

export interface StackOptions {
  readonly store?: 'redis' | 'memory'
  /** Reuse a running Redis (several gateways on one store). */
  readonly redis?: RedisServer
  /** Start no Redis: `configure` points the gateway at one (a Cluster or Sentinel setup). */
  readonly externalRedis?: boolean
  /** Reuse a running provider. */
  readonly provider?: DevProvider
  /** Options of the provider the stack starts; a function gets the gateway's public URL (for client registrations). */
  readonly providerOptions?: Partial<DevProviderOptions> | ((publicUrl: string) => Partial<DevProviderOptions>)
  /** Changes the raw config before it is parsed (with the stack's provider, for settings that name it). */
  readonly configure?: (raw: RawConfig, provider: DevProvider) => void
  /** Reuse an upstream. */
  readonly upstreamUrl?: string
  /** Fixed gateway port, tried once (default: a picked one, tried again when taken). */
  readonly port?: number
  /** public_url override, or one made from the picked port (defaults to the gateway's own address). */
  readonly publicUrl?: string | ((port: number) => string)
  /** The gateway's clock (sessions, expiry, refresh decisions); the provider keeps the real one. */
  readonly now?: () => number
}

export interface Stack {
  readonly url: string
  readonly gateway: Gateway
  readonly config: Config
  readonly raw: RawConfig
  readonly provider: DevProvider
  readonly redis: RedisServer | null
  readonly upstreamUrl: string
  /** Every log line the gateway wrote, parsed. */
  readonly logs: Array<Record<string, unknown>>
  /** The raw log text (for redaction checks). */
  logText (): string
  close (): Promise<void>
}

/**
 * The base raw config every integration test starts from: the one base config
 * (fixtures/config/base.ts) on loopback, against the development provider and the demo upstream.
 */
export function baseRawConfig (options: { publicUrl: string, port: number, issuer: string, upstream: string, store: 'redis' | 'memory', redisUrl?: string }): RawConfig {
  const raw = baseRaw()
  // Every test client signs in from 127.0.0.1: the sign-in rate limit is off here and tested on
  // its own (test/integration/sign-in-limits.test.ts, flood.test.ts).
  raw.server = { listen: `127.0.0.1:${options.port}`, public_url: options.publicUrl, rate_limit: { sign_in: 0 } }
  raw.provider = { ...raw.provider, issuer: options.issuer, client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, allow_insecure_issuer: true, timeout: '5s' }
  raw.session = { store: options.store, cookie: { ...raw.session.cookie, secure: false } }
  if (options.redisUrl === undefined) delete raw.redis
  else raw.redis = { url: options.redisUrl }
  raw.routes = [
    { path: '/', upstream: options.upstream },
    { path: '/public/', upstream: options.upstream, public: true },
    { path: '/api/', upstream: options.upstream, api: true }
  ]
  raw.logging = { level: 'info' }
  return raw
}

/** Parses a raw config object the way `portcullis serve` parses a file. */
export function configFrom (raw: RawConfig, env: Record<string, string> = {}): Config {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-cfg-'))
  try {
    const text = stringify(raw)
    writeFileSync(join(dir, 'portcullis.yaml'), text)
    return parseConfig(text, { env, baseDir: dir, sourceName: 'portcullis.yaml' })
  } finally {
    // Parsing reads everything it needs; the directory is not referred to afterwards.
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Starts a complete, real stack on loopback: the development provider, the demo upstream, a real
 * redis-server (unless memory), and the gateway. Everything is torn down by `close()`.
 */
export async function startStack (options: StackOptions = {}): Promise<Stack> {
  // The gateway's public_url carries its port and is fixed when the gateway is built: the port is
  // held (bound at port 0) until the gateway binds it beside the hold (helpers/listen.ts).
  if (options.port !== undefined) return await startStackOn(options.port, options, null)
  const held = await holdPort()
  try {
    return await startStackOn(held.port, options, held)
  } finally {
    await held.release()
  }
}

async function startStackOn (port: number, options: StackOptions, held: HeldPort | null): Promise<Stack> {
  const store = options.store ?? 'redis'
  const publicUrl = typeof options.publicUrl === 'function' ? options.publicUrl(port) : options.publicUrl ?? `http://127.0.0.1:${port}`
  const owned: Array<() => Promise<void>> = []

  const redis = store === 'redis' && options.externalRedis !== true ? (options.redis ?? await startRedis()) : null
  if (redis !== null && options.redis === undefined) owned.push(() => redis.stop())

  let upstreamUrl: string | undefined = options.upstreamUrl
  if (upstreamUrl === undefined) {
    const app = await startDemoApp({ host: '127.0.0.1', port: 0 })
    upstreamUrl = app.url.replace(/\/$/, '')
    owned.push(() => app.close())
  }

  const provider = options.provider ?? await startDevProvider({
    clients: [{ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, redirect_uris: [`${publicUrl}/oauth2/callback`] }],
    ...(typeof options.providerOptions === 'function' ? options.providerOptions(publicUrl) : options.providerOptions)
  })
  if (options.provider === undefined) owned.push(() => provider.close())

  const upstream: string = upstreamUrl
  const raw = baseRawConfig({ publicUrl, port, issuer: provider.issuer, upstream, store, ...(redis === null ? {} : { redisUrl: redis.url }) })
  // Beside the hold (helpers/listen.ts); a test's own configure() may still turn it off.
  if (held !== null) raw.server.reuse_port = true
  options.configure?.(raw, provider)
  let config: Config
  try {
    config = configFrom(raw)
  } catch (err) {
    // A config a test got wrong must not leave servers running.
    for (const stop of owned.reverse()) await stop().catch(() => {})
    throw err
  }

  const logs: Array<Record<string, unknown>> = []
  let text = ''
  const sink = new Writable({
    write (chunk: Buffer, _enc, done) {
      const s = chunk.toString('utf8')
      text += s
      for (const line of s.split('\n')) if (line.trim() !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  const gatewayLogger = createLogger(config.logging, sink)
  const gateway = await buildGateway(config, { logger: gatewayLogger, ...(options.now === undefined ? {} : { now: options.now }) })
  let url: string
  try {
    url = (await gateway.listen(port)).replace('localhost', '127.0.0.1')
    await held?.release()
  } catch (err) {
    await gateway.close().catch(() => {})
    for (const stop of owned.reverse()) await stop().catch(() => {})
    throw err
  }
  // Wait (bounded) until discovery finished, so tests start from a ready gateway.
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${url}/ready`).catch(() => null)
    if (res?.status === 200) break
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  return {
    url,
    gateway,
    config,
    raw,
    provider,
    redis,
    upstreamUrl: upstream,
    logs,
    logText: () => text,
    async close () {
      await gateway.close()
      for (const stop of owned.reverse()) await stop().catch(() => {})
    }
  }
}
