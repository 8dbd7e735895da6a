/**
 * What a forward-auth caller says about the request it is asking about. Every one of these
 * headers is client input unless the caller is a configured trusted proxy: a browser that can
 * reach `/oauth2/auth` directly could otherwise name a public path (and get a 202 without signing
 * in) or a route with looser rules than the one it really wants.
 *
 * Even through a trusted proxy, a client's own copies can arrive: Traefik's ForwardAuth passes
 * every client header on by default, and nginx's `auth_request` passes the client's headers to
 * the subrequest unless told otherwise. So the original URI and method are read from exactly one
 * configured header each (`forward_auth.uri_header`, `forward_auth.method_header`), and a request
 * that names them twice is refused: the configured header repeated, a value that is really two
 * joined values, or the other well-known name present as well (a client's `X-Original-URI` next
 * to the `X-Forwarded-Uri` Traefik set). Whichever copy a reader preferred, one of them is the
 * client's; refusing is the only answer that cannot be steered.
 */
import type { IncomingHttpHeaders } from 'node:http'
import type { ForwardAuthConfig } from '../config/types.js'

export interface OriginalRequest {
  /** The original request-target (`/path?query`), or null when not known. */
  readonly uri: string | null
  /** The original method, upper case; `GET` when not known. */
  readonly method: string
  /** The original absolute URL (`https://app.example.com/path?q`), or null when not known. */
  readonly url: string | null
}

/** The well-known names of each header; the ones not configured must be absent. */
const uriHeaders = ['x-original-uri', 'x-forwarded-uri']
const methodHeaders = ['x-original-method', 'x-forwarded-method']

const unknown: OriginalRequest = Object.freeze({ uri: null, method: 'GET', url: null })

/** The original request could not be read unambiguously (answer 400 `PCS_ORIGINAL_REQUEST_CONFLICT`). */
export const CONFLICT = Symbol('conflicting original request')

/** How many times a header (lower-case name) occurs in the raw header list. */
function occurrences (rawHeaders: readonly string[], name: string): number {
  let n = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const key = rawHeaders[i] as string
    if (key.length === name.length && key.toLowerCase() === name) n++
  }
  return n
}

/** The first comma-separated item: the value the client-facing proxy set. */
function firstItem (value: string | undefined): string | null {
  if (value === undefined) return null
  const item = (value.split(',')[0] ?? '').trim()
  return item === '' ? null : item
}

/** A single request-target: starts with `/`, no whitespace (two joined values hold `, `). */
const singleUri = /^\/[^\s]*$/
const singleMethod = /^[A-Za-z]{1,16}$/

/**
 * Reads the original request from a trusted proxy's headers; from anyone else, nothing.
 * - URI: the configured `uri_header`; absent means not known (only the global rule applies).
 * - method: the configured `method_header`; absent means `GET`.
 * - URL: built from `X-Forwarded-Proto` + `X-Forwarded-Host` + the URI, unless the URI header is
 *   nginx's `X-Original-URI`: nginx passes a client's `X-Forwarded-Host` through to the
 *   subrequest unless told otherwise, so there the URI is taken as a path on the public origin.
 * {@link CONFLICT} when either is named twice (see the module comment) or is not one valid value.
 * Values are only read here; the URI is normalised by admission and any URL goes through the one
 * redirect validator before it is used.
 */
export function originalRequest (headers: IncomingHttpHeaders, rawHeaders: readonly string[], trusted: boolean, config: ForwardAuthConfig): OriginalRequest | typeof CONFLICT {
  if (!trusted) return unknown
  const { uriHeader, methodHeader } = config
  for (const name of uriHeaders) if (name !== uriHeader && headers[name] !== undefined) return CONFLICT
  for (const name of methodHeaders) if (name !== methodHeader && headers[name] !== undefined) return CONFLICT

  const rawUri = headers[uriHeader]
  const rawMethod = headers[methodHeader]
  if (rawUri === undefined && rawMethod === undefined) return unknown
  if (Array.isArray(rawUri) || Array.isArray(rawMethod)) return CONFLICT
  if (rawUri !== undefined && (!singleUri.test(rawUri) || occurrences(rawHeaders, uriHeader) !== 1)) return CONFLICT
  if (rawMethod !== undefined && (!singleMethod.test(rawMethod) || occurrences(rawHeaders, methodHeader) !== 1)) return CONFLICT

  const uri = rawUri ?? null
  const method = rawMethod === undefined ? 'GET' : rawMethod.toUpperCase()
  let url: string | null = null
  if (uri !== null && uriHeader !== 'x-original-uri') {
    const proto = firstItem(headers['x-forwarded-proto'] as string | undefined)?.toLowerCase()
    const host = firstItem(headers['x-forwarded-host'] as string | undefined)
    if ((proto === 'http' || proto === 'https') && host !== null) url = `${proto}://${host}${uri}`
  }
  return { uri, method, url }
}
