import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { pickedPort } from '../test/helpers/listen.js'

/*
 * The benchmark's redis-server: no persistence (the test helper's fsync-per-write would measure
 * the disk), and the figures read from it: commands per request and memory per session.
 */

export interface BenchRedis {
  readonly url: string
  readonly admin: Redis
  /** Total calls per command since start (INFO commandstats). */
  commandCalls (): Promise<Record<string, number>>
  /** `used_memory` in bytes. */
  usedMemory (): Promise<number>
  /** MEMORY USAGE of each key matching `pattern` (at most `limit` keys). */
  memoryUsage (pattern: string, limit?: number): Promise<number[]>
  stop (): Promise<void>
}

export const REDIS_SERVER = '/usr/bin/redis-server'

/** `redis-server --version`, for the report. */
export function redisVersion (): string {
  const out = spawnSync(REDIS_SERVER, ['--version'], { encoding: 'utf8' }).stdout ?? ''
  return /v=([\d.]+)/.exec(out)?.[1] ?? 'unknown'
}

/** Starts redis-server on a free loopback port without persistence. */
export async function startBenchRedis (): Promise<BenchRedis> {
  const port = await pickedPort()
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-redis-'))
  const child = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'], { stdio: 'ignore' })
  const url = `redis://127.0.0.1:${port}/0`
  const admin = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true })
  // Connection attempts before the server listens fail; they are retried below.
  admin.on('error', () => {})
  for (let i = 0; i < 100; i++) {
    try {
      await admin.connect()
      break
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
  await admin.ping()
  return {
    url,
    admin,
    async commandCalls () {
      const info = await admin.info('commandstats')
      const out: Record<string, number> = {}
      for (const m of info.matchAll(/^cmdstat_([\w|]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2])
      return out
    },
    async usedMemory () {
      const info = await admin.info('memory')
      return Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? 0)
    },
    async memoryUsage (pattern, limit = 100) {
      const sizes: number[] = []
      let cursor = '0'
      do {
        const [next, keys] = await admin.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
        cursor = next
        for (const key of keys) {
          if (sizes.length >= limit) break
          sizes.push(Number(await admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')))
        }
      } while (cursor !== '0' && sizes.length < limit)
      return sizes
    },
    async stop () {
      admin.disconnect()
      child.kill('SIGTERM')
      await new Promise((resolve) => { if (child.exitCode !== null) resolve(null); else child.once('exit', resolve) })
    }
  }
}

/** Commands per request between two `commandCalls` snapshots, leaving out the benchmark's own INFO. */
export function commandsPerRequest (before: Record<string, number>, after: Record<string, number>, requests: number): number {
  let total = 0
  for (const [name, calls] of Object.entries(after)) {
    if (name === 'info' || name === 'ping') continue
    total += calls - (before[name] ?? 0)
  }
  return requests === 0 ? Number.NaN : total / requests
}
