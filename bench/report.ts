import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cpus, release, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { SignInRate } from './growth.js'
import type { BenchOptions } from './options.js'
import type { ProfileSummary } from './profile.js'
import { redisVersion } from './redis.js'
import { fmt, markdownTable, median, pairedDifference, pairedRatio } from './stats.js'
import { apacheVersions } from './apache.js'
import { NGINX, executable } from './targets.js'

/*
 * What the benchmark prints and writes: the summary table, the key ratios (pair by pair), and
 * docs/benchmarks.md with the machine, the versions and the command.
 */

export interface Sample {
  readonly throughput: number
  readonly p50: number
  readonly p99: number
  readonly errors: number
  readonly firstError: string | null
  readonly rssMb: number
  /** CPU time of the target's processes per request answered (warm-up included), in µs. */
  readonly cpuUsPerRequest: number
  readonly commandsPerRequest: number
}

export interface TargetResult {
  readonly key: string
  readonly label: string
  readonly samples: readonly Sample[]
}

export interface GrowthRow {
  readonly sessions: number
  readonly redisMb: number
  readonly bytesPerSession: number
  readonly sample: Sample
}

export interface BenchData {
  readonly options: BenchOptions
  readonly targets: readonly TargetResult[]
  readonly growth: readonly GrowthRow[]
  /** MEMORY USAGE of a real session key (median of those sampled). */
  readonly sessionBytes: number
  readonly signIns: SignInRate | null
  readonly profiles: { readonly before: ProfileSummary, readonly after: ProfileSummary } | null
  readonly notes: readonly string[]
  readonly loadStart: number
  readonly loadEnd: number
}

export interface KeyRatio {
  readonly key: string
  readonly label: string
  readonly value: string
}

const of = (data: BenchData, key: string, field: keyof Sample): number[] =>
  (data.targets.find((t) => t.key === key)?.samples ?? []).map((s) => s[field] as number)

/** The summary table: one row per target, medians over rounds, throughput relative to the bare proxy. */
export function summaryRows (data: BenchData): string[][] {
  const bare = of(data, 'bare', 'throughput')
  const rows = [['target', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'RSS MB', 'Redis cmd/req', 'vs bare', 'errors']]
  for (const t of data.targets) {
    const m = (field: keyof Sample): number => median(t.samples.map((s) => s[field] as number))
    const errors = t.samples.reduce((n, s) => n + s.errors, 0)
    rows.push([t.label, fmt(m('throughput')), fmt(m('p50'), 2), fmt(m('p99'), 2), fmt(m('cpuUsPerRequest')), fmt(m('rssMb'), 0), fmt(m('commandsPerRequest'), 3), `${fmt(pairedRatio(t.samples.map((s) => s.throughput), bare), 2)}x`, String(errors)])
  }
  return rows
}

