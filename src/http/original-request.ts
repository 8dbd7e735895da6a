/**
 * What a forward-auth caller says about the request it is asking about. Every one of these
 * headers is client input unless the caller is a configured trusted proxy: a browser that can
 * reach `/oauth2/auth` directly could otherwise name a public path (and get a 202 without signing
 * in) or a route with looser rules than the one it really wants.
 */
import type { IncomingHttpHeaders } from 'node:http'

export interface OriginalRequest {
  /** The original request-target (`/path?query`), or null when not known. */
  readonly uri: string | null
  /** The original method, upper case; `GET` when not known. */
  readonly method: string
  /** The original absolute URL (`https://app.example.com/path?q`), or null when not known. */
  readonly url: string | null
}

const unknown: OriginalRequest = { uri: null, method: 'GET', url: null }

function header (headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name]
  const text = Array.isArray(value) ? value[0] : value
  return typeof text === 'string' && text !== '' ? text : null
}

/** The first comma-separated item: the value the client-facing proxy set. */
function firstItem (value: string | null): string | null {
  if (value === null) return null
  const item = (value.split(',')[0] ?? '').trim()
  return item === '' ? null : item
}

/**
 * Reads the original request from a trusted proxy's headers; from anyone else, nothing.
 * - URI: `X-Original-URI` (nginx `auth_request`), else `X-Forwarded-Uri` (Traefik, Caddy).
 * - method: `X-Original-Method`, else `X-Forwarded-Method`.
 * - URL: built from `X-Forwarded-Proto` + `X-Forwarded-Host` + `X-Forwarded-Uri`, the three
 *   headers Traefik and Caddy set themselves. Not with `X-Original-URI`: nginx passes a client's
 *   `X-Forwarded-Host` through to the subrequest unless told otherwise, so there the URI is taken
 *   as a path on the public origin.
 * Values are only read here; the URI is normalised by the caller and any URL goes through the one
 * redirect validator before it is used.
 */
export function originalRequest (headers: IncomingHttpHeaders, trusted: boolean): OriginalRequest {
  if (!trusted) return unknown
  const nginxUri = header(headers, 'x-original-uri')
  const forwardedUri = header(headers, 'x-forwarded-uri')
  const uri = nginxUri ?? forwardedUri
  const rawMethod = header(headers, 'x-original-method') ?? header(headers, 'x-forwarded-method')
  const method = rawMethod !== null && /^[A-Za-z]{1,16}$/.test(rawMethod) ? rawMethod.toUpperCase() : 'GET'
  let url: string | null = null
  if (nginxUri === null && forwardedUri !== null && forwardedUri.startsWith('/')) {
    const proto = firstItem(header(headers, 'x-forwarded-proto'))?.toLowerCase()
    const host = firstItem(header(headers, 'x-forwarded-host'))
    if ((proto === 'http' || proto === 'https') && host !== null) url = `${proto}://${host}${forwardedUri}`
  }
  return { uri, method, url }
}
