import t from 'tap'
import { upstreamPath } from '../../src/proxy/upstream-path.js'

t.test('upstream path: without strip_prefix the request path is appended to the base path', async (t) => {
  const route = { path: '/new/', stripPrefix: false }
  t.equal(upstreamPath('/rewritten', route, '/new/thing', ''), '/rewritten/new/thing')
  t.equal(upstreamPath('/rewritten', route, '/new/', '?q=1'), '/rewritten/new/?q=1')
  t.equal(upstreamPath('', route, '/new/thing', '?a=b&c'), '/new/thing?a=b&c')
})

t.test('upstream path: strip_prefix removes the route prefix and keeps the request\'s trailing slash and query', async (t) => {
  const cases: Array<[string, string, string, string, string]> = [
    // route path, base path, request path, query, expected
    ['/new/', '/rewritten', '/new/thing', '', '/rewritten/thing'],
    ['/new/', '/rewritten', '/new/dir/', '', '/rewritten/dir/'],
    ['/new/', '/rewritten', '/new/', '', '/rewritten/'],
    ['/new/', '/rewritten', '/new/', '?q=1', '/rewritten/?q=1'],
    ['/new/', '/rewritten', '/new/thing', '?q=1&r=%2F', '/rewritten/thing?q=1&r=%2F'],
    ['/new/', '', '/new/thing', '', '/thing'],
    ['/new/', '', '/new/', '', '/'],
    ['/new/', '', '/new/', '?q', '/?q'],
    ['/new', '/rewritten', '/new', '', '/rewritten'],
    ['/new', '/rewritten', '/new', '?q=1', '/rewritten?q=1'],
    ['/new', '', '/new', '?q=1', '/?q=1'],
    ['/new', '/rewritten', '/new/x', '', '/rewritten/x'],
    ['/a/b/', '/base', '/a/b/c/d', '', '/base/c/d'],
    ['/', '/base', '/anything', '', '/base/anything']
  ]
  for (const [path, base, request, search, expected] of cases) {
    t.equal(upstreamPath(base, { path, stripPrefix: true }, request, search), expected, `${path} + ${base}: ${request}${search}`)
  }
})

t.test('upstream path: a path that does not start with the prefix segment by segment is not guessed', async (t) => {
  t.equal(upstreamPath('/r', { path: '/new/', stripPrefix: true }, '/NEW/thing', ''), null)
  t.equal(upstreamPath('/r', { path: '/new', stripPrefix: true }, '/newer', ''), null)
})
