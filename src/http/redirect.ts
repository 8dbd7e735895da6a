/**
 * The one validator every redirect target goes through (`rd`, the page to come back to after
 * sign-in, the target after sign-out). A target is hostile until proven otherwise: the answer is a
 * same-origin path, an absolute URL on an explicitly allowed host, or `/`. Nothing is ever
 * repaired; anything doubtful falls back to `/`, so a trick can only cost the user a click.
 */

/** Longest target accepted; longer ones are not worth the risk of parser differences. */
const MAX_LENGTH = 2048

/**
 * Characters never accepted anywhere in a raw target: controls (C0, DEL, C1), the backslash
 * (browsers treat it as `/` in special URLs, so `/\evil` is `//evil`), and Unicode spaces and
 * format characters that some parsers strip or treat as separators. An ASCII space is allowed only
 * inside the target (it is percent-encoded on the way out); leading or trailing whitespace is not.
 */
// eslint-disable-next-line no-control-regex
const forbiddenRaw = /[\u0000-\u001f\u007f-\u00a0\\\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]/

/** Control characters in a decoded path: a sign of header injection or whitespace smuggling. */
// eslint-disable-next-line no-control-regex
const decodedControl = /[\u0000-\u001f\u007f]/

/** `%XX` sequences that decode to ASCII; only those can form slashes, backslashes or controls. */
const asciiEscape = /%([0-7][0-9a-fA-F])/g

/** How many rounds of percent-decoding are inspected before a target is declared pathological. */
const MAX_DECODE_ROUNDS = 6

export interface RedirectOptions {
  /** The gateway's public origin, e.g. `https://apps.example.com`. */
  readonly publicUrl: string
  /** Hosts an absolute target may point to: `app.example.com`, `.example.com`, `host:8443`. */
  readonly allowedHosts: readonly string[]
}

/**
 * Returns a safe redirect target for `raw`: a same-origin path in `/path?query#hash` form (always
 * starting with exactly one `/`), or, when `raw` is an absolute http(s) URL with the public URL's
 * scheme, no credentials and a host listed in `allowedHosts`, that URL as serialised by WHATWG
 * URL. An absolute URL on the public origin itself is answered with its path form. Everything else
 * (other schemes, other hosts, scheme-relative or backslash tricks, encoded slashes, controls,
 * non-strings, more than 2048 characters) gives `/`.
 */
export function safeRedirect (raw: unknown, options: RedirectOptions): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_LENGTH) return '/'
  if (forbiddenRaw.test(raw) || raw.trim() !== raw) return '/'

  let base: URL
  try {
    base = new URL(options.publicUrl)
  } catch {
    return '/'
  }

  if (raw.startsWith('/')) {
    // `//host` is scheme-relative; a single leading slash is the only relative form accepted.
    if (raw.startsWith('//')) return '/'
    const url = parse(raw, base)
    if (url === null || url.origin !== base.origin) return '/'
    return samePath(url)
  }

  // Only an explicit `http://` or `https://` is an absolute target. This turns away `http:evil`
  // (which WHATWG URL would read as `http://evil/`), `javascript:`, `data:` and everything else.
  if (!/^https?:\/\//i.test(raw)) return '/'
  const url = parse(raw)
  if (url === null || url.username !== '' || url.password !== '') return '/'
  if (url.origin === base.origin) return samePath(url)
  if (url.protocol !== base.protocol) return '/'
  if (!hostAllowed(url, options.allowedHosts)) return '/'
  return url.href
}

function parse (raw: string, base?: URL): URL | null {
  try {
    return new URL(raw, base)
  } catch {
    return null
  }
}

/**
 * The path form of a same-origin URL, or `/` when its path could be read as another origin by
 * anyone down the line. The serialised path is checked as is and after each round of
 * percent-decoding, because upstream apps and frameworks often decode a path (once or more) and
 * redirect to the result: `/%2F%2Fevil` must not become `//evil` one hop later.
 */
function samePath (url: URL): string {
  const target = url.pathname + url.search + url.hash
  let path = url.pathname
  for (let round = 0; round < MAX_DECODE_ROUNDS; round++) {
    if (!pathLooksLocal(path)) return '/'
    const decoded = path.replace(asciiEscape, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    if (decoded === path) return target
    path = decoded
  }
  return '/'
}

function pathLooksLocal (path: string): boolean {
  if (decodedControl.test(path)) return false
  if (!path.startsWith('/') || path.startsWith('//') || path.startsWith('/\\')) return false
  // A decoded form may still hold dot segments (`/%2e%2e//evil` decodes to `/..//evil`), so
  // resolve it the way a browser would, with backslashes as slashes, and look again.
  const resolved = parse(path.replaceAll('\\', '/'), new URL('http://resolve.invalid'))
  return resolved !== null && resolved.host === 'resolve.invalid' && !resolved.pathname.startsWith('//')
}

/**
 * Whether the URL's host and port match an allowed entry: `host` or `host:port` exactly, or
 * `.domain` for the domain and any subdomain of it. Comparison is lower case and ignores a
 * trailing dot; a non-default port must be listed explicitly.
 */
function hostAllowed (url: URL, allowedHosts: readonly string[]): boolean {
  const host = stripDot(url.hostname.toLowerCase())
  const port = url.port
  const defaultPort = url.protocol === 'https:' ? '443' : '80'
  for (const entry of allowedHosts) {
    const parsed = parseAllowedHost(entry)
    if (parsed === null) continue
    // `host:443` for https names the default port, which WHATWG URL serialises as no port.
    const entryPort = parsed.port === defaultPort ? '' : parsed.port
    if (entryPort !== port) continue
    if (parsed.domain) {
      if (host === parsed.host || host.endsWith('.' + parsed.host)) return true
    } else if (host === parsed.host) {
      return true
    }
  }
  return false
}

function parseAllowedHost (entry: string): { host: string, port: string, domain: boolean } | null {
  const match = /^(\.)?(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(entry.trim().toLowerCase())
  if (match === null) return null
  const host = stripDot(match[2] ?? '')
  if (host === '') return null
  return { host, port: match[3] === undefined ? '' : String(Number(match[3])), domain: match[1] === '.' }
}

function stripDot (host: string): string {
  return host.endsWith('.') ? host.slice(0, -1) : host
}
