/**
 * A minimal cookie jar for fetch-driven tests, close enough to a browser for a gateway on
 * 127.0.0.1: cookies are keyed by host name and never by port (as browsers do, which is why the
 * development provider's cookies also reach the gateway), Path is honoured, and Max-Age / Expires
 * in the past delete. Domain cookies match the domain and its subdomains. Secure cookies are sent
 * over https and to loopback hosts, which browsers treat as secure contexts.
 */

export interface StoredCookie {
  readonly name: string
  readonly value: string
  /** Host name the cookie belongs to (the Domain attribute when given, without a leading dot). */
  readonly domain: string
  /** True when no Domain attribute was given: only that exact host gets it. */
  readonly hostOnly: boolean
  readonly path: string
  /** Epoch milliseconds, or null for a session cookie. */
  readonly expiresAt: number | null
  readonly secure: boolean
  readonly httpOnly: boolean
  readonly sameSite: string | null
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1'])

export class CookieJar {
  readonly #cookies = new Map<string, StoredCookie>()

  /** Stores every `Set-Cookie` of a response received from `url`. */
  storeFrom (url: string | URL, headers: Headers): void {
    for (const line of headers.getSetCookie()) this.setCookie(url, line)
  }

  /** Stores one `Set-Cookie` header value as received from `url`; an expired one deletes. */
  setCookie (url: string | URL, line: string): void {
    const target = new URL(url)
    const [pair = '', ...attributes] = line.split(';')
    const eq = pair.indexOf('=')
    if (eq <= 0) return
    const name = pair.slice(0, eq).trim()
    const value = pair.slice(eq + 1).trim()
    let path: string | null = null
    let domain: string | null = null
    let maxAge: number | null = null
    let expires: number | null = null
    let secure = false
    let httpOnly = false
    let sameSite: string | null = null
    for (const attribute of attributes) {
      const i = attribute.indexOf('=')
      const key = (i === -1 ? attribute : attribute.slice(0, i)).trim().toLowerCase()
      const val = i === -1 ? '' : attribute.slice(i + 1).trim()
      if (key === 'path' && val.startsWith('/')) path = val
      else if (key === 'domain' && val !== '') domain = val.replace(/^\./, '').toLowerCase()
      else if (key === 'max-age' && /^-?\d+$/.test(val)) maxAge = Number(val)
      else if (key === 'expires') {
        const t = Date.parse(val)
        if (!Number.isNaN(t)) expires = t
      } else if (key === 'secure') secure = true
      else if (key === 'httponly') httpOnly = true
      else if (key === 'samesite') sameSite = val.toLowerCase()
    }
    const host = target.hostname.toLowerCase()
    if (domain !== null && !domainMatches(host, domain)) return // a browser ignores foreign domains
    const cookie: StoredCookie = {
      name,
      value,
      domain: domain ?? host,
      hostOnly: domain === null,
      path: path ?? defaultPath(target.pathname),
      expiresAt: maxAge !== null ? Date.now() + maxAge * 1000 : expires,
      secure,
      httpOnly,
      sameSite
    }
    const key = `${cookie.domain};${cookie.path};${name}`
    if (cookie.expiresAt !== null && cookie.expiresAt <= Date.now()) this.#cookies.delete(key)
    else this.#cookies.set(key, cookie)
  }

  /** The cookies a request to `url` carries, most specific path first. */
  cookiesFor (url: string | URL): StoredCookie[] {
    const target = new URL(url)
    const host = target.hostname.toLowerCase()
    const secureOk = target.protocol === 'https:' || LOOPBACK.has(host)
    const now = Date.now()
    const out: StoredCookie[] = []
    for (const [key, cookie] of this.#cookies) {
      if (cookie.expiresAt !== null && cookie.expiresAt <= now) {
        this.#cookies.delete(key)
        continue
      }
      if (cookie.hostOnly ? cookie.domain !== host : !domainMatches(host, cookie.domain)) continue
      if (!pathMatches(target.pathname, cookie.path)) continue
      if (cookie.secure && !secureOk) continue
      out.push(cookie)
    }
    return out.sort((a, b) => b.path.length - a.path.length)
  }

  /** The `Cookie` request header for `url`, or undefined when no cookie applies. */
  header (url: string | URL): string | undefined {
    const cookies = this.cookiesFor(url)
    return cookies.length === 0 ? undefined : cookies.map((c) => `${c.name}=${c.value}`).join('; ')
  }

  /** The value of cookie `name` that a request to `url` would carry (any URL when omitted). */
  get (name: string, url?: string | URL): string | undefined {
    const pool = url === undefined ? [...this.#cookies.values()] : this.cookiesFor(url)
    return pool.find((c) => c.name === name)?.value
  }

  /** Every stored, unexpired cookie. */
  all (): StoredCookie[] {
    const now = Date.now()
    return [...this.#cookies.values()].filter((c) => c.expiresAt === null || c.expiresAt > now)
  }

  /** Deletes every cookie whose name satisfies `predicate` (e.g. to forget the provider's session). */
  deleteWhere (predicate: (cookie: StoredCookie) => boolean): void {
    for (const [key, cookie] of this.#cookies) if (predicate(cookie)) this.#cookies.delete(key)
  }

  clear (): void {
    this.#cookies.clear()
  }
}

function domainMatches (host: string, domain: string): boolean {
  return host === domain || host.endsWith(`.${domain}`)
}

/** RFC 6265 5.1.4: the directory of the request path. */
function defaultPath (pathname: string): string {
  if (!pathname.startsWith('/')) return '/'
  const last = pathname.lastIndexOf('/')
  return last <= 0 ? '/' : pathname.slice(0, last)
}

/** RFC 6265 5.1.4 path-match. */
function pathMatches (requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true
  if (!requestPath.startsWith(cookiePath)) return false
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/'
}
