import t from 'tap'
import { safeRedirect } from '../../src/http/redirect.js'

const options = {
  publicUrl: 'https://apps.example.com',
  allowedHosts: ['app.example.com', '.corp.example.com', 'wiki.example.com:8443', 'Docs.Example.com.', 'x.example.org:443']
}

/** A test name that shows every payload unambiguously (TAP names must stay on one line). */
function show (input: string): string {
  return JSON.stringify(input).replace(/[^\x20-\x7e]/g, c => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
}

/** [input, exact expected output] */
const table: ReadonlyArray<readonly [string, string]> = [
  // same-origin paths pass, re-serialised by WHATWG URL
  ['/', '/'],
  ['/dashboard', '/dashboard'],
  ['/a/b?x=1&y=2#frag', '/a/b?x=1&y=2#frag'],
  ['/search?q=//evil', '/search?q=//evil'],
  ['/?next=https://evil.com', '/?next=https://evil.com'],
  ['/x#//evil', '/x#//evil'],
  ['/a/../b', '/b'],
  ['/../../etc', '/etc'],
  ['/a/./b', '/a/b'],
  ['/a/%2e%2e/b', '/b'],
  ['/a b', '/a%20b'],
  ['/a?b#c d', '/a?b#c%20d'],
  ['/caf\u00e9', '/caf%C3%A9'],
  ['/%7Euser', '/%7Euser'],
  ['/a%2Fb', '/a%2Fb'],
  ['/a?x=%0d%0a', '/a?x=%0d%0a'],
  ['/\u2215evil', '/%E2%88%95evil'],
  ['/' + 'a'.repeat(2047), '/' + 'a'.repeat(2047)],

  // scheme-relative and backslash forms
  ['//evil', '/'],
  ['//evil.com/path', '/'],
  ['///evil', '/'],
  ['////evil.com', '/'],
  ['/\\evil', '/'],
  ['\\\\evil', '/'],
  ['\\/evil', '/'],
  ['/\\/evil', '/'],
  ['//evil@apps.example.com', '/'],
  ['\uff0f\uff0fevil.com', '/'],
  ['\u2215\u2215evil.com', '/'],

  // encoded, double- and triple-encoded slashes and backslashes
  ['/%2f%2fevil', '/'],
  ['/%2F%2Fevil', '/'],
  ['/%2f/evil', '/'],
  ['/%5cevil', '/'],
  ['/%5Cevil', '/'],
  ['/%5c%5cevil', '/'],
  ['%2f%2fevil', '/'],
  ['/%252f%252fevil', '/'],
  ['/%25252f%25252fevil', '/'],
  ['/%255cevil', '/'],

  // dot segments that leave an empty first segment behind
  ['/.//evil', '/'],
  ['/..//evil', '/'],
  ['/a/..//evil', '/'],
  ['/%2e//evil', '/'],
  ['/%2e%2e//evil', '/'],
  ['/./%2fevil', '/'],
  ['/%2e%2e%2f%2fevil', '/'],

  // whitespace, controls and NUL, raw or encoded
  [' /a', '/'],
  ['/a ', '/'],
  ['\t/a', '/'],
  ['/a\n', '/'],
  ['/\t/evil', '/'],
  ['/\n/evil', '/'],
  ['/\r/evil', '/'],
  ['/\u0000/evil', '/'],
  ['/a\u0000', '/'],
  ['/%09/evil', '/'],
  ['/%0a/evil', '/'],
  ['/%0d%0aSet-Cookie:x=1', '/'],
  ['/%00', '/'],
  ['/%2509/evil', '/'],
  ['\u00a0/evil', '/'],
  ['/\u3000/evil', '/'],
  ['/\u2028/evil', '/'],
  ['/\ufeff/evil', '/'],

  // other schemes and relative references
  ['javascript:alert(1)', '/'],
  ['JavaScript:alert(1)', '/'],
  ['java\tscript:alert(1)', '/'],
  ['data:text/html,<script>alert(1)</script>', '/'],
  ['mailto:x@example.com', '/'],
  ['ftp://app.example.com/', '/'],
  ['ws://app.example.com/', '/'],
  ['evil.com', '/'],
  ['a/b', '/'],
  ['?x=1', '/'],
  ['#x', '/'],
  ['', '/'],
  ['http:evil', '/'],
  ['https:evil', '/'],
  ['http:/evil', '/'],
  ['https:\\\\evil', '/'],

  // absolute URLs on other hosts, credentials and confusables
  ['https://evil', '/'],
  ['https://evil.com/', '/'],
  ['http://evil.com', '/'],
  ['https://apps.example.com@evil.com', '/'],
  ['https://evil\\@apps.example.com', '/'],
  ['https://evil.com#@app.example.com', '/'],
  ['https://evil.com?@app.example.com', '/'],
  ['https://app.example.com%2f@evil.com', '/'],
  ['https://app.example.com\uff0f@evil.com', '/'],
  ['https://app.example.com.evil.com/', '/'],
  ['https://evil.app.example.com/', '/'],
  ['https://evilcorp.example.com/', '/'],
  ['https://corp.example.com.evil/', '/'],
  ['https://user@app.example.com/', '/'],
  ['https://user:pw@apps.example.com/x', '/'],
  ['https://app.example.com\t/x', '/'],
  [' https://app.example.com/', '/'],
  ['https://app example.com/', '/'],
  ['https://[::1/', '/'],

  // the public origin itself comes back as a path
  ['https://apps.example.com/x?y#z', '/x?y#z'],
  ['HTTPS://APPS.EXAMPLE.COM/x', '/x'],
  ['https://apps.example.com:443/x', '/x'],
  ['https://apps.example.com', '/'],
  ['https://apps.example.com//evil', '/'],
  ['https://apps.example.com/%2f%2fevil', '/'],
  ['http://apps.example.com/x', '/'],
  ['https://apps.example.com:8443/x', '/'],

  // allowed hosts
  ['https://app.example.com/x?y=1#z', 'https://app.example.com/x?y=1#z'],
  ['https://APP.Example.COM/x', 'https://app.example.com/x'],
  ['https://app.example.com./x', 'https://app.example.com./x'],
  ['https://app.example.com:443/x', 'https://app.example.com/x'],
  ['https://%61pp.example.com/', 'https://app.example.com/'],
  ['https://\uff41\uff50\uff50.example.com/', 'https://app.example.com/'],
  ['https://app.example.com:8443/x', '/'],
  ['https://app.example.com:08443/', '/'],
  ['http://app.example.com/x', '/'],
  ['https://corp.example.com/', 'https://corp.example.com/'],
  ['https://a.b.corp.example.com/p', 'https://a.b.corp.example.com/p'],
  ['https://wiki.example.com:8443/page', 'https://wiki.example.com:8443/page'],
  ['https://wiki.example.com/page', '/'],
  ['https://docs.example.com/', 'https://docs.example.com/'],
  ['https://x.example.org/', 'https://x.example.org/']
]

t.test('safeRedirect: every payload gets its exact expected target', async t => {
  t.ok(table.length >= 60, `table has ${table.length} payloads`)
  for (const [input, expected] of table) {
    t.equal(safeRedirect(input, options), expected, show(input))
  }
})

t.test('safeRedirect: a relative answer always starts with exactly one slash', async t => {
  for (const [input] of table) {
    const out = safeRedirect(input, options)
    if (out.startsWith('https://')) continue
    t.match(out, /^\/(?![/\\])/, show(input))
  }
})

t.test('safeRedirect: non-strings give /', async t => {
  const payloads: unknown[] = [undefined, null, 42, true, ['/a'], ['//evil'], { toString: () => '/a' }, new URL('https://apps.example.com/a')]
  for (const payload of payloads) t.equal(safeRedirect(payload, options), '/')
})

t.test('safeRedirect: more than 2048 characters gives /', async t => {
  t.equal(safeRedirect('/' + 'a'.repeat(2048), options), '/')
  t.equal(safeRedirect('/?q=' + 'a'.repeat(2045), options), '/')
})

t.test('safeRedirect: with an http public URL only http targets may leave the origin', async t => {
  const http = { publicUrl: 'http://localhost:4180', allowedHosts: ['app.example.com'] }
  t.equal(safeRedirect('http://app.example.com/x', http), 'http://app.example.com/x')
  t.equal(safeRedirect('https://app.example.com/x', http), '/')
  t.equal(safeRedirect('http://localhost:4180/x', http), '/x')
  t.equal(safeRedirect('http://localhost/x', http), '/')
  t.equal(safeRedirect('/x', http), '/x')
})

t.test('safeRedirect: no allowed hosts means only same-origin paths', async t => {
  const none = { publicUrl: 'https://apps.example.com', allowedHosts: [] }
  t.equal(safeRedirect('https://app.example.com/x', none), '/')
  t.equal(safeRedirect('/x', none), '/x')
})

t.test('safeRedirect: malformed allowed-host entries allow nothing', async t => {
  const odd = { publicUrl: 'https://apps.example.com', allowedHosts: ['', '.', 'a:b:c', 'app.example.com:x'] }
  t.equal(safeRedirect('https://app.example.com/', odd), '/')
  t.equal(safeRedirect('https://example.com/', odd), '/')
})

t.test('safeRedirect: an unparseable public URL gives /', async t => {
  t.equal(safeRedirect('/x', { publicUrl: 'not a url', allowedHosts: [] }), '/')
})
