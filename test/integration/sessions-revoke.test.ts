/**
 * Revocation across replicas: two gateway processes share a real redis-server. A person's
 * sessions are listed and revoked (through replica A's admin endpoint and through the CLI); the
 * other replica refuses the old cookies within 100 ms, and its open WebSocket is closed with code
 * 1008 within a second.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import WebSocket from 'ws'
import { stringify } from 'yaml'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { getJson, signInReplica, startReplicas, type Replicas } from '../helpers/replicas.js'
import type { CookieJar } from '../helpers/cookie-jar.js'
import type { RawConfig } from '../helpers/stack.js'

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url))
const ADMIN_TOKEN = 'admin-token-for-tests-0123456789'

let redis: RedisServer
let replicas: Replicas
let adminUrl: string
let configFile: string

t.before(async () => {
  redis = await startRedis()
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-sessions-'))
  const tokenFile = join(dir, 'admin-token')
  writeFileSync(tokenFile, `${ADMIN_TOKEN}\n`)
  replicas = await startReplicas({
    redis,
    configure: (raw: RawConfig, i) => {
      if (i === 0) (raw as Record<string, unknown>).admin = { listen: '127.0.0.1:0', token_file: tokenFile }
      if (i === 1) {
        configFile = join(dir, 'portcullis.yaml')
        writeFileSync(configFile, stringify(raw))
      }
    }
  })
  // Port 0: the address the first gateway logged for its admin listener.
  adminUrl = replicas.gateways[0].listening.admin ?? ''
  if (!/^http:\/\/127\.0\.0\.1:[1-9]\d*$/.test(adminUrl)) throw new Error(`no admin address logged: ${JSON.stringify(replicas.gateways[0].listening)}`)
})
t.teardown(async () => {
  await replicas?.close()
  await redis?.stop()
})

/** Runs `portcullis sessions ...` against the replicas' config. */
async function cli (...args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'sessions', ...args, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { code, stdout, stderr }
}

async function admin (path: string, init: RequestInit = {}, token = ADMIN_TOKEN): Promise<{ status: number, body: any }> {
  const response = await fetch(`${adminUrl}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...init.headers as Record<string, string> }, signal: AbortSignal.timeout(10_000) })
  return { status: response.status, body: await response.json() }
}

/** Opens a WebSocket on `base` with the jar's cookies and waits for the greeting. */
async function openSocket (base: string, jar: CookieJar): Promise<{ ws: WebSocket, closed: Promise<{ code: number, at: number }> }> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`, { headers: { cookie: jar.header(base) ?? '' } })
  const closed = new Promise<{ code: number, at: number }>((resolve) => ws.once('close', (code) => resolve({ code, at: Date.now() })))
  await new Promise<void>((resolve, reject) => {
    ws.once('message', () => resolve())
    ws.once('error', reject)
  })
  return { ws, closed }
}

/** Polls `base` with the jar until it answers 401; resolves with when, or null after `ms`. */
async function refusedWithin (base: string, jar: CookieJar, ms: number): Promise<number | null> {
  const until = Date.now() + ms
  do {
    const { status } = await getJson(base, '/api/whoami', jar)
    if (status === 401) return Date.now()
  } while (Date.now() < until)
  return null
}

t.test('revoke by email on A: B refuses the old cookies within 100 ms and closes its WebSocket with 1008 within a second', async (t) => {
  const [a, b] = replicas.gateways
  const first = await signInReplica(replicas, 'alice@example.com')
  const second = await signInReplica(replicas, 'alice@example.com')
  const bob = await signInReplica(replicas, 'bob@example.com')
  for (const { jar } of [first, second, bob]) t.equal((await getJson(b.url, '/api/whoami', jar)).status, 200, 'signed in on B (and cached there)')
  const socket = await openSocket(b.url, first.jar)

  const listed = await admin('/sessions?email=ALICE@example.com')
  t.equal(listed.status, 200)
  t.equal(listed.body.sessions.length, 2, 'both of alice\'s sessions are listed')
  for (const s of listed.body.sessions) {
    t.match(s, { session: /^[0-9a-f]{16}$/, email: 'alice@example.com', client: /127\.0\.0\.1/, created: /^\d{4}-/, last_seen: /^\d{4}-/, expires: /^\d{4}-/ })
    t.equal(Object.keys(s).some((k) => /token|cookie|sid/i.test(k)), false, 'no token, cookie or id is listed')
  }
  t.equal((await admin('/sessions')).body.sessions.length, 3, 'listing everything shows bob too')
  t.equal((await admin('/sessions', {}, 'wrong-token-0123456789abcdef')).status, 401, 'a wrong bearer token is refused')
  t.equal((await fetch(`${adminUrl}/sessions`)).status, 401, 'no bearer token is refused')
  for (const body of ['{}', '{"email":"alice@example.com","all":true}', '{"session":"not-a-ref"}', '{"all":"yes"}', 'not json']) {
    t.equal((await admin('/sessions/revoke', { method: 'POST', body })).status, 400, `revoke with ${body} is a bad request`)
  }
  t.equal((await admin('/sessions/nothing')).status, 404)

  const mark = b.lines.length
  const revoked = await admin('/sessions/revoke', { method: 'POST', body: JSON.stringify({ email: 'alice@example.com' }) })
  const revokedAt = Date.now()
  t.equal(revoked.status, 200)
  t.same([...revoked.body.revoked].sort(), listed.body.sessions.map((s: { session: string }) => s.session).sort())

  for (const { jar } of [first, second]) {
    const at = await refusedWithin(b.url, jar, 100)
    t.ok(at !== null, 'B refuses the revoked cookie within 100 ms of the revocation')
  }
  const closed = await Promise.race([socket.closed, new Promise<null>((resolve) => setTimeout(resolve, 1000, null))])
  t.equal(closed?.code, 1008, 'B closed the WebSocket with 1008')
  t.ok(closed !== null && closed.at - revokedAt < 1000, 'within a second')
  t.equal((await getJson(a.url, '/api/whoami', first.jar)).status, 401, 'A refuses it too')
  t.equal((await getJson(b.url, '/api/whoami', bob.jar)).status, 200, 'bob is still signed in')

  const audit = a.lines.find((l) => l.audit === 'sessions_revoked')
  t.match(audit, { msg: 'audit', by: 'admin_api', email: 'alice@example.com', count: 2 })
  t.same([...(audit?.sessions as string[])].sort(), [...revoked.body.revoked].sort(), 'the audit line names the sessions by reference')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.match(b.lines.slice(mark).find((l) => l.audit === 'session_ended'), { msg: 'audit', email: 'alice@example.com', sockets: 1, reason: 'session_ended' }, 'B audits the socket it closed')
  t.same((await admin('/sessions?email=alice@example.com')).body.sessions, [])
})

