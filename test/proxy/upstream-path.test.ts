import t from 'tap'
import { upstreamPath } from '../../src/proxy/upstream-path.js'

t.test('upstream path: without strip_prefix the request path is appended to the base path', async (t) => {
  const route = { path: '/new/', stripPrefix: false }
  t.equal(upstreamPath('/rewritten', route, '/new/thing', ''), '/rewritten/new/thing')
  t.equal(upstreamPath('/rewritten', route, '/new/', '?q=1'), '/rewritten/new/?q=1')
  t.equal(upstreamPath('', route, '/new/thing', '?a=b&c'), '/new/thing?a=b&c')
})

t.test('upstream path: strip_prefix removes the route prefix and keeps the request\'s trailing slash and query', async (t) => {
  // Grouped by route path and base path: [request path and query, expected upstream path and query].
  const cases: Array<[string, string, Array<[string, string]>]> = [
    ['/new/', '/rewritten', [['/new/thing', '/rewritten/thing'], ['/new/dir/', '/rewritten/dir/'], ['/new/', '/rewritten/'], ['/new/?q=1', '/rewritten/?q=1'], ['/new/thing?q=1&r=%2F', '/rewritten/thing?q=1&r=%2F']]],
    ['/new/', '', [['/new/thing', '/thing'], ['/new/', '/'], ['/new/?q', '/?q']]],
    ['/new', '/rewritten', [['/new', '/rewritten'], ['/new?q=1', '/rewritten?q=1'], ['/new/x', '/rewritten/x']]],
    ['/new', '', [['/new?q=1', '/?q=1']]],
    ['/a/b/', '/base', [['/a/b/c/d', '/base/c/d']]],
    ['/', '/base', [['/anything', '/base/anything']]]
  ]
  for (const [path, base, requests] of cases) {
    for (const [url, expected] of requests) {
      const at = url.indexOf('?')
      const [request, search] = at === -1 ? [url, ''] : [url.slice(0, at), url.slice(at)]
      t.equal(upstreamPath(base, { path, stripPrefix: true }, request, search), expected, `${path} + ${base}: ${url}`)
    }
  }
})

t.test('upstream path: a path that does not start with the prefix segment by segment is not guessed', async (t) => {
  t.equal(upstreamPath('/r', { path: '/new/', stripPrefix: true }, '/NEW/thing', ''), null)
  t.equal(upstreamPath('/r', { path: '/new', stripPrefix: true }, '/newer', ''), null)
})
