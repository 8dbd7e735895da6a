import type { AccessRule, Config } from '../config/types.js'

function rules (config: Config): AccessRule[] {
  const all = [config.access]
  for (const route of config.routes) if (route.allow !== null) all.push(route.allow)
  return all
}

/**
 * The claims sign-in must find for the policy to work: every claim an access rule names, and the
 * groups claim (`provider.groups_claim`) when a rule uses groups or the provider is generic OIDC
 * (where groups are common; Google never sends any, so asking would only cost a request). When
 * the id token lacks one of them, sign-in and refresh read the provider's userinfo as well.
 */
export function wantedClaims (config: Config): Set<string> {
  const names = new Set<string>()
  let groups = config.provider.type === 'oidc'
  for (const rule of rules(config)) {
    for (const name of Object.keys(rule.claims)) names.add(name)
    if (rule.groups.length > 0) groups = true
  }
  if (groups) names.add(config.provider.groupsClaim)
  return names
}
