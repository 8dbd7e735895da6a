import { Pool } from 'undici'
import { Histogram } from './stats.js'

/*
 * The load generator: `connections` keep-alive connections, each with one request in flight at a
 * time (a closed loop, like a browser or a service client), for a fixed duration after a warm-up.
 * Latency is measured from just before the request is handed to the connection until the whole
 * response body has been read.
 */

export interface LoadOptions {
  /** Origin, e.g. `http://127.0.0.1:4180`. */
  readonly url: string
  readonly path: string
  readonly headers?: Record<string, string>
  /** Cycles through these `Cookie` values, one per request (many sessions); overrides headers.cookie. */
  readonly cookies?: readonly string[]
  readonly connections: number
  readonly durationMs: number
  readonly warmupMs?: number
  /** Status codes counted as success; default 2xx. */
  readonly expect?: (status: number) => boolean
}

export interface LoadResult {
  readonly requests: number
  /** Every request answered, warm-up included (to divide server-side counters by). */
  readonly sent: number
  readonly errors: number
  /** Requests per second over the measured period (successful and not). */
  readonly throughput: number
  readonly p50: number
  readonly p99: number
  readonly mean: number
  readonly durationMs: number
  /** First unexpected status or error message seen, for the report. */
  readonly firstError: string | null
}

/** Runs the load and returns what it measured. */
export async function runLoad (options: LoadOptions): Promise<LoadResult> {
  const pool = new Pool(options.url, { connections: options.connections, pipelining: 1, keepAliveTimeout: 60_000, headersTimeout: 30_000, bodyTimeout: 30_000 })
  const expect = options.expect ?? ((status: number) => status >= 200 && status < 300)
  const histogram = new Histogram()
  const cookies = options.cookies ?? []
  let next = 0
  let requests = 0
  let sent = 0
  let errors = 0
  let firstError: string | null = null
  let measuring = false
  let stopped = false

  async function loop (): Promise<void> {
    while (!stopped) {
      const headers: Record<string, string> = { ...options.headers }
      if (cookies.length > 0) headers.cookie = cookies[next++ % cookies.length]!
      const started = performance.now()
      let ok = false
      try {
        const response = await pool.request({ path: options.path, method: 'GET', headers })
        await response.body.dump({ limit: 1 << 20 })
        ok = expect(response.statusCode)
        if (!ok && firstError === null && measuring) firstError = `status ${response.statusCode}`
      } catch (err) {
        if (firstError === null && measuring) firstError = (err as Error).message
        if (stopped) break
      }
      sent++
      if (!measuring || stopped) continue
      histogram.record(performance.now() - started)
      requests++
      if (!ok) errors++
    }
  }

  const loops = Array.from({ length: options.connections }, loop)
  await new Promise((resolve) => setTimeout(resolve, options.warmupMs ?? 1000))
  measuring = true
  const began = performance.now()
  await new Promise((resolve) => setTimeout(resolve, options.durationMs))
  const durationMs = performance.now() - began
  stopped = true
  await Promise.all(loops)
  await pool.close()
  return {
    requests,
    sent,
    errors,
    throughput: requests / (durationMs / 1000),
    p50: histogram.percentile(50),
    p99: histogram.percentile(99),
    mean: histogram.mean,
    durationMs,
    firstError
  }
}
