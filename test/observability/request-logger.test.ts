import { Writable } from 'node:stream'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { pino, type Level } from 'pino'
import t from 'tap'
import { createLogger } from '../../src/observability/logger.js'
import { lazyChildLoggerFactory, levelEnabled } from '../../src/observability/request-logger.js'

type Line = Record<string, any>

function appWith (level: 'info' | 'debug'): { app: FastifyInstance, lines: () => Line[] } {
  let text = ''
  const sink = new Writable({ write (chunk: Buffer, _enc, done) { text += chunk.toString('utf8'); done() } })
  const logger: FastifyBaseLogger = createLogger({ level, format: 'json' }, sink)
  const app = Fastify({
    loggerInstance: logger,
    disableRequestLogging: true,
    requestIdLogLabel: 'requestId',
    genReqId: () => 'req-fixed-1',
    childLoggerFactory: lazyChildLoggerFactory
  })
  return { app, lines: () => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) }
}

t.test('request logger: a line a request writes carries its request id and is redacted like every other line', async (t) => {
  const { app, lines } = appWith('info')
  app.get('/x', async (request) => {
    request.log.warn({ upstream: { headers: { cookie: 'session-value-123456' } }, state: { assertion: 'jwt-value-123456' } }, 'something odd')
    return 'ok'
  })
  const res = await app.inject({ method: 'GET', url: '/x' })
  t.equal(res.statusCode, 200)
  const line = lines().find((l) => l.msg === 'something odd')
  t.match(line, { level: 'warn', requestId: 'req-fixed-1', service: 'portcullis' })
  t.equal(line?.upstream.headers.cookie, '[redacted]')
  t.equal(line?.state.assertion, '[redacted]')
  t.notOk(JSON.stringify(lines()).includes('123456'), 'no secret value in any line')
  await app.close()
})

t.test('request logger: levels below the logger level write nothing; a route\'s own level applies', async (t) => {
  const { app, lines } = appWith('info')
  app.get('/quiet', { logLevel: 'warn' }, async (request) => {
    t.equal(levelEnabled(request.log, 'info'), false, 'the route lowered info away')
    t.equal(levelEnabled(request.log, 'warn'), true)
    request.log.info('not written')
    request.log.warn('written at warn')
    return 'ok'
  })
  app.get('/normal', async (request) => {
    t.equal(levelEnabled(request.log, 'debug'), false)
    t.equal(levelEnabled(request.log, 'info'), true)
    request.log.debug('not written either')
    request.log.info('written at info')
    return 'ok'
  })
  t.equal((await app.inject({ method: 'GET', url: '/quiet' })).statusCode, 200)
  t.equal((await app.inject({ method: 'GET', url: '/normal' })).statusCode, 200)
  t.same(lines().map((l) => [l.level, l.msg, l.requestId]), [['warn', 'written at warn', 'req-fixed-1'], ['info', 'written at info', 'req-fixed-1']])
  await app.close()
})

t.test('request logger: a child of the request logger keeps the request id and adds its own bindings', async (t) => {
  const { app, lines } = appWith('debug')
  app.get('/x', async (request) => {
    request.log.child({ part: 'refresh' }).debug('from a child')
    return 'ok'
  })
  t.equal((await app.inject({ method: 'GET', url: '/x' })).statusCode, 200)
  t.match(lines().find((l) => l.msg === 'from a child'), { level: 'debug', requestId: 'req-fixed-1', part: 'refresh' })
  await app.close()
})

t.test('request logger: levelEnabled answers as pino\'s isLevelEnabled, at every threshold and for every level', async (t) => {
  const levels: Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal']
  for (const threshold of [...levels, 'silent']) {
    const logger = pino({ level: threshold })
    for (const level of levels) t.equal(levelEnabled(logger, level), logger.isLevelEnabled(level), `${level} at ${threshold}`)
  }
})

t.test('request logger: a level set on the request logger applies to its next lines', async (t) => {
  const { app, lines } = appWith('info')
  app.get('/x', async (request) => {
    request.log.level = 'debug'
    t.equal(levelEnabled(request.log, 'debug'), true)
    request.log.debug('now written')
    return 'ok'
  })
  t.equal((await app.inject({ method: 'GET', url: '/x' })).statusCode, 200)
  t.match(lines().find((l) => l.msg === 'now written'), { level: 'debug', requestId: 'req-fixed-1' })
  await app.close()
})
