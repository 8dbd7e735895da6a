import { createRedisStore } from '../src/session/redis-store.js'
import { createSessions } from '../src/session/sessions.js'
import { createTicketCodec } from '../src/session/ticket.js'
import type { SessionRecord } from '../src/domain/types.js'
import { CookieJar } from '../test/helpers/cookie-jar.js'
import { signIn } from '../test/helpers/signin.js'
import type { RedisConfig } from '../src/config/types.js'
import { COOKIE_SECRET } from './targets.js'

/*
 * How cost grows with the number of live sessions, and how fast sign-ins complete. Sessions for
 * the growth runs are written with the gateway's own session code (sealed exactly as a sign-in
 * seals them) from the record of one real sign-in, so each is a genuine session a cookie opens.
 */

const COOKIE = '_portcullis'
const KEY_PREFIX = 'portcullis:'

function redisConfig (url: string): RedisConfig {
  return { url, keyPrefix: KEY_PREFIX, sentinel: null, cluster: null, password: null, connectTimeoutMs: 2000, commandTimeoutMs: 5000 }
}

/** Signs in through the gateway and the development provider; returns the `Cookie` header value. */
export async function signedInCookie (gatewayUrl: string, email = 'alice@example.com'): Promise<string> {
  const jar = new CookieJar()
  const result = await signIn({ gatewayUrl, jar, email })
  if (result.status !== 200) throw new Error(`sign-in at ${gatewayUrl} ended with ${result.status}`)
  const cookie = jar.header(gatewayUrl)
  if (cookie === undefined || !cookie.includes(`${COOKIE}=`)) throw new Error('sign-in set no session cookie')
  return `${COOKIE}=${/(?:^|; )_portcullis=([^;]+)/.exec(cookie)![1]}`
}

/** The decrypted record of the session a cookie names (read with the gateway's own code). */
export async function recordOf (redisUrl: string, cookie: string): Promise<SessionRecord> {
  const store = createRedisStore(redisConfig(redisUrl))
  try {
    const ticket = createTicketCodec([COOKIE_SECRET]).decode(cookie.slice(COOKIE.length + 1))
    if (ticket === null) throw new Error('the cookie does not decode')
    const record = await createSessions({ store, keyPrefix: KEY_PREFIX }).load(ticket)
    if (record === null) throw new Error('the session is not in Redis')
    return record
  } finally {
    await store.close()
  }
}

/** Writes `count` sessions copied from `template` and returns their `Cookie` header values. */
export async function createSessionsLike (redisUrl: string, template: SessionRecord, count: number): Promise<string[]> {
  const store = createRedisStore(redisConfig(redisUrl))
  const sessions = createSessions({ store, keyPrefix: KEY_PREFIX })
  const codec = createTicketCodec([COOKIE_SECRET])
  const cookies: string[] = []
  const now = Date.now()
  const record: SessionRecord = { ...template, createdAt: now, refreshedAt: now, expiresAt: now + 7 * 86_400_000 }
  try {
    let made = 0
    const worker = async (): Promise<void> => {
      while (made < count) {
        made++
        const ticket = await sessions.create(record, 86_400_000)
        cookies.push(`${COOKIE}=${codec.encode(ticket)}`)
      }
    }
    await Promise.all(Array.from({ length: 64 }, worker))
  } finally {
    await store.close()
  }
  return cookies
}

export interface SignInRate {
  readonly completed: number
  readonly failed: number
  readonly perSecond: number
  readonly concurrency: number
}

/**
 * Runs `concurrency` loops of complete sign-ins (gateway start, provider sign-in page, account
 * choice, callback, landing) for `durationMs`, and counts those that landed signed in.
 */
export async function measureSignIns (gatewayUrl: string, concurrency: number, durationMs: number): Promise<SignInRate> {
  let completed = 0
  let failed = 0
  const deadline = Date.now() + durationMs
  const started = Date.now()
  const loop = async (i: number): Promise<void> => {
    while (Date.now() < deadline) {
      try {
        await signedInCookie(gatewayUrl, i % 2 === 0 ? 'alice@example.com' : 'bob@example.com')
        completed++
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, (_, i) => loop(i)))
  const seconds = (Date.now() - started) / 1000
  return { completed, failed, perSecond: completed / seconds, concurrency }
}