/** The ratios the issue asks about, each computed pair by pair over rounds. */
export function keyRatios (data: BenchData): KeyRatio[] {
  const tp = (key: string): number[] => of(data, key, 'throughput')
  const x = (v: number): string => `${fmt(v, 2)}x`
  const out: KeyRatio[] = [
    { key: 'main', label: 'signed-in (Redis store) / bare proxy throughput', value: x(pairedRatio(tp('redis'), tp('bare'))) },
    { key: 'cpu', label: 'gateway CPU per request: signed-in (Redis store) / bare proxy', value: x(pairedRatio(of(data, 'redis', 'cpuUsPerRequest'), of(data, 'bare', 'cpuUsPerRequest'))) },
    { key: 'memory', label: 'signed-in (memory store) / bare proxy throughput', value: x(pairedRatio(tp('memory'), tp('bare'))) },
    { key: 'p99', label: `added p99 latency at ${data.options.connections} connections (Redis store - bare proxy)`, value: `${fmt(pairedDifference(of(data, 'redis', 'p99'), of(data, 'bare', 'p99')), 2)} ms` },
    { key: 'forward', label: 'forward-auth / signed-in proxy throughput', value: x(pairedRatio(tp('forward'), tp('redis'))) },
    { key: 'workers', label: '2 workers / 1 worker throughput', value: x(pairedRatio(tp('workers'), tp('redis'))) },
    { key: 'cache', label: 'session cache on / off throughput', value: x(pairedRatio(tp('redis'), tp('nocache'))) },
    { key: 'redis-cmds', label: 'Redis commands per request: cached / cache off', value: `${fmt(median(of(data, 'redis', 'commandsPerRequest')), 3)} / ${fmt(median(of(data, 'nocache', 'commandsPerRequest')), 2)}` },
    { key: 'session-bytes', label: 'Redis memory per session (MEMORY USAGE)', value: `${fmt(data.sessionBytes)} bytes` }
  ]
  if (data.targets.some((t) => t.key === 'nginx')) {
    out.splice(4, 0, { key: 'nginx', label: 'signed-in (Redis store) / nginx proxy_pass throughput', value: x(pairedRatio(tp('redis'), tp('nginx'))) })
  }
  if (data.targets.some((t) => t.key === 'apache')) {
    const at = out.findIndex((r) => r.key === 'p99')
    out.splice(at, 0, { key: 'apache', label: 'signed-in (Redis store) / Apache mod_auth_openidc signed-in throughput', value: x(pairedRatio(tp('redis'), tp('apache'))) })
  }
  return out
}

