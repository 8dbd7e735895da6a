import type { AccessRule, RouteConfig } from '../config/types.js'
import { compilePolicy, type CompiledPolicy, type CompiledRule } from '../policy/decide.js'
import { createRouteTable, type RouteTable } from '../policy/routes.js'

/**
 * The part of the configuration a reload may replace while the gateway serves: the route table,
 * the compiled access policy, and the claim names sign-in keeps for the rules.
 */
export interface LiveRouting {
  /** Always matches against the current routes. */
  readonly routes: RouteTable
  /** Always decides with the current rules (see {@link createLiveRouting} for in-flight requests). */
  readonly policy: CompiledPolicy
  /** Claim names some rule uses; sign-in copies these into the session. Only ever grows. */
  readonly keepClaims: Set<string>
  /** Swaps in new routes and access rules; takes effect for the next route match. */
  apply (access: AccessRule, routes: readonly RouteConfig[]): void
}

/** Claim names the access rules look at, so sign-in keeps exactly those in the session. */
function ruleClaims (access: AccessRule, routes: readonly RouteConfig[]): string[] {
  const names = Object.keys(access.claims)
  for (const route of routes) names.push(...Object.keys(route.allow?.claims ?? {}))
  return names
}

/**
 * Creates the swappable routing state. The route table and policy handed out are stable objects
 * that read the current generation on every call, so the gate, forward-auth and the proxy never
 * hold a stale copy.
 *
 * The hazard this shape prevents: a request matches its route, then awaits the session store; a
 * reload lands meanwhile. Looking the old route's `allow` up in a map of only the new routes
 * would find nothing, and the request would pass on the global rules alone: a route narrowed to
 * admins would briefly open to everyone allowed at all. So the per-route rules of every
 * generation stay findable by their route object (route objects are never shared between
 * generations), and an in-flight request is judged by the rule of the route it matched. The
 * global rule is always the newest, so a user removed by a reload is refused at once. The map
 * grows by one entry per route with `allow` per reload: negligible for a manual operation.
 */
export function createLiveRouting (access: AccessRule, routes: readonly RouteConfig[]): LiveRouting {
  let table = createRouteTable(routes)
  let global: CompiledRule
  const routeRules = new Map<RouteConfig, CompiledRule>()
  const keepClaims = new Set<string>()

  function apply (nextAccess: AccessRule, nextRoutes: readonly RouteConfig[]): void {
    const compiled = compilePolicy(nextAccess, nextRoutes)
    for (const [route, rule] of compiled.routes) routeRules.set(route, rule)
    for (const name of ruleClaims(nextAccess, nextRoutes)) keepClaims.add(name)
    global = compiled.global
    table = createRouteTable(nextRoutes)
  }
  apply(access, routes)

  return {
    routes: { match: (path) => table.match(path), get entries () { return table.entries } },
    policy: {
      get global () { return global },
      routes: routeRules
    },
    keepClaims,
    apply
  }
}
