/*
 * `npm run bench`: the gateway against its floor, its limit and its peers, on loopback, with
 * everything it needs started here. Every target gets the same upstream and the same load; rounds
 * are interleaved (each round runs every target once, in a rotated order that is reversed every
 * other round, so no target always follows the same one), each measurement starts once the
 * machine is quiet, and each figure is the median over rounds; ratios are medians of per-round
 * ratios.
 */
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from '../demo/accounts.js'
import { startDevProvider } from '../demo/provider.js'
import { pickedPort } from '../test/helpers/listen.js'
import { createSessionsLike, measureSignIns, recordOf, signedInCookie } from './growth.js'
import { runLoad } from './load.js'
import { parseOptions, usage, type BenchOptions } from './options.js'
import { summariseProfile, type ProfileSummary } from './profile.js'
import { waitForQuiet } from './quiet.js'
import { commandsPerRequest, startBenchRedis, type BenchRedis } from './redis.js'
import { keyRatios, renderReport, summaryRows, type BenchData, type GrowthRow, type Sample } from './report.js'
import { fmt, median, textTable } from './stats.js'
import { APACHE_NOTE, apacheAvailable, apacheRedirectUri, startApache } from './apache.js'
import { apacheSignedInCookie, identityAtUpstream } from './apache-signin.js'
import { executable, NGINX, startBareProxy, startNginx, startPortcullis, startUpstream, UPSTREAM_ECHO_PATH, type Proc } from './targets.js'

const repoRoot = fileURLToPath(new URL('../..', import.meta.url))
const say = (line: string): void => { process.stderr.write(`bench: ${line}\n`) }

export interface Target {
  readonly key: string
  readonly label: string
  readonly proc: Proc
  readonly path: string
  readonly cookie?: string
  /** Whether its Redis commands are counted (only the Redis-store gateways use the shared Redis). */
  readonly redis: boolean
}

async function measure (target: Target, redis: BenchRedis, options: BenchOptions, cookies?: readonly string[]): Promise<Sample> {
  const before = target.redis ? await redis.commandCalls() : null
  const cpuBefore = target.proc.cpu()
  const result = await runLoad({
    url: target.proc.url,
    path: target.path,
    headers: { accept: 'application/json', ...(target.cookie === undefined ? {} : { cookie: target.cookie }) },
    ...(cookies === undefined ? {} : { cookies }),
    connections: options.connections,
    durationMs: options.durationMs,
    warmupMs: options.warmupMs
  })
  const cpuMs = target.proc.cpu() - cpuBefore
  const after = before === null ? null : await redis.commandCalls()
  return {
    throughput: result.throughput,
    p50: result.p50,
    p99: result.p99,
    errors: result.errors,
    firstError: result.firstError,
    rssMb: target.proc.rss() / 1048576,
    // CPU per request is robust to other load on the machine, unlike throughput.
    cpuUsPerRequest: result.sent === 0 ? Number.NaN : (cpuMs * 1000) / result.sent,
    // Redis also counts the warm-up's commands: divide by every request answered.
    commandsPerRequest: before === null || after === null ? Number.NaN : commandsPerRequest(before, after, result.sent)
  }
}