function version (pkg: string): string {
  try {
    const file = fileURLToPath(new URL(`../../node_modules/${pkg}/package.json`, import.meta.url))
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

function nginxVersion (): string {
  if (!executable(NGINX)) return 'not installed'
  const out = spawnSync(NGINX, ['-v'], { encoding: 'utf8' })
  return /nginx\/([\d.]+)/.exec(`${out.stderr}${out.stdout}`)?.[1] ?? 'unknown'
}

function profileTables (p: { before: ProfileSummary, after: ProfileSummary }): string {
  const fnRows = (s: ProfileSummary): string[][] => [['function (self time)', 'share of busy time'], ...s.functions.map((f) => [f.name, `${fmt(f.share * 100, 1)}%`])]
  const components = new Set([...p.before.components, ...p.after.components].map((c) => c.name))
  const share = (s: ProfileSummary, name: string): string => fmt((s.components.find((c) => c.name === name)?.share ?? 0) * 100, 1)
  return [
    `Busy CPU time during the run: ${fmt(p.before.busyMs)} ms with the cache off, ${fmt(p.after.busyMs)} ms with it on ` +
      `(idle ${fmt(p.before.idleShare * 100)}% and ${fmt(p.after.idleShare * 100)}% of samples).`,
    '',
    markdownTable([['component', 'cache off (before)', 'cache on (after)'], ...[...components].map((c) => [c, `${share(p.before, c)}%`, `${share(p.after, c)}%`])]),
    '',
    '**Before** (cache off: every request reads and decrypts the session):',
    '',
    markdownTable(fnRows(p.before)),
    '',
    '**After** (cache on):',
    '',
    markdownTable(fnRows(p.after))
  ].join('\n')
}

/** Fixed guidance printed with every report. */
export const READING = [
  '- The load generator runs on the same machine as the targets. On a machine with few cores it',
  '  competes with them for CPU, so absolute figures understate what a dedicated host would do, and',
  '  the slowest targets are the most affected. Ratios pair runs taken seconds apart, which cancels',
  '  most drift in background load; `CPU µs/req` (CPU time of the target\'s processes per request)',
  '  is the least sensitive to other load. A load average well above the core count at start or',
  '  end means other work shared the machine and the figures are noisy.',
  '- `Redis cmd/req` counts every command the Redis-store gateways (and the Apache peer) sent during',
  '  the run, divided by the requests answered: a cached session is read again once per',
  '  `session.cache.ttl`, which is the small remainder on the cached rows.',
  '- How the hot path was profiled and what changed is described in [scaling.md](scaling.md).'
]

/** docs/benchmarks.md: machine, versions, command, settings and every figure of this run. */
export function renderReport (data: BenchData, ratios: readonly KeyRatio[], started: Date, argv: readonly string[]): string {
  const o = data.options
  const cpu = cpus()
  const lines = [
    '# Benchmarks',
    '',
    `Produced by \`npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}\` on ${started.toISOString()}. Everything runs on loopback on one`,
    'machine: the load generator (in-repo, undici keep-alive connections in a closed loop), the targets,',
    'a fast upstream (a small fixed JSON answer), redis-server without persistence, and the development',
    'OpenID provider for sign-ins. Figures are medians over interleaved rounds (the order rotates each',
    'round and is reversed every other round; each measurement starts once the machine is quiet);',
    'ratios are medians of per-round ratios. The access log of each gateway is written (to /dev/null)',
    'as in production.',
    '',
    '## Reading these figures',
    '',
    ...READING,
    '',
    '## Machine and versions',
    '',
    `- CPU: ${cpu.length} x ${cpu[0]?.model ?? 'unknown'}; memory ${fmt(totalmem() / 1073741824, 1)} GiB; Linux ${release()}`,
    `- Load average (1 min) at start / end: ${fmt(data.loadStart, 2)} / ${fmt(data.loadEnd, 2)}`,
    `- Node.js ${process.version}; fastify ${version('fastify')}; @fastify/http-proxy ${version('@fastify/http-proxy')}; undici ${version('undici')}; ioredis ${version('ioredis')}`,
    `- redis-server ${redisVersion()}; nginx ${nginxVersion()}; ${apacheVersions()}`,
    `- Settings: ${o.rounds} rounds x ${o.durationMs / 1000} s per target (after ${o.warmupMs / 1000} s warm-up), ${o.connections} connections`,
    '',
    '## Throughput and latency',
    '',
    markdownTable(summaryRows(data)),
    '',
    '## Key ratios',
    '',
    ...ratios.map((r) => `- ${r.label}: **${r.value}**`),
    ''
  ]
  if (data.growth.length > 0) {
    lines.push('## Growth with live sessions', '',
      'Sessions are written with the gateway\'s own code from the record of a real sign-in; the load cycles',
      'through every session in turn, so once there are more sessions than `session.cache.max_entries`',
      '(10000) nearly every request misses the cache and reads Redis: one round trip carrying GET and',
      'PTTL, plus the idle-timeout touch (PEXPIRE) sent in the background the first time this process',
      'serves a session in an interval, which is why commands per request exceed 2 there.', '',
      markdownTable([['live sessions', 'Redis used MB', 'Redis bytes/session', 'req/s', 'p50 ms', 'p99 ms', 'gateway RSS MB', 'Redis cmd/req'],
        ...data.growth.map((g) => [String(g.sessions), fmt(g.redisMb, 1), fmt(g.bytesPerSession), fmt(g.sample.throughput), fmt(g.sample.p50, 2), fmt(g.sample.p99, 2), fmt(g.sample.rssMb), fmt(g.sample.commandsPerRequest, 2)])]), '')
  }
  if (data.signIns !== null) {
    const s = data.signIns
    lines.push('## Sign-ins', '', `Complete sign-ins (gateway start, provider page, account choice, callback, landing) with ${s.concurrency} concurrent users against the development provider: **${fmt(s.perSecond, 1)} per second** (${s.completed} completed, ${s.failed} failed). The provider, not the gateway, sets this pace.`, '')
  }
  if (data.profiles !== null) lines.push('## CPU profile of the signed-in path', '', profileTables(data.profiles), '')
  if (data.notes.length > 0) lines.push('## Notes', '', ...data.notes.map((n) => `- ${n}`), '')
  return lines.join('\n')
}
