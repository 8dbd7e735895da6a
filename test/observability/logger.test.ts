import { Writable } from 'node:stream'
import t from 'tap'
import { createLogger } from '../../src/observability/logger.js'

function capture (): { stream: Writable, text: () => string } {
  let text = ''
  return {
    stream: new Writable({ write (chunk: Buffer, _enc, done) { text += chunk.toString('utf8'); done() } }),
    text: () => text
  }
}

t.test('logger: headers, tokens and secrets are redacted wherever a log object carries them', async (t) => {
  const sink = capture()
  const logger = createLogger({ level: 'debug', format: 'json' }, sink.stream)
  logger.info({
    req: { headers: { cookie: 'c-1111111111', authorization: 'Bearer a-2222222222', 'x-forwarded-access-token': 'x-3333333333' } },
    res: { headers: { 'set-cookie': 's-4444444444' } },
    upstream: { headers: { cookie: 'c-5555555555', authorization: 'a-6666666666' } },
    headers: { cookie: 'c-7777777777', 'x-forwarded-access-token': 'x-8888888888' },
    grant: { access_token: 't-9999999999', refresh_token: 'r-1010101010', id_token: 'i-1212121212', client_secret: 'cs-1313131313' },
    session: { tokens: { accessToken: 't-1414141414' } },
    access_token: 't-1515151515',
    config: { clientSecret: 'cs-1616161616', secrets: ['k-1717171717'] },
    login: { codeVerifier: 'v-1818181818' },
    keep: 'visible-value'
  }, 'everything')
  const text = sink.text()
  for (const digits of ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '12', '13', '14', '15', '16', '17', '18']) {
    const pattern = digits.length === 1 ? digits.repeat(10) : digits.repeat(5)
    t.notOk(text.includes(pattern), `value ${pattern} is redacted`)
  }
  t.match(text, /visible-value/)
  t.match(text, /\[redacted\]/)
  const line = JSON.parse(text) as Record<string, any>
  t.equal(line.level, 'info')
  t.equal(line.service, 'portcullis')
  t.equal(line.req.headers.cookie, '[redacted]')
})

t.test('logger: an assertion is redacted wherever it appears in a log object', async (t) => {
  const sink = capture()
  const logger = createLogger({ level: 'info', format: 'json' }, sink.stream)
  const token = 'eyJhbGciOiJFUzI1NiJ9.secret-claims.signature'
  logger.info({ req: { headers: { 'x-portcullis-assertion': token } } }, 'one')
  logger.info({ headers: { 'x-portcullis-assertion': token } }, 'two')
  logger.info({ state: { assertion: token } }, 'three')
  const lines = sink.text().trim().split('\n').map((l) => JSON.parse(l))
  t.equal(lines.length, 3)
  t.equal(sink.text().includes(token), false)
  t.equal(lines[0].req.headers['x-portcullis-assertion'], '[redacted]')
  t.equal(lines[1].headers['x-portcullis-assertion'], '[redacted]')
  t.equal(lines[2].state.assertion, '[redacted]')
})
