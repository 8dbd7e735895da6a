import t from 'tap'
import { parseOptions } from '../../bench/options.js'
import { componentOf } from '../../bench/profile.js'
import { commandsPerRequest } from '../../bench/redis.js'
import { Histogram, fmt, markdownTable, median, pairedDifference, pairedRatio, textTable } from '../../bench/stats.js'

t.test('histogram: percentiles by nearest rank, to the microsecond below 100 ms', async (t) => {
  const h = new Histogram()
  for (let i = 1; i <= 100; i++) h.record(i / 10) // 0.1 ms .. 10 ms
  t.equal(h.count, 100)
  t.equal(h.percentile(50), 5)
  t.equal(h.percentile(99), 9.9)
  t.equal(h.percentile(100), 10)
  t.equal(h.max, 10)
  t.equal(Math.round(h.mean * 1000) / 1000, 5.05)
  h.record(250.04) // coarse buckets: 100 µs resolution
  t.equal(h.percentile(100), 250)
  t.equal(new Histogram().percentile(99), 0)
})

t.test('histogram: merging adds counts and keeps the maximum', async (t) => {
  const a = new Histogram()
  const b = new Histogram()
  a.record(1)
  b.record(3)
  b.record(5)
  a.merge(b)
  t.equal(a.count, 3)
  t.equal(a.percentile(50), 3)
  t.equal(a.max, 5)
})

t.test('median: middle value, mean of the two middle ones, NaN for none, non-finite values left out', async (t) => {
  t.equal(median([3, 1, 2]), 2)
  t.equal(median([4, 1, 3, 2]), 2.5)
  t.ok(Number.isNaN(median([])))
  t.equal(median([Number.NaN, 5, Number.POSITIVE_INFINITY]), 5)
})

t.test('paired ratio and difference: per-round pairs, then the median', async (t) => {
  // Round 2 ran while the machine was busy: both sides slowed, the ratio did not.
  t.equal(pairedRatio([90, 45, 92], [100, 50, 100]), 0.9)
  t.equal(pairedDifference([12, 30, 11], [10, 27, 10]), 2)
  t.equal(pairedRatio([1, 2], [0, 4]), 0.5, 'a zero denominator is left out')
  t.ok(Number.isNaN(pairedRatio([], [1])))
})

t.test('tables: text columns padded, markdown right-aligned after the first column', async (t) => {
  t.equal(textTable([['a', 'bb'], ['ccc', '1']]), 'a    bb\n---  --\nccc   1')
  t.equal(markdownTable([['a', 'b'], ['x|y', '2']]), '| a | b |\n| --- | ---: |\n| x\\|y | 2 |')
  t.equal(fmt(1.234, 2), '1.23')
  t.equal(fmt(Number.NaN), '-')
})

t.test('commands per request: every command but the benchmark\'s own INFO and the heartbeat PING', async (t) => {
  t.equal(commandsPerRequest({ get: 10, info: 3 }, { get: 30, pttl: 20, info: 9, ping: 50 }, 20), 2)
  t.ok(Number.isNaN(commandsPerRequest({}, {}, 0)))
})

t.test('profile components: the gateway, packages, node internals', async (t) => {
  t.equal(componentOf('file:///x/dist/src/http/gate.js', 'gate'), 'portcullis')
  t.equal(componentOf('file:///x/node_modules/@fastify/reply-from/index.js', 'f'), '@fastify/reply-from')
  t.equal(componentOf('node:internal/http', 'f'), 'node')
  t.equal(componentOf('', '(garbage collector)'), '(garbage collector)')
})

t.test('options: quick defaults, explicit values, and a clear error for a bad one', async (t) => {
  const quick = parseOptions(['--quick'])
  t.match(quick, { quick: true, rounds: 1, durationMs: 2000, growth: [1000], profile: false, out: '.bench/benchmarks-quick.md', only: null })
  const full = parseOptions(['--rounds', '3', '--duration', '5', '--growth', '0', '--out', '-', '--only', 'bare,redis'])
  t.match(full, { quick: false, rounds: 3, durationMs: 5000, growth: [], out: null, only: ['bare', 'redis'], profile: true })
  t.throws(() => parseOptions(['--rounds', 'x']), { message: '--rounds needs a number >= 1' })
  t.throws(() => parseOptions(['--fast']), { message: 'unknown option --fast' })
})
