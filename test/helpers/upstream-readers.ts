/**
 * How common application servers read a request path, written independently of the gateway's
 * own reading code (src/policy/route-choice.ts) so a test can check one against the other, and a
 * real HTTP upstream that serves handlers the way each of them would.
 *
 * The handlers mirror the test routes: `/admin/...` (group admins), `/staff/...` (signed in),
 * anything else (public). Each reader reports which handler it would serve for a path:
 * - wsgi: PATH_INFO is the path percent-decoded once, `%2F` included (bytes as Latin-1); Werkzeug
 *   merges duplicate slashes;
 * - express: case-insensitive, non-strict (`/admin` is `/admin/`'s handler), on the raw path;
 * - tomcat: `;params` dropped from every segment, then decoded (`%2F` kept as data), dot segments resolved;
 * - iis: decoded (`%2F` and `%5C` as separators), trailing dots and spaces dropped from every
 *   segment, case-insensitive;
 * - nginx: duplicate slashes merged (merge_slashes), then as written.
 */
import { createServer, type Server } from 'node:http'
import { listenOnLoopback } from './listen.js'

export type Handler = 'admin' | 'staff' | 'public'
export const readers = ['wsgi', 'express', 'tomcat', 'iis', 'nginx'] as const
export type Reader = typeof readers[number]

function decode (path: string, keepSlash: boolean): string {
  return path.replace(/%([0-9A-Fa-f]{2})/g, (all, hex: string) => {
    const code = parseInt(hex, 16)
    return keepSlash && code === 0x2f ? all : String.fromCharCode(code)
  })
}

function dots (path: string): string {
  const out: string[] = []
  const segments = path.split('/')
  segments.forEach((s, i) => {
    if (s === '.' || s === '..') {
      if (s === '..') out.pop()
      if (i === segments.length - 1) out.push('')
    } else if (s !== '' || i === segments.length - 1) {
      out.push(s)
    }
  })
  return '/' + out.join('/')
}

/** How a reader compares a path with its routes: `fold` ignores case; `strict` requires the trailing slash of `/admin/`. */
export interface ReadPath {
  readonly path: string
  readonly fold: boolean
  readonly strict: boolean
}

/** The path each reader sees for a raw request path (no query), and how it matches routes. */
export function readAs (raw: string): Record<Reader, ReadPath> {
  return {
    wsgi: { path: dots(decode(raw, false).replace(/\/{2,}/g, '/')), fold: false, strict: true },
    express: { path: raw, fold: true, strict: false },
    tomcat: { path: dots(decode(raw.split('/').map((s) => s.split(';')[0]).join('/'), true)), fold: false, strict: true },
    iis: { path: dots(decode(raw, false).replaceAll('\\', '/').split('/').map((s) => s.replace(/[. ]+$/, '')).join('/').replace(/\/{2,}/g, '/')), fold: true, strict: true },
    nginx: { path: raw.replace(/\/{2,}/g, '/'), fold: false, strict: true }
  }
}

/** Whether a reader serves `read` under a route prefix (longest prefix is the caller's concern). */
export function readerCovers (prefix: string, read: ReadPath): boolean {
  const p = read.fold ? read.path.toLowerCase() : read.path
  const r = read.fold ? prefix.toLowerCase() : prefix
  if (r.endsWith('/')) return p.startsWith(r) || (!read.strict && p === r.slice(0, -1))
  return p === r || p.startsWith(r + '/')
}

/** The handler a path selects among `/admin/`, `/staff/` and everything else. */
function handlerOf (read: ReadPath): Handler {
  for (const [prefix, handler] of [['/admin/', 'admin'], ['/staff/', 'staff']] as const) {
    if (readerCovers(prefix, read)) return handler
  }
  return 'public'
}

/** The handler each reader serves for a raw request path (no query). */
export function readPath (raw: string): Record<Reader, Handler> {
  const reads = readAs(raw)
  return Object.fromEntries(readers.map((r) => [r, handlerOf(reads[r])])) as Record<Reader, Handler>
}

/** The strictest handler any reader serves. */
export function strictestHandler (raw: string): Handler {
  const served = Object.values(readPath(raw))
  return served.includes('admin') ? 'admin' : served.includes('staff') ? 'staff' : 'public'
}

export interface ReadingUpstream {
  readonly url: string
  /** Every request that reached it: the raw target and what each reader served. */
  readonly seen: Array<{ target: string, served: Record<Reader, Handler>, user: string | null }>
  close (): Promise<void>
}

/** A real HTTP server on loopback answering JSON `{ target, served, user }` for every request. */
export async function startReadingUpstream (): Promise<ReadingUpstream> {
  const seen: ReadingUpstream['seen'] = []
  const server: Server = createServer((req, res) => {
    const target = req.url ?? '/'
    const q = target.indexOf('?')
    const served = readPath(q === -1 ? target : target.slice(0, q))
    const user = typeof req.headers['x-forwarded-email'] === 'string' ? req.headers['x-forwarded-email'] : null
    seen.push({ target, served, user })
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ target, served, user }))
  })
  const url = await listenOnLoopback(server)
  return {
    url,
    seen,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}
