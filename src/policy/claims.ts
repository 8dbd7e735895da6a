import type { AccessRule, Config } from '../config/types.js'
import { profileFor } from '../config/profiles/profile.js'

function rules (config: Config): AccessRule[] {
  const all = [config.access]
  for (const route of config.routes) if (route.allow !== null) all.push(route.allow)
  return all
}

/**
 * The claims sign-in must find for the policy to work: every claim an access rule names, and the
 * groups claim (`provider.groups_claim`) when groups come from a claim and a rule uses groups or
 * the provider's profile says groups claims are common (generic OIDC; Google never sends any, so
 * asking would only cost a request). When the id token lacks one of them, sign-in and refresh
 * read the provider's userinfo as well. Workspace groups come from an API, never from a claim.
 */
export function wantedClaims (config: Config): Set<string> {
  const names = new Set<string>()
  const fromClaim = config.provider.groups.source === 'claim'
  let groups = profileFor(config.provider.type).groupsClaimCommon
  for (const rule of rules(config)) {
    for (const name of Object.keys(rule.claims)) names.add(name)
    if (rule.groups.length > 0) groups = true
  }
  if (groups && fromClaim) names.add(config.provider.groupsClaim)
  return names
}
