import t from 'tap'
import { request } from 'node:http'
import { Readable } from 'node:stream'
import { WebSocket } from 'ws'
import { startDemoApp } from '../../demo/upstream.js'
import type { DemoApp } from '../../demo/upstream.js'

let app: DemoApp
t.before(async () => { app = await startDemoApp() })
t.teardown(async () => { await app.close() })

t.test('page: shows identity headers escaped, tokens shortened, and only cookie names', async (tt) => {
  const assertion = 'eyJhbGciOiJFUzI1NiJ9.' + 'a'.repeat(80)
  const res = await fetch(`${app.url}/some/path?x=1&x=2&y=%3Cb%3E`, {
    headers: {
      accept: 'text/html',
      'x-forwarded-user': 'dev-alice',
      'x-forwarded-email': '<script>alert(1)</script>@example.com',
      'x-forwarded-groups': 'admins,staff',
      'x-portcullis-assertion': assertion,
      'x-request-id': 'req-123',
      cookie: 'session_cookie=supersecretvalue; other=2'
    }
  })
  tt.equal(res.status, 200)
  tt.match(res.headers.get('content-type'), /^text\/html/)
  const html = await res.text()
  tt.match(html, '<title>Demo app behind Portcullis</title>')
  tt.match(html, '<th scope="row">X-Forwarded-User</th><td><code>dev-alice</code></td>')
  tt.match(html, '<code>&#60;script&#62;alert(1)&#60;/script&#62;@example.com</code>')
  tt.notMatch(html, '<script>alert(1)</script>')
  tt.match(html, '<th scope="row">X-Forwarded-Preferred-Username</th><td><code><em>(not sent)</em></code></td>')
  tt.match(html, `<code>${assertion.slice(0, 12)}… (${assertion.length} chars)</code>`)
  tt.notMatch(html, assertion, 'the whole assertion is never shown')
  tt.match(html, '<code>req-123</code>')
  tt.match(html, '<code>session_cookie</code>, <code>other</code>')
  tt.notMatch(html, 'supersecretvalue')
  tt.match(html, '{&#34;x&#34;:[&#34;1&#34;,&#34;2&#34;],&#34;y&#34;:&#34;&#60;b&#62;&#34;}', 'query shown escaped')
  tt.match(html, '<a id="sign-out" href="/oauth2/sign_out?rd=%2Fsome%2Fpath">Sign out</a>', 'sign-out goes through the gateway\'s sign-out page')
})

t.test('json: Accept application/json or an /api/ path answers the request as JSON', async (tt) => {
  const byAccept = await fetch(`${app.url}/page?a=1`, { headers: { accept: 'application/json', 'x-forwarded-email': 'bob@example.com' } })
  tt.equal(byAccept.status, 200)
  const body = await byAccept.json() as { method: string, path: string, query: unknown, headers: Record<string, string>, bodyBytes: number }
  tt.equal(body.method, 'GET')
  tt.equal(body.path, '/page')
  tt.same(body.query, { a: '1' })
  tt.equal(body.headers['x-forwarded-email'], 'bob@example.com')
  tt.equal(body.bodyBytes, 0)

  const byPath = await fetch(`${app.url}/api/items?__proto__=x`, { method: 'PUT', body: 'hello', headers: { accept: 'text/html' } })
  const api = await byPath.json() as { method: string, path: string, query: Record<string, string>, bodyBytes: number }
  tt.equal(api.method, 'PUT')
  tt.equal(api.path, '/api/items')
  tt.equal(api.query.__proto__, 'x', 'a __proto__ key is plain data')
  tt.equal(api.bodyBytes, 5)
})

t.test('upload: POST /upload counts a streamed body exactly', async (tt) => {
  const chunk = Buffer.alloc(64 * 1024, 7)
  const chunks = 80 // 5 MiB
  const answer = await new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = request(`${app.url}/upload`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' } }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { body += d })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body }) })
    })
    req.on('error', reject)
    // Chunked transfer, no Content-Length: the app cannot know the size in advance.
    Readable.from((function * () { for (let i = 0; i < chunks; i++) yield chunk })()).pipe(req)
  })
  tt.equal(answer.status, 200)
  tt.same(JSON.parse(answer.body), { bytes: chunk.length * chunks })
})

t.test('websocket: /ws greets with the forwarded email and echoes messages', async (tt) => {
  const ws = new WebSocket(`${app.url.replace('http', 'ws')}/ws`, { headers: { 'x-forwarded-email': 'alice@example.com' } })
  tt.teardown(() => { ws.terminate() })
  const received: string[] = []
  const next = async (): Promise<string> => await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('no message within 5 s')) }, 5000)
    ws.once('message', (data) => { clearTimeout(timer); resolve(String(data)) })
  })
  received.push(await next())
  ws.send('ping <1>')
  received.push(await next())
  tt.same(received, ['{"hello":"alice@example.com"}', 'ping <1>'])
})

t.test('websocket: the greeting is null without the header, and other paths refuse the upgrade', async (tt) => {
  const ws = new WebSocket(`${app.url.replace('http', 'ws')}/ws`)
  const greeting = await new Promise<string>((resolve, reject) => {
    ws.once('message', (data) => { resolve(String(data)) })
    ws.once('error', reject)
  })
  ws.terminate()
  tt.equal(greeting, '{"hello":null}')

  const refused = new WebSocket(`${app.url.replace('http', 'ws')}/elsewhere`)
  const status = await new Promise<number>((resolve) => {
    refused.once('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0) })
    refused.once('error', () => { resolve(-1) })
  })
  refused.terminate()
  tt.equal(status, 404)
})
