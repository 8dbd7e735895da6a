import t from 'tap'
import type { IncomingHttpHeaders } from 'node:http'
import { CONFLICT, originalRequest } from '../../src/http/original-request.js'

const traefik = { uriHeader: 'x-forwarded-uri', methodHeader: 'x-forwarded-method' }
const nginx = { uriHeader: 'x-original-uri', methodHeader: 'x-original-method' }
const custom = { uriHeader: 'x-auth-uri', methodHeader: 'x-auth-method' }

/** Headers as Node parses them from a raw list (duplicates of unknown headers joined with ", "). */
function parse (raw: Array<[string, string]>): { headers: IncomingHttpHeaders, rawHeaders: string[] } {
  const headers: Record<string, string> = {}
  for (const [name, value] of raw) {
    const key = name.toLowerCase()
    headers[key] = headers[key] === undefined ? value : `${headers[key]}, ${value}`
  }
  return { headers, rawHeaders: raw.flat() }
}

function read (raw: Array<[string, string]>, config = traefik, trusted = true): ReturnType<typeof originalRequest> {
  const { headers, rawHeaders } = parse(raw)
  return originalRequest(headers, rawHeaders, trusted, config)
}

t.test('original request: only the configured header is read, from a trusted proxy only', async (t) => {
  t.same(read([['X-Forwarded-Uri', '/a?b=1'], ['X-Forwarded-Method', 'post']]), { uri: '/a?b=1', method: 'POST', url: null })
  t.same(read([['X-Forwarded-Uri', '/a'], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-Host', 'app.example.com']]), { uri: '/a', method: 'GET', url: 'https://app.example.com/a' })
  t.same(read([['X-Original-URI', '/a'], ['X-Forwarded-Proto', 'https'], ['X-Forwarded-Host', 'app.example.com']], nginx), { uri: '/a', method: 'GET', url: null }, 'nginx: a path on the public origin')
  t.same(read([['X-Auth-Uri', '/a'], ['X-Auth-Method', 'PUT']], custom), { uri: '/a', method: 'PUT', url: null })
  t.same(read([['X-Forwarded-Uri', '/a']], traefik, false), { uri: null, method: 'GET', url: null }, 'untrusted: nothing is read')
  t.same(read([]), { uri: null, method: 'GET', url: null })
})

t.test('original request: the other well-known name, a repeat or a joined value is a conflict', async (t) => {
  t.equal(read([['X-Forwarded-Uri', '/admin/'], ['X-Original-URI', '/public/']]), CONFLICT)
  t.equal(read([['X-Original-URI', '/admin/'], ['X-Forwarded-Uri', '/public/']], nginx), CONFLICT)
  t.equal(read([['X-Auth-Uri', '/admin/'], ['X-Forwarded-Uri', '/public/']], custom), CONFLICT, 'a custom name: both well-known names must be absent')
  t.equal(read([['X-Forwarded-Method', 'GET'], ['X-Original-Method', 'GET']]), CONFLICT)
  t.equal(read([['X-Original-Method', 'DELETE'], ['X-Forwarded-Method', 'GET']], nginx), CONFLICT)
  t.equal(read([['X-Forwarded-Uri', '/a'], ['x-forwarded-uri', '/a']]), CONFLICT, 'the same value twice is still two')
  t.equal(read([['X-Forwarded-Uri', '/a, /b']]), CONFLICT)
  t.equal(read([['X-Forwarded-Uri', 'http://evil/']]), CONFLICT, 'not a request-target')
  t.equal(read([['X-Forwarded-Uri', '']]), CONFLICT)
  t.equal(read([['X-Forwarded-Method', 'GET,POST']]), CONFLICT)
  t.equal(read([['X-Forwarded-Method', 'G E T']]), CONFLICT)
  t.not(read([['X-Forwarded-Uri', '/a,b;c']]), CONFLICT, 'a comma inside a path is one value')
  t.same(read([['X-Forwarded-Uri', '/a'], ['X-Original-URI', '/b']], traefik, false), { uri: null, method: 'GET', url: null }, 'untrusted: ignored, not refused')
})
