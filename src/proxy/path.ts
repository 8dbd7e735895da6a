/**
 * Request-path normalisation. The gateway matches routes on exactly the path it forwards, so the
 * upstream can never be shown a path that resolves somewhere the route table did not approve.
 * The rules are strict on purpose: whatever could be read two ways (by the gateway and by some
 * upstream framework) is refused with 400 rather than guessed at.
 */

/** Longest request-target accepted. */
const MAX_LENGTH = 8192

export interface NormalisedPath {
  /** The normalised path, always starting with `/`, used for routing and forwarded upstream. */
  readonly path: string
  /** The query as received, including the leading `?`, or `''`. */
  readonly search: string
}

/** Unreserved characters (RFC 3986 section 2.3): decoding them never changes a URI's meaning. */
const unreserved = /^[A-Za-z0-9\-._~]$/

/** Characters that end an upstream's reading of a segment name: path parameters and NUL. */
const segmentEnd = /;|%3B|%00/

/** Encoded separators: kept as data here, but some upstreams decode them into separators. */
const encodedSeparator = /%2F|%5C/

/**
 * Normalises a request-target as received (`/a/b?x=1`) into the path used both for route matching
 * and for forwarding, or returns null when it cannot be normalised safely (the caller answers
 * 400). Only unreserved characters are percent-decoded; other escapes are upper-cased and kept,
 * so `%2F` and `%5C` are never separators. Dot segments are resolved (`..` above the root is
 * refused), duplicate slashes collapse, a trailing slash is kept and the query passes unchanged.
 *
 * Refused: anything not starting with `/`, a fragment, invalid escapes, raw backslashes, controls
 * or whitespace, characters outside Latin-1, more than 8192 characters, and segments that would
 * become dot segments for an upstream that decodes `%2F`/`%5C` or cuts at `;` (`..%2F`, `..;`):
 * such a segment is inert here but could climb out of a public prefix behind the gateway.
 */
export function normalisePath (rawUrl: string): NormalisedPath | null {
  if (rawUrl.length > MAX_LENGTH || !rawUrl.startsWith('/') || rawUrl.includes('#')) return null
  const q = rawUrl.indexOf('?')
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q)
  const search = q === -1 ? '' : rawUrl.slice(q)
  // The query is forwarded byte for byte, but never with bytes that cannot travel on a request line.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f]|[^\u0000-\u00ff]/.test(search)) return null

  const canonical = canonicalEscapes(rawPath)
  if (canonical === null) return null

  const output: string[] = []
  const segments = canonical.split('/')
  // segments[0] is the empty string before the leading slash.
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string
    const last = i === segments.length - 1
    if (segment === '' && !last) continue
    if (segment === '.' || segment === '..') {
      if (segment === '..' && output.pop() === undefined) return null
      // A final dot segment leaves a directory: `/a/b/..` is `/a/`.
      if (last) output.push('')
      continue
    }
    if (hiddenDotSegment(segment)) return null
    output.push(segment)
  }
  return { path: '/' + output.join('/'), search }
}

/**
 * Validates every character of the raw path and rewrites escapes canonically: unreserved ones
 * decoded, the rest upper-cased. Raw Latin-1 bytes (a client that sent UTF-8 unencoded; Node
 * reads the request line as Latin-1) are percent-encoded byte for byte.
 */
function canonicalEscapes (rawPath: string): string | null {
  let out = ''
  for (let i = 0; i < rawPath.length; i++) {
    const c = rawPath.charCodeAt(i)
    if (c === 0x25) { // '%'
      const hex = rawPath.slice(i + 1, i + 3)
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return null
      const ch = String.fromCharCode(parseInt(hex, 16))
      out += unreserved.test(ch) ? ch : '%' + hex.toUpperCase()
      i += 2
    } else if (c <= 0x20 || c === 0x7f || c === 0x5c || c > 0xff) {
      // Controls, whitespace, DEL, backslash, and characters no request line can carry.
      return null
    } else if (c >= 0x80) {
      out += '%' + c.toString(16).toUpperCase()
    } else {
      out += rawPath[i]
    }
  }
  return out
}

/**
 * Whether a segment that is not a dot segment here would be one for a less careful reader: split
 * at encoded separators, each piece cut at a path parameter or NUL, and any piece `.` or `..`.
 */
function hiddenDotSegment (segment: string): boolean {
  if (!segment.startsWith('.') && !encodedSeparator.test(segment)) return false
  for (const piece of segment.split(/%2F|%5C/)) {
    const name = piece.split(segmentEnd)[0]
    if (name === '.' || name === '..') return true
  }
  return false
}