async function run (options: BenchOptions): Promise<BenchData> {
  const procs: Proc[] = []
  const notes: string[] = []
  const loadStart = loadavg()[0]!
  const redis = await startBenchRedis()
  // Every gateway port is known up front: the provider accepts exactly these callback URLs.
  const port = { redis: await pickedPort(), nocache: await pickedPort(), memory: await pickedPort(), workers: await pickedPort(), profileOff: await pickedPort(), profileOn: await pickedPort() }
  const apachePort = await pickedPort()
  const provider = await startDevProvider({
    clients: [{ client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, redirect_uris: [...Object.values(port).map((p) => `http://127.0.0.1:${p}/oauth2/callback`), apacheRedirectUri(apachePort)] }],
    accessTokenTtlSeconds: 24 * 3600
  })
  try {
    const upstream = await startUpstream()
    procs.push(upstream)
    const bare = await startBareProxy(upstream.url)
    procs.push(bare)
    const common = { issuer: provider.issuer, upstream: upstream.url }
    const gateway = async (name: string, p: number, extra: { store: 'redis' | 'memory', workers?: number, cache?: boolean }): Promise<Proc> => {
      const proc = await startPortcullis({ name, port: p, ...common, ...extra, ...(extra.store === 'redis' ? { redisUrl: redis.url } : {}) })
      procs.push(proc)
      return proc
    }
    const pcRedis = await gateway('portcullis redis', port.redis, { store: 'redis' })
    const pcNoCache = await gateway('portcullis redis, cache off', port.nocache, { store: 'redis', cache: false })
    const pcMemory = await gateway('portcullis memory', port.memory, { store: 'memory' })
    const pcWorkers = await gateway('portcullis redis, 2 workers', port.workers, { store: 'redis', workers: 2 })
    say('gateways up; signing in')
    const cookie = { redis: await signedInCookie(pcRedis.url), nocache: await signedInCookie(pcNoCache.url), memory: await signedInCookie(pcMemory.url), workers: await signedInCookie(pcWorkers.url) }

    const targets: Target[] = [
      { key: 'direct', label: 'upstream directly (limit)', proc: upstream, path: '/', redis: false },
      { key: 'bare', label: 'bare @fastify/http-proxy (floor)', proc: bare, path: '/', redis: false }
    ]
    if (executable(NGINX)) {
      const nginx = await startNginx(await pickedPort(), upstream.url)
      procs.push(nginx)
      targets.push({ key: 'nginx', label: 'nginx proxy_pass (peer, no auth)', proc: nginx, path: '/', redis: false })
    } else {
      notes.push(`nginx is not installed at ${NGINX}: its row is missing.`)
    }
    const apache = apacheAvailable()
    if (apache.install === null) {
      notes.push(`Apache httpd with mod_auth_openidc: skipped, ${apache.note}.`)
    } else if (options.only === null || options.only.includes('apache')) {
      const peer = await startApache({ install: apache.install, port: apachePort, issuer: provider.issuer, clientId: DEMO_CLIENT_ID, clientSecret: DEMO_CLIENT_SECRET, upstream: upstream.url, redisUrl: redis.url })
      procs.push(peer)
      const apacheCookie = await apacheSignedInCookie(peer)
      // Measuring a peer that answers without passing the identity on would compare unlike work.
      const seen = await identityAtUpstream(peer, apacheCookie, UPSTREAM_ECHO_PATH)
      if (seen.email !== 'alice@example.com') throw new Error(`Apache passed no identity to the upstream (status ${seen.status}, email ${seen.email}): ${peer.errorLog()}`)
      say('Apache mod_auth_openidc signed in; the upstream sees the email claim')
      targets.push({ key: 'apache', label: 'Apache mod_auth_openidc signed in, Redis (peer)', proc: peer, path: '/', cookie: apacheCookie, redis: true })
      notes.push(APACHE_NOTE)
    }
    targets.push(
      { key: 'redis', label: 'portcullis signed in, Redis store', proc: pcRedis, path: '/', cookie: cookie.redis, redis: true },
      { key: 'memory', label: 'portcullis signed in, memory store', proc: pcMemory, path: '/', cookie: cookie.memory, redis: false },
      { key: 'nocache', label: 'portcullis signed in, Redis, cache off', proc: pcNoCache, path: '/', cookie: cookie.nocache, redis: true },
      { key: 'forward', label: 'portcullis forward-auth GET /oauth2/auth', proc: pcRedis, path: '/oauth2/auth', cookie: cookie.redis, redis: true },
      { key: 'workers', label: 'portcullis signed in, Redis, 2 workers', proc: pcWorkers, path: '/', cookie: cookie.workers, redis: true }
    )

    if (options.only !== null) targets.splice(0, targets.length, ...targets.filter((t) => options.only!.includes(t.key)))
    const samples = new Map<string, Sample[]>(targets.map((t) => [t.key, []]))
    for (let round = 0; round < options.rounds; round++) {
      const rotated = targets.map((_, i) => targets[(i + round) % targets.length]!)
      const order = round % 2 === 0 ? rotated : rotated.reverse()
      for (const target of order) {
        const quiet = await waitForQuiet()
        if (quiet.busy !== null && quiet.busy >= 0.1) say(`the machine stayed ${fmt(quiet.busy * 100)}% busy for ${fmt(quiet.waitedMs / 1000, 1)} s before ${target.label}`)
        const sample = await measure(target, redis, options)
        samples.get(target.key)!.push(sample)
        say(`round ${round + 1}/${options.rounds} ${target.label}: ${fmt(sample.throughput)} req/s, p99 ${fmt(sample.p99, 2)} ms${sample.errors > 0 ? `, ${sample.errors} errors (${sample.firstError})` : ''}`)
      }
    }

    // Growth: live sessions written with the gateway's own code from one real session's record.
    const growth: GrowthRow[] = []
    const sessionBytes = median(await redis.memoryUsage('portcullis:*:session', 50))
    if (options.growth.length > 0) {
      const template = await recordOf(redis.url, cookie.redis)
      const cookies: string[] = []
      for (const size of [...options.growth].sort((a, b) => a - b)) {
        const memoryBefore = await redis.usedMemory()
        const added = size - cookies.length
        if (added > 0) cookies.push(...await createSessionsLike(redis.url, template, added))
        const memoryAfter = await redis.usedMemory()
        const target: Target = { key: `growth-${size}`, label: `${size} sessions`, proc: pcRedis, path: '/', redis: true }
        await waitForQuiet()
        const sample = await measure(target, redis, options, cookies)
        growth.push({ sessions: size, redisMb: memoryAfter / 1048576, bytesPerSession: added > 0 ? (memoryAfter - memoryBefore) / added : Number.NaN, sample })
        say(`growth ${size} sessions: ${fmt(sample.throughput)} req/s, p99 ${fmt(sample.p99, 2)} ms, Redis ${fmt(memoryAfter / 1048576, 1)} MB`)
      }
    }

    const signIns = options.signInSeconds > 0 ? await measureSignIns(pcRedis.url, options.signInConcurrency, options.signInSeconds * 1000) : null
    if (signIns !== null) say(`sign-ins: ${fmt(signIns.perSecond, 1)}/s with ${signIns.concurrency} concurrent`)

    let profiles: { before: ProfileSummary, after: ProfileSummary } | null = null
    if (options.profile) {
      const profile = async (label: string, p: number, cache: boolean): Promise<ProfileSummary> => {
        const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-prof-'))
        const proc = await startPortcullis({ name: label, port: p, ...common, store: 'redis', redisUrl: redis.url, cache, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] })
        try {
          await measure({ key: label, label, proc, path: '/', cookie: await signedInCookie(proc.url), redis: true }, redis, options)
        } finally {
          await proc.stop()
        }
        const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))
        if (file === undefined) throw new Error(`no CPU profile was written for ${label}`)
        return summariseProfile(join(dir, file))
      }
      profiles = { before: await profile('cache off', port.profileOff, false), after: await profile('cache on', port.profileOn, true) }
      say('profiles written')
    }

    return { options, targets: targets.map((t) => ({ key: t.key, label: t.label, samples: samples.get(t.key)! })), growth, sessionBytes, signIns, profiles, notes, loadStart, loadEnd: loadavg()[0]! }
  } finally {
    for (const p of procs.reverse()) await p.stop().catch(() => {})
    await provider.close().catch(() => {})
    await redis.stop().catch(() => {})
  }
}

async function main (): Promise<void> {
  let options: BenchOptions
  try {
    options = parseOptions(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n\n${usage}`)
    process.exitCode = 1
    return
  }
  const started = new Date()
  const data = await run(options)
  const ratios = keyRatios(data)
  process.stdout.write(`\n${textTable(summaryRows(data))}\n\n`)
  for (const r of ratios) process.stdout.write(`${r.label}: ${r.value}\n`)
  if (options.out !== null) {
    const file = join(repoRoot, options.out)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, renderReport(data, ratios, started, process.argv.slice(2)))
    process.stdout.write(`\nreport written to ${options.out}\n`)
  }
  const main = ratios.find((r) => r.key === 'main')
  process.stdout.write(`main ratio: signed-in (Redis store) / bare proxy throughput = ${main?.value ?? '-'}\n`)
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})
