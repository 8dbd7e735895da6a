/**
 * The route table: which configured route a normalised request path belongs to. Matching is on
 * whole path segments, so a route can never be reached through a sibling that merely shares its
 * first characters (`/api` is not `/apix`), and the longest prefix wins.
 */

import type { RouteConfig } from '../config/types.js'

export interface RouteTable {
  /** The route for a path produced by `normalisePath`, or null when no route covers it. */
  match (path: string): RouteConfig | null
}

/**
 * Builds the route table once. A prefix ending in `/` covers every path starting with it; a
 * prefix `P` without a trailing slash covers `P` itself and everything under `P/`; `/` covers
 * everything. Among the routes covering a path, the longest prefix wins; equal prefixes keep
 * their configured order (the first wins). Paths must already be normalised: matching is a plain,
 * case-sensitive string comparison.
 */
export function createRouteTable (routes: readonly RouteConfig[]): RouteTable {
  // Longest first, so the first hit is the most specific route. Array.prototype.sort is stable,
  // which keeps configured order for equal lengths.
  const ordered = [...routes].sort((a, b) => b.path.length - a.path.length)
  return {
    match (path: string): RouteConfig | null {
      for (const route of ordered) {
        if (covers(route.path, path)) return route
      }
      return null
    }
  }
}

function covers (prefix: string, path: string): boolean {
  if (prefix.endsWith('/')) return path.startsWith(prefix)
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f)
}
