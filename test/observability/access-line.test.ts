import { Writable } from 'node:stream'
import { pino } from 'pino'
import t from 'tap'
import { createAccessLineWriter, numberText, type AccessFields } from '../../src/observability/access-line.js'
import { createLogger } from '../../src/observability/logger.js'

function capture (): { stream: Writable, lines: () => string[] } {
  let text = ''
  return {
    stream: new Writable({ write (chunk: Buffer, _enc, done) { text += chunk.toString('utf8'); done() } }),
    lines: () => text.split('\n').filter(Boolean)
  }
}

const withoutTime = (line: string): string => line.replace(/,"time":"[^"]+"/, '')

const samples: AccessFields[] = [
  { requestId: '0b6c0c1e-6a52-4bd6-9b0e-0f5c2d1f7a11', method: 'GET', path: '/one', status: 200, durationMs: 1.25, route: '/', upstream: 'http://127.0.0.1:8080', user: 'dev-alice', outcome: 'proxied', client: '203.0.113.7', userAgent: 'Mozilla/5.0 (X11; Linux x86_64)' },
  { requestId: 'req-"quoted"\\back', method: 'POST', path: '/ä/\u0001/\u2028/"x"', status: 499, durationMs: 0, route: 'none', upstream: undefined, user: undefined, outcome: 'client_aborted', client: '2001:db8::1', userAgent: 'ua "quoted" \u0007' },
  { requestId: 'r', method: 'GET', path: undefined, status: 404, durationMs: Number.NaN, route: '/oauth2/start', upstream: undefined, user: undefined, outcome: undefined, client: undefined, userAgent: undefined }
]

t.test('access line: written exactly as the logger writes the same fields', async (t) => {
  const sink = capture()
  const root = createLogger({ level: 'info', format: 'json' }, sink.stream)
  const logger = root.child({}, { redact: [] })
  const write = createAccessLineWriter(root)
  for (const fields of samples) {
    write(fields)
    logger.info({ ...fields }, 'request')
  }
  const lines = sink.lines()
  t.equal(lines.length, samples.length * 2)
  for (let i = 0; i < samples.length; i++) {
    const ours = lines[2 * i] as string
    const theirs = lines[2 * i + 1] as string
    t.same(JSON.parse(ours), { ...JSON.parse(theirs), time: JSON.parse(ours).time }, `sample ${i}: the same fields and values`)
    t.equal(withoutTime(ours), withoutTime(theirs), `sample ${i}: the same text`)
  }
  t.match(JSON.parse(lines[0] as string), { level: 'info', service: 'portcullis', msg: 'request', requestId: samples[0]!.requestId })
})

t.test('access line: a logger that could change its lines (a mixin) is written through the ordinary path', async (t) => {
  const sink = capture()
  const logger = pino({ mixin: () => ({ extra: 'from-mixin' }) }, sink.stream)
  createAccessLineWriter(logger)(samples[0]!)
  t.match(JSON.parse(sink.lines()[0] as string), { msg: 'request', extra: 'from-mixin', requestId: samples[0]!.requestId, status: 200 })
})

t.test('access line: numbers are written exactly as JSON writes them', async (t) => {
  const values = [0, 1, 7, 10, 100, 200, 499, 0.01, 0.1, 0.5, 1.05, 1.2, 1.25, 2.99, 12.34, 99.9, 1234.56, 60000.07, 1e11 + 0.5, -1, -0.25, 1e12, 1e21, 0.001, 1 / 3, Number.MAX_SAFE_INTEGER]
  for (let i = 0; i < 200_000; i++) values.push(Math.round(i * 7.31) / 100)
  let mismatches = 0
  for (const v of values) if (numberText(v) !== JSON.stringify(v)) mismatches++
  t.equal(mismatches, 0, `${values.length} values`)
  t.equal(numberText(Number.NaN), 'null')
  t.equal(numberText(Number.POSITIVE_INFINITY), 'null')
})
