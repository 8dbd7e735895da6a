import t from 'tap'
import { createRateLimiter } from '../../src/limits/rate-limiter.js'

function clock (start = 1_000_000): { now: () => number, advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms } }
}

t.test('rate limiter: allows `limit` per window per key, then refuses with the time to the window end', async t => {
  const c = clock()
  const limiter = createRateLimiter({ limit: 3, windowMs: 60_000, maxKeys: 100, now: c.now })
  for (let i = 0; i < 3; i++) t.same(limiter.take('a'), { allowed: true }, `request ${i + 1}`)
  c.advance(15_000)
  t.same(limiter.take('a'), { allowed: false, retryAfterMs: 45_000 })
  t.same(limiter.take('b'), { allowed: true }, 'another key has its own window')
  c.advance(45_000)
  t.same(limiter.take('a'), { allowed: true }, 'a new window')
})

t.test('rate limiter: holds at most maxKeys keys; the oldest window goes first', async t => {
  const c = clock()
  const limiter = createRateLimiter({ limit: 1, windowMs: 60_000, maxKeys: 1000, now: c.now })
  for (let i = 0; i < 50_000; i++) {
    limiter.take(`10.0.${i >> 8}.${i & 255}`)
    if (i % 1000 === 0) c.advance(1)
  }
  t.equal(limiter.size(), 1000)
  // The newest key is still counted; the oldest one was forgotten and starts afresh.
  t.equal(limiter.take('10.0.195.79').allowed, false)
  t.equal(limiter.take('10.0.0.0').allowed, true)
  t.equal(limiter.size(), 1000)
})

t.test('rate limiter: a window that restarts moves its key behind the live ones', async t => {
  const c = clock()
  const limiter = createRateLimiter({ limit: 1, windowMs: 1000, maxKeys: 2, now: c.now })
  limiter.take('old')
  c.advance(500)
  limiter.take('mid')
  c.advance(600)
  limiter.take('old') // a new window for 'old', now the newest
  limiter.take('new') // room is made by dropping 'mid', the oldest window
  t.equal(limiter.take('old').allowed, false, 'old still counted')
  t.equal(limiter.take('mid').allowed, true, 'mid was dropped')
})

t.test('rate limiter: limit 0 allows everything and holds nothing', async t => {
  const limiter = createRateLimiter({ limit: 0, windowMs: 1000, maxKeys: 1 })
  for (let i = 0; i < 100; i++) t.equal(limiter.take('a').allowed, true)
  t.equal(limiter.size(), 0)
})
