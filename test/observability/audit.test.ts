import { createHash } from 'node:crypto'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import t from 'tap'
import { createAudit, sessionHash } from '../../src/observability/audit.js'
import { createLogger } from '../../src/observability/logger.js'
import { createForwarding } from '../../src/proxy/forwarded.js'
import { newRequestState } from '../../src/http/context.js'

function capture (): { stream: Writable, lines: () => Array<Record<string, unknown>> } {
  let text = ''
  return {
    stream: new Writable({ write (chunk: Buffer, _enc, done) { text += chunk.toString('utf8'); done() } }),
    lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
  }
}

t.test('audit: sessionHash is the first 16 hex characters of sha256', async t => {
  t.equal(sessionHash('abc'), createHash('sha256').update('abc').digest('hex').slice(0, 16))
  t.match(sessionHash('x'), /^[0-9a-f]{16}$/)
})

t.test('audit: one info line `audit` with the event, client through trusted proxies, user agent, email, session hash and reason', async t => {
  const sink = capture()
  const logger = createLogger({ level: 'info', format: 'json' }, sink.stream)
  const audit = createAudit(logger, createForwarding(['127.0.0.1']), false)
  const app = Fastify()
  app.decorateRequest('portcullis', null, [])
  app.addHook('onRequest', (request, _reply, done) => { request.portcullis = newRequestState(); done() })
  app.get('/', (request, reply) => {
    audit.record('sign_in', request, { email: 'alice@example.com', sessionId: 'sid-1', reason: 'why' })
    audit.record('bad_ticket', request)
    reply.send('ok')
  })
  await app.inject({ url: '/', headers: { 'user-agent': 'ua/1 ' + 'x'.repeat(400), 'x-forwarded-for': '203.0.113.9', cookie: 'secret=1' }, remoteAddress: '127.0.0.1' })
  const lines = sink.lines().filter((l) => l.msg === 'audit')
  t.equal(lines.length, 2)
  t.match(lines[0], { level: 'info', audit: 'sign_in', client: '203.0.113.9', email: 'alice@example.com', session: sessionHash('sid-1'), reason: 'why' })
  t.equal((lines[0]!.userAgent as string).length, 256)
  t.ok(typeof lines[0]!.time === 'number' || typeof lines[0]!.time === 'string', 'the line has its time')
  t.same(Object.keys(lines[1]!).filter((k) => ['email', 'session', 'reason'].includes(k)), [], 'nothing unknown is written')
  t.notMatch(JSON.stringify(lines), /sid-1|secret=1/, 'no session id or cookie')
})
