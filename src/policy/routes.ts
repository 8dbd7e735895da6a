/**
 * The route table: which configured route a normalised request path belongs to. Matching is on
 * whole path segments, so a route can never be reached through a sibling that merely shares its
 * first characters (`/api` is not `/apix`), and the longest prefix wins.
 */

import type { RouteConfig } from '../config/types.js'

/** One route as the table holds it, longest prefix first (see {@link RouteTable.entries}). */
export interface RouteEntry {
  readonly route: RouteConfig
  /** `route.path`, exactly as configured. */
  readonly prefix: string
  /** The prefix case-folded (lower case), for readings of a path by case-insensitive servers. */
  readonly folded: string
  /** True when another route's prefix folds to the same string (`/Admin/` and `/admin/`). */
  readonly foldTwin: boolean
}

export interface RouteTable {
  /** The route for a path produced by `normalisePath`, or null when no route covers it. */
  match (path: string): RouteConfig | null
  /**
   * The routes in matching order (longest prefix first, configured order among equal lengths),
   * with their case-folded prefixes computed once: what `policy/route-choice.ts` needs to find
   * the route each upstream reading of a path would fall under.
   */
  readonly entries: readonly RouteEntry[]
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
  const folds = new Map<string, number>()
  for (const route of ordered) {
    const folded = route.path.toLowerCase()
    folds.set(folded, (folds.get(folded) ?? 0) + 1)
  }
  const entries = ordered.map((route): RouteEntry => {
    const folded = route.path.toLowerCase()
    return { route, prefix: route.path, folded, foldTwin: (folds.get(folded) ?? 0) > 1 }
  })
  return {
    entries,
    match (path: string): RouteConfig | null {
      for (const route of ordered) {
        if (covers(route.path, path)) return route
      }
      return null
    }
  }
}

/** Whether a route prefix covers a path (exact, case-sensitive: the gateway's own reading). */
export function covers (prefix: string, path: string): boolean {
  if (prefix.endsWith('/')) return path.startsWith(prefix)
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f)
}
