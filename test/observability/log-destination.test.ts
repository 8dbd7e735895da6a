import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import t from 'tap'
import { batchedDestination, isoTimestamp } from '../../src/observability/log-destination.js'

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

t.test('log destination: lines of one event-loop turn are written together, in order, once the turn is over', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'portcullis-log-')), 'out.log')
  const fd = openSync(file, 'w')
  const out = batchedDestination(fd)
  out.write('{"n":1}\n')
  out.write('{"n":2}\n')
  t.equal(readFileSync(file, 'utf8'), '', 'nothing is written during the turn')
  await turn()
  await turn()
  t.equal(readFileSync(file, 'utf8'), '{"n":1}\n{"n":2}\n')
  out.write('{"n":3}\n')
  out.flushSync()
  t.equal(readFileSync(file, 'utf8'), '{"n":1}\n{"n":2}\n{"n":3}\n', 'flushSync writes what is gathered at once')
  closeSync(fd)
})

t.test('log destination: more than 64 KiB gathered in one turn is written without waiting for the turn to end', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'portcullis-log-')), 'out.log')
  const fd = openSync(file, 'w')
  const out = batchedDestination(fd)
  const line = `${JSON.stringify({ pad: 'x'.repeat(1000) })}\n`
  for (let i = 0; i < 70; i++) out.write(line)
  t.equal(readFileSync(file, 'utf8').length, line.length * Math.ceil(65536 / line.length), 'written as soon as 64 KiB were gathered')
  out.flushSync()
  t.equal(readFileSync(file, 'utf8').length, line.length * 70)
  closeSync(fd)
})

t.test('log destination: lines gathered when the process exits are written before it ends', async (t) => {
  const file = join(mkdtempSync(join(tmpdir(), 'portcullis-log-')), 'out.log')
  const { spawnSync } = await import('node:child_process')
  const script = `
    const { openSync } = require('node:fs')
    import(${JSON.stringify(new URL('../../src/observability/log-destination.ts', import.meta.url).href)}).then(({ batchedDestination }) => {
      const out = batchedDestination(openSync(${JSON.stringify(file)}, 'w'))
      out.write('{"last":true}\\n')
      process.exit(3)
    })`
  const result = spawnSync(process.execPath, [...process.execArgv, '-e', script], { encoding: 'utf8' })
  t.equal(result.status, 3, result.stderr)
  t.equal(readFileSync(file, 'utf8'), '{"last":true}\n')
})

t.test('log destination: the timestamp is the logging library\'s ISO timestamp', async (t) => {
  const ours = isoTimestamp()
  const theirs = pino.stdTimeFunctions.isoTime()
  t.match(ours, /^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/)
  t.ok(Math.abs(Date.parse(JSON.parse(`{${ours.slice(1)}}`).time) - Date.parse(JSON.parse(`{${theirs.slice(1)}}`).time)) < 50)
})
