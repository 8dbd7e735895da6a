import t from 'tap'
import { formatDuration, parseDuration } from '../../src/config/duration.js'

t.test('duration: each unit converts to milliseconds', async t => {
  t.equal(parseDuration('500ms'), 500)
  t.equal(parseDuration('60s'), 60_000)
  t.equal(parseDuration('30m'), 1_800_000)
  t.equal(parseDuration('24h'), 86_400_000)
  t.equal(parseDuration('7d'), 604_800_000)
})

t.test('duration: a bare integer counts seconds, as a number or as text', async t => {
  t.equal(parseDuration(90), 90_000)
  t.equal(parseDuration('90'), 90_000)
  t.equal(parseDuration(0), 0)
})

t.test('duration: anything else is refused with null', async t => {
  for (const bad of ['', 'soon', '1.5h', '-1s', '10 m', '1h30m', '5w', 'ms', '10S']) {
    t.equal(parseDuration(bad), null, JSON.stringify(bad))
  }
  t.equal(parseDuration(-5), null)
  t.equal(parseDuration(1.5), null)
  t.equal(parseDuration('99999999999999999999d'), null, 'beyond a safe integer')
})

t.test('duration: formats with the largest unit that divides evenly', async t => {
  t.equal(formatDuration(604_800_000), '7d')
  t.equal(formatDuration(86_400_000), '1d')
  t.equal(formatDuration(90_000), '90s')
  t.equal(formatDuration(120_000), '2m')
  t.equal(formatDuration(1_500), '1500ms')
  t.equal(formatDuration(0), '0ms')
})
