import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { Agent } from 'undici'
import { CookieJar } from '../helpers/cookie-jar.js'
import { command } from '../helpers/redis.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'

/*
 * The flood of docs/security.md: 20,000 GET /oauth2/start with a 2 KB `rd` from one client
 * address, against a gateway on a real redis-server, once with the default rate limit and once
 * with the rate limit off (so the pending sign-in bound alone holds Redis). Meanwhile a signed-in
 * user's proxied requests and /ping must keep answering 200. The numbers measured are printed;
 * the assertions are the generous bounds the document states.
 */

// Two floods of 20,000 requests outlast the suite's per-file timeout on a busy machine.
t.setTimeout(12 * 60_000)

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const FLOOD = 20_000
const CONCURRENCY = 16
const rd = '/' + 'r'.repeat(2047)

async function redisInfo (stack: Stack): Promise<{ keys: number, usedMemory: number }> {
  const port = stack.redis!.port
  const keys = Number(await command(port, 'DBSIZE'))
  const info = String(await command(port, 'INFO', 'memory'))
  const usedMemory = Number(/used_memory:(\d+)/.exec(info)?.[1])
  return { keys, usedMemory }
}

function heapUsed (): number {
  gc()
  gc()
  return process.memoryUsage().heapUsed
}

async function flood (configure: (raw: any) => void): Promise<Record<string, number>> {
  const stack = await startStack({
    store: 'redis',
    configure: (raw) => {
      // The flood comes through a trusted proxy from one client address; the user is another.
      raw.server.trusted_proxies = ['127.0.0.1']
      // The test keeps every log line in memory; at warn the harness adds nothing to the heap measured.
      raw.logging = { level: 'warn' }
      // The test machine is shared: give Redis room to answer while it is busy.
      raw.redis.command_timeout = '5s'
      configure(raw)
    }
  })
  try {
    const jar = new CookieJar()
    await signIn({ gatewayUrl: stack.url, jar, email: 'alice@example.com' })
    const agent = new Agent({ connections: CONCURRENCY })
    const url = `${stack.url}/oauth2/start?rd=${encodeURIComponent(rd)}`
    // Redis before any start of the flooding client; the heap after a warm-up (code paths, pools).
    const redisBefore = await redisInfo(stack)
    for (let i = 0; i < 200; i++) await (await fetch(url, { redirect: 'manual', headers: { 'x-forwarded-for': '198.51.100.77' }, dispatcher: agent } as RequestInit)).arrayBuffer()
    const heapBefore = heapUsed()

    const statuses = new Map<number, number>()
    let sent = 0
    let done = false
    const worker = async (): Promise<void> => {
      while (sent < FLOOD) {
        sent++
        const res = await fetch(url, { redirect: 'manual', headers: { 'x-forwarded-for': '198.51.100.77' }, dispatcher: agent } as RequestInit)
        await res.arrayBuffer()
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1)
      }
    }
    // The signed-in user and a health probe, all the while.
    const user: number[] = []
    const ping: number[] = []
    const watcher = async (): Promise<void> => {
      while (!done) {
        const [page, probe] = await Promise.all([
          fetchWithJar(`${stack.url}/app/page`, jar, { headers: { accept: 'application/json' } }),
          fetch(`${stack.url}/ping`)
        ])
        user.push(page.status)
        ping.push(probe.status)
        await page.arrayBuffer()
        await probe.arrayBuffer()
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    const started = Date.now()
    const watching = watcher()
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    done = true
    await watching
    const seconds = (Date.now() - started) / 1000
    // Deletions of dropped pending records are not awaited by their requests: let them land.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const redisAfter = await redisInfo(stack)
    const heapAfter = heapUsed()
    await agent.close()

    t.same([...new Set(user)], [200], `the signed-in user's ${user.length} requests all answered 200`)
    t.same([...new Set(ping)], [200], `/ping answered 200 all ${ping.length} times`)
    t.ok(user.length >= 3, 'the user kept sending during the flood')
    const result = {
      seconds,
      redirected: statuses.get(302) ?? 0,
      limited: statuses.get(429) ?? 0,
      redisKeysBefore: redisBefore.keys,
      redisKeysAfter: redisAfter.keys,
      redisMemoryGrowthBytes: redisAfter.usedMemory - redisBefore.usedMemory,
      heapGrowthBytes: heapAfter - heapBefore,
      unavailable: statuses.get(503) ?? 0
    }
    t.comment(`statuses: ${JSON.stringify([...statuses])}`)
    // A 503 is the gateway failing closed when Redis is too slow to answer (a busy machine).
    t.equal(result.redirected + result.limited + result.unavailable, FLOOD, 'every request was answered 302, 429 or 503')
    t.ok(result.unavailable <= FLOOD / 100, `${result.unavailable} answered 503 (at most 1%)`)
    return result
  } finally {
    await stack.close()
  }
}

t.test('flood: 20,000 starts with a 2 KB rd from one client, default rate limit', async (t) => {
  // The documented default (the test helper's base config turns the limit off).
  const r = await flood((raw) => { raw.server.rate_limit = { sign_in: 30, window: '1m' } })
  t.comment(JSON.stringify(r))
  t.ok(r.redirected <= 30, `${r.redirected} starts passed the limit of 30 per minute`)
  t.ok(r.redisKeysAfter - r.redisKeysBefore <= 10, `Redis keys grew by ${r.redisKeysAfter - r.redisKeysBefore} (bound: 10 pending sign-ins per client)`)
  t.ok(r.redisMemoryGrowthBytes < 1024 * 1024, `Redis memory grew by ${r.redisMemoryGrowthBytes} bytes (bound: 1 MiB)`)
  t.ok(r.heapGrowthBytes < 32 * 1024 * 1024, `heap grew by ${r.heapGrowthBytes} bytes (bound: 32 MiB)`)
})

t.test('flood: the same with the rate limit off; the pending sign-in bound alone holds Redis', async (t) => {
  const r = await flood((raw) => { raw.server.rate_limit = { sign_in: 0 } })
  t.comment(JSON.stringify(r))
  t.equal(r.limited, 0, 'nothing was rate-limited')
  t.ok(r.redisKeysAfter - r.redisKeysBefore <= 10, `Redis keys grew by ${r.redisKeysAfter - r.redisKeysBefore} (bound: 10 pending sign-ins per client)`)
  t.ok(r.redisMemoryGrowthBytes < 1024 * 1024, `Redis memory grew by ${r.redisMemoryGrowthBytes} bytes (bound: 1 MiB)`)
  t.ok(r.heapGrowthBytes < 32 * 1024 * 1024, `heap grew by ${r.heapGrowthBytes} bytes (bound: 32 MiB)`)
})
