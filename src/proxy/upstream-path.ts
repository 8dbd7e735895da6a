import type { RouteConfig } from '../config/types.js'

/**
 * The path (with query) sent upstream for a request on `route`: the upstream URL's base path
 * (`basePath`, without a trailing slash, '' for none) followed by the request's normalised path,
 * then its query string unchanged.
 *
 * Without `strip_prefix` the whole request path is appended: route `/new/` with upstream
 * `http://app/rewritten` sends `/new/thing` as `/rewritten/new/thing`.
 *
 * With `strip_prefix` the route's prefix, without its trailing slash, is removed first, and the
 * rest (empty, or starting with `/`) is appended: `/new/thing` → `/rewritten/thing`,
 * `/new/` → `/rewritten/`, `/new` (where the route covers it) → `/rewritten`, so a trailing slash
 * is kept exactly as the request had it; an empty result is `/`. The query follows unchanged:
 * `/new/?q=1` → `/rewritten/?q=1`. Returns null when the path does not start with the prefix
 * segment by segment (a route chosen by another reading of the path); it is then refused rather
 * than guessed.
 */
export function upstreamPath (basePath: string, route: Pick<RouteConfig, 'path' | 'stripPrefix'>, path: string, search: string): string | null {
  if (!route.stripPrefix) return basePath + path + search
  const prefix = route.path.endsWith('/') ? route.path.slice(0, -1) : route.path
  if (!path.startsWith(prefix) || (path.length > prefix.length && path.charCodeAt(prefix.length) !== 0x2f)) return null
  const rest = path.slice(prefix.length)
  const joined = basePath + rest
  return (joined === '' ? '/' : joined) + search
}