t.test('a Redis dump holds no email, session id or token in plaintext', async (t) => {
  const [, b] = replicas.gateways
  const secrets = new Set<string>(['alice@example.com', 'bob@example.com'])
  for (const email of ['alice@example.com', 'bob@example.com']) {
    const { jar } = await signInReplica(replicas, email)
    const cookie = jar.header(b.url) ?? ''
    // The ticket cookie: v2.<session id>.<key>.<expiry>.<mac> (v1 without the expiry).
    for (const m of cookie.matchAll(/v[12]\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})\./g)) { secrets.add(m[1]!); secrets.add(m[2]!) }
    const token = (await getJson(b.url, '/token', jar)).body?.headers?.['x-forwarded-access-token']
    t.ok(typeof token === 'string' && token.length > 10, 'the access token is known to the test')
    secrets.add(token)
  }
  t.ok(secrets.size >= 8, 'two session ids, keys and tokens were collected')
  const texts: string[] = []
  const keys = await replicas.redis.keys('*')
  for (const key of keys) {
    texts.push(key)
    const type = await replicas.redis.type(key)
    if (type === 'string') texts.push((await replicas.redis.getBuffer(key))!.toString('latin1'))
    else if (type === 'zset') texts.push(...await replicas.redis.zrange(key, '0', '-1'))
    else t.fail(`unexpected ${type} at ${key}`)
  }
  t.ok(keys.some((k) => k.endsWith(':info')) && keys.some((k) => k.endsWith(':index')), 'the dump holds sessions and indexes')
  const dump = texts.join('\n')
  for (const secret of secrets) t.notOk(dump.includes(secret), `no ${secret.includes('@') ? secret : 'secret value'} in the dump`)
})

t.test('the CLI lists sessions and revokes one by reference; the others stay', async (t) => {
  const [, b] = replicas.gateways
  const one = await signInReplica(replicas, 'bob@example.com')
  const listed = await cli('list', '--email', 'bob@example.com', '--json')
  t.equal(listed.code, 0, listed.stderr)
  const sessions = JSON.parse(listed.stdout) as Array<{ session: string, email: string }>
  t.ok(sessions.length >= 2, 'bob\'s sessions are listed')
  const table = await cli('list')
  t.match(table.stdout, /session\s+email\s+created\s+last_seen\s+expires\s+client\s+user_agent/)
  t.match(table.stdout, /bob@example\.com/)

  const newest = sessions[sessions.length - 1]!
  const revoked = await cli('revoke', '--session', newest.session)
  t.equal(revoked.code, 0, revoked.stderr)
  t.match(revoked.stdout, new RegExp(`revoked 1 session: ${newest.session}`))
  t.match(revoked.stdout, /"audit":"sessions_revoked"/)
  t.ok(await refusedWithin(b.url, one.jar, 100) !== null, 'B refuses the revoked session within 100 ms')
  const after = JSON.parse((await cli('list', '--email', 'bob@example.com', '--json')).stdout) as unknown[]
  t.equal(after.length, sessions.length - 1, 'only that session ended')

  const bad = await cli('revoke')
  t.equal(bad.code, 2)
  t.match(bad.stderr, /exactly one of --email E, --session REF/)
  const all = await cli('revoke', '--all')
  t.equal(all.code, 0)
  t.same(JSON.parse((await cli('list', '--json')).stdout), [], 'nothing is left after --all')
})
