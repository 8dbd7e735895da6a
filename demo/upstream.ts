/**
 * The demo application behind the gateway: it has no login of its own and shows what the gateway
 * sent it, the identity headers above all, so a person trying the demo (and the end-to-end tests)
 * can see exactly what an upstream receives. Plain node:http on purpose: no framework between
 * the socket and what is shown.
 */
import { createServer } from 'node:http'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { WebSocketServer } from 'ws'
import { closeServer, listenBounded } from './listen.js'

export interface DemoAppOptions {
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Default 0: a free port. */
  readonly port?: number
  /** The gateway's sign-out page the page's "Sign out" link opens; default `/oauth2/sign_out`. */
  readonly signOutPath?: string
}

export interface DemoApp {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  readonly url: string
  close (): Promise<void>
}

/** The headers the page puts in its identity table, in this order; tokens are shown shortened. */
const IDENTITY_HEADERS: ReadonlyArray<{ readonly name: string, readonly secret: boolean }> = [
  { name: 'X-Forwarded-User', secret: false },
  { name: 'X-Forwarded-Email', secret: false },
  { name: 'X-Forwarded-Preferred-Username', secret: false },
  { name: 'X-Forwarded-Groups', secret: false },
  { name: 'X-Portcullis-Assertion', secret: true },
  { name: 'X-Forwarded-Access-Token', secret: true },
  { name: 'X-Request-Id', secret: false }
]

/**
 * Starts the demo app. Every path answers: an HTML page by default; JSON
 * `{ method, path, query, headers, bodyBytes }` for `Accept: application/json` or `/api/*`;
 * `POST /upload` answers `{ bytes }` after counting the body as it streams. `/ws` is a WebSocket
 * that greets with `{"hello": <X-Forwarded-Email of the upgrade>}` and echoes every message.
 */
export async function startDemoApp (options: DemoAppOptions = {}): Promise<DemoApp> {
  const host = options.host ?? '127.0.0.1'
  const signOutPath = options.signOutPath ?? '/oauth2/sign_out'
  const server = createServer((req, res) => {
    handle(req, res, signOutPath).catch(() => { res.destroy() })
  })
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 })

  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://app.invalid').pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ hello: single(req.headers['x-forwarded-email']) ?? null }))
      ws.on('message', (data, isBinary) => { ws.send(data, { binary: isBinary }) })
      ws.on('error', () => { ws.terminate() })
    })
  })

  const url = await listenBounded(server, host, options.port ?? 0, 'demo app')

  return {
    url,
    async close () {
      for (const client of wss.clients) client.terminate()
      await new Promise<void>((resolve) => { wss.close(() => { resolve() }) })
      await closeServer(server)
    }
  }
}

async function handle (req: IncomingMessage, res: ServerResponse, signOutPath: string): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://app.invalid')
  // Counted chunk by chunk and dropped: a large upload through the gateway must stream, and this
  // app must not hide a gateway that buffers by buffering itself.
  let bodyBytes = 0
  for await (const chunk of req as AsyncIterable<Buffer>) bodyBytes += chunk.length

  if (req.method === 'POST' && url.pathname === '/upload') {
    return sendJson(res, 200, { bytes: bodyBytes })
  }
  const query = queryObject(url.searchParams)
  const wantsJson = (req.headers.accept ?? '').includes('application/json') || url.pathname.startsWith('/api/')
  if (wantsJson) {
    return sendJson(res, 200, { method: req.method, path: url.pathname, query, headers: req.headers, bodyBytes })
  }
  sendHtml(res, page(req, url, query, bodyBytes, signOutPath))
}

function page (req: IncomingMessage, url: URL, query: Record<string, string | string[]>, bodyBytes: number, signOutPath: string): string {
  const rows = IDENTITY_HEADERS.map(({ name, secret }) => {
    const value = single(req.headers[name.toLowerCase()])
    const shown = value === undefined ? '<em>(not sent)</em>' : escapeHtml(secret ? shorten(value) : value)
    return `<tr><th scope="row">${escapeHtml(name)}</th><td><code>${shown}</code></td></tr>`
  }).join('\n      ')
  const cookies = cookieNames(req.headers)
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Demo app behind Portcullis</title>
  <style>
    body { font-family: system-ui, sans-serif; max-width: 48rem; margin: 2rem auto; padding: 0 1rem; }
    table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #ddd; }
    th { width: 18rem; }
    code { word-break: break-all; }
  </style>
</head>
<body>
  <h1>Demo app behind Portcullis</h1>
  <p>This application has no login of its own: everything below is what the gateway sent it.</p>
  <h2>Request</h2>
  <table>
    <tr><th scope="row">Method</th><td><code>${escapeHtml(req.method ?? '')}</code></td></tr>
    <tr><th scope="row">Path</th><td><code>${escapeHtml(url.pathname)}</code></td></tr>
    <tr><th scope="row">Query</th><td><code>${escapeHtml(JSON.stringify(query))}</code></td></tr>
    <tr><th scope="row">Body bytes</th><td><code>${bodyBytes}</code></td></tr>
  </table>
  <h2>Identity headers</h2>
  <table id="identity">
      ${rows}
  </table>
  <h2>Cookies received (names only)</h2>
  <p id="cookies">${cookies.length === 0 ? '<em>(none)</em>' : cookies.map((n) => `<code>${escapeHtml(n)}</code>`).join(', ')}</p>
  <p><a id="sign-out" href="${escapeHtml(`${signOutPath}?rd=${encodeURIComponent(url.pathname)}`)}">Sign out</a> (through the gateway's sign-out page)</p>
</body>
</html>
`
}

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml (value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** Shows enough of a token to compare two of them, never the whole of it. */
function shorten (value: string): string {
  return value.length <= 16 ? value : `${value.slice(0, 12)}… (${value.length} chars)`
}

function single (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value
}

function cookieNames (headers: IncomingHttpHeaders): string[] {
  const header = headers.cookie
  if (header === undefined) return []
  return header.split(';').map((part) => part.split('=')[0]?.trim() ?? '').filter((n) => n !== '')
}

function queryObject (params: URLSearchParams): Record<string, string | string[]> {
  // No prototype: a `__proto__` query key must show up as data, not change the object.
  const out = Object.create(null) as Record<string, string | string[]>
  for (const key of new Set(params.keys())) {
    const values = params.getAll(key)
    out[key] = values.length === 1 ? values[0] ?? '' : values
  }
  return out
}

function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json), 'cache-control': 'no-store' })
  res.end(json)
}

function sendHtml (res: ServerResponse, html: string): void {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(html), 'cache-control': 'no-store' })
  res.end(html)
}
