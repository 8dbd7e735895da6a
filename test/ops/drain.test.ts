import { connect } from 'node:net'
import { Writable } from 'node:stream'
import t from 'tap'
import { buildGateway } from '../../src/app.js'
import { createLogger } from '../../src/observability/logger.js'
import { createMemoryStore } from '../../src/session/memory-store.js'
import type { SessionStore } from '../../src/session/store.js'
import { baseRawConfig, configFrom } from '../helpers/stack.js'

t.test('drain: a request arriving on a still-open connection while the gateway drains gets the gateway\'s 503, Connection: close and a normal access line', async (t) => {
  // A store whose PING takes 800 ms makes /ready a request still in flight when the drain starts;
  // its answer keeps the connection open, so a request pipelined behind it arrives during the drain.
  const memory = createMemoryStore()
  const store: SessionStore = { ...memory, ping: async () => { await new Promise((resolve) => setTimeout(resolve, 800)); await memory.ping() } }
  const raw = baseRawConfig({ publicUrl: 'http://127.0.0.1', port: 0, issuer: 'http://127.0.0.1:9', upstream: 'http://127.0.0.1:9', store: 'memory' })
  raw.routes = [{ path: '/', upstream: 'http://127.0.0.1:9', public: true }]
  const config = configFrom(raw)
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  const gateway = await buildGateway(config, { store, logger: createLogger(config.logging, sink) })
  const port = Number(new URL(await gateway.listen()).port)

  const socket = connect({ host: '127.0.0.1', port })
  t.teardown(() => socket.destroy())
  let received = ''
  socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1') })
  const ended = new Promise<void>((resolve) => { socket.on('close', () => resolve()) })
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  socket.write('GET /ready HTTP/1.1\r\nHost: gateway\r\n\r\n')
  await new Promise((resolve) => setTimeout(resolve, 200))
  const closing = gateway.close()
  await new Promise((resolve) => setTimeout(resolve, 50))
  socket.write('GET /late HTTP/1.1\r\nHost: gateway\r\nAccept: application/json\r\n\r\n')
  await ended
  await closing

  const answers = received.split(/(?=HTTP\/1\.1 )/)
  t.equal(answers.length, 2, 'two answers on the connection')
  t.match(answers[1], /^HTTP\/1\.1 503 /, 'the late request is refused')
  t.match(answers[1], /\r\nx-portcullis-error: PCS_SHUTTING_DOWN\r\n/i)
  t.match(answers[1], /\r\nx-portcullis-generated: true\r\n/i)
  t.match(answers[1], /\r\nconnection: close\r\n/i)
  t.match(answers[1], /\r\nretry-after: 1\r\n/i)
  t.match(answers[1], /"error":"PCS_SHUTTING_DOWN"/)
  const late = lines.filter((l) => l.msg === 'request' && l.path === '/late')
  t.equal(late.length, 1, 'one access line for the refused request')
  t.match(late[0], { status: 503, outcome: 'draining', route: 'none' })
  t.equal(lines.filter((l) => typeof l.msg === 'string' && l.msg.includes('refusing to accept new requests')).length, 0, 'no line of Fastify\'s own')
})
