import { Writable } from 'node:stream'
import t from 'tap'
import { createLogger } from '../../src/observability/logger.js'

t.test('logger: an assertion is redacted wherever it appears in a log object', async (t) => {
  let text = ''
  const sink = new Writable({ write (chunk: Buffer, _enc, done) { text += chunk.toString(); done() } })
  const logger = createLogger({ level: 'info', format: 'json' }, sink)
  const token = 'eyJhbGciOiJFUzI1NiJ9.secret-claims.signature'
  logger.info({ req: { headers: { 'x-portcullis-assertion': token } } }, 'one')
  logger.info({ headers: { 'x-portcullis-assertion': token } }, 'two')
  logger.info({ state: { assertion: token } }, 'three')
  const lines = text.trim().split('\n').map((l) => JSON.parse(l))
  t.equal(lines.length, 3)
  t.equal(text.includes(token), false)
  t.equal(lines[0].req.headers['x-portcullis-assertion'], '[redacted]')
  t.equal(lines[1].headers['x-portcullis-assertion'], '[redacted]')
  t.equal(lines[2].state.assertion, '[redacted]')
})
