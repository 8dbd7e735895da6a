import t from 'tap'
import { normalisePath } from '../../src/proxy/path.js'

/** A test name that shows the input unambiguously (TAP names must stay on one line). */
function show (input: string): string {
  return JSON.stringify(input).replace(/[^\x20-\x7e]/g, c => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
}

/** [request-target, exact normalised path or null, exact search] */
const table: ReadonlyArray<readonly [string, string | null, string?]> = [
  // plain paths and the query
  ['/', '/'],
  ['/a', '/a'],
  ['/a/', '/a/'],
  ['/a/b?x=1', '/a/b', '?x=1'],
  ['/?', '/', '?'],
  ['/a?', '/a', '?'],
  ['/a?x=%zz&y=/../', '/a', '?x=%zz&y=/../'],
  ['/a?x=%2F&y=%2f', '/a', '?x=%2F&y=%2f'],

  // dot segments, raw and encoded
  ['/public/../admin', '/admin'],
  ['/public/%2e%2e/admin', '/admin'],
  ['/public/%2E%2E/admin', '/admin'],
  ['/public/.%2e/admin', '/admin'],
  ['/public/%2e./admin', '/admin'],
  ['/a/./b', '/a/b'],
  ['/a/%2e/b', '/a/b'],
  ['/a/b/..', '/a/'],
  ['/a/b/.', '/a/b/'],
  ['/a/b/%2e', '/a/b/'],
  ['/a/b/../', '/a/'],
  ['/a/./../b/', '/b/'],
  ['/.', '/'],
  ['/./', '/'],
  ['/a/..', '/'],

  // `..` above the root
  ['/..', null],
  ['/../a', null],
  ['/a/../..', null],
  ['/%2e%2e/a', null],
  ['/a/b/../../../c', null],

  // duplicate slashes collapse, a trailing slash stays
  ['//', '/'],
  ['//a//b//', '/a/b/'],
  ['/a//../b', '/b'],
  ['/a///b', '/a/b'],

  // percent-encoding: unreserved decoded, the rest upper-cased and kept
  ['/%41%42c', '/ABc'],
  ['/%7e%5f%2d%2e', '/~_-.'],
  ['/a%2fb', '/a%2Fb'],
  ['/a%2Fb', '/a%2Fb'],
  ['/a/%2fb', '/a/%2Fb'],
  ['/a%5cb', '/a%5Cb'],
  ['/a%20b', '/a%20b'],
  ['/%c3%a9', '/%C3%A9'],
  ['/%E2%82%AC', '/%E2%82%AC'],
  ['/%00', '/%00'],
  ['/a%00b', '/a%00b'],
  ['/%252e%252e/admin', '/%252e%252e/admin'],
  ['/a%zzb', null],
  ['/a%4', null],
  ['/a%', null],
  ['/a%g0', null],

  // segments that only look like dot segments stay
  ['/a/...', '/a/...'],
  ['/a/.../b', '/a/.../b'],
  ['/a/.b', '/a/.b'],
  ['/a/..b', '/a/..b'],
  ['/a/b..', '/a/b..'],
  ['/a;x=1/b', '/a;x=1/b'],
  ['/a|b{c}', '/a|b{c}'],

  // segments an upstream could read as dot segments are refused
  ['/public/%2e%2e%2fadmin', null],
  ['/public/..%2Fadmin', null],
  ['/public/..%5cadmin', null],
  ['/public/.%2fadmin', null],
  ['/static%2f..%2fadmin', null],
  ['/public/x%2F..%2F..%2Fadmin', null],
  ['/public/..;/admin', null],
  ['/public/.;/admin', null],
  ['/public/%2e%2e;x/admin', null],
  ['/public/..%3Badmin', null],
  ['/public/..%3b/admin', null],
  ['/public/..%00/admin', null],

  // raw bytes: backslash, whitespace, controls refused; Latin-1 bytes encoded
  ['/a\\b', null],
  ['/\\admin', null],
  ['/a b', null],
  ['/a\tb', null],
  ['/a\nb', null],
  ['/a\rb', null],
  ['/a\u0000', null],
  ['/a\u007f', null],
  ['/caf\u00c3\u00a9', '/caf%C3%A9'],
  ['/\u4e2d', null],
  ['/a?x y', null],
  ['/a?x\r\ny', null],

  // not an origin-form request-target
  ['*', null],
  ['http://x/a', null],
  ['x.com:443', null],
  ['', null],
  ['a/b', null],
  ['/a#b', null],
  ['/a?b#c', null]
]

t.test('normalisePath: every request-target gets its exact normal form', async t => {
  t.ok(table.length >= 50, `table has ${table.length} cases`)
  for (const [input, path, search = ''] of table) {
    t.same(normalisePath(input), path === null ? null : { path, search }, show(input))
  }
})

t.test('normalisePath: normalising is idempotent', async t => {
  for (const [input] of table) {
    const once = normalisePath(input)
    if (once === null) continue
    t.same(normalisePath(once.path + once.search), once, show(input))
  }
})

t.test('normalisePath: a result never holds a dot segment, an empty segment or a raw backslash', async t => {
  for (const [input] of table) {
    const out = normalisePath(input)
    if (out === null) continue
    const inner = out.path.slice(1, out.path.endsWith('/') ? -1 : undefined)
    const segments = inner === '' ? [] : inner.split('/')
    t.notOk(segments.some(s => s === '' || s === '.' || s === '..') || out.path.includes('\\'), show(input))
  }
})

t.test('normalisePath: the limit is 8192 characters', async t => {
  t.same(normalisePath('/' + 'a'.repeat(8191)), { path: '/' + 'a'.repeat(8191), search: '' })
  t.equal(normalisePath('/' + 'a'.repeat(8192)), null)
  t.equal(normalisePath('/a?' + 'b'.repeat(8190)), null)
})
