import type { ProviderProfile } from './profile.js'

/**
 * Plain OpenID Connect: offline access through the `offline_access` scope when the provider lists
 * it,
 * groups from a claim only, and the configured issuer as the only bearer token issuer.
 */
export const oidcProfile: ProviderProfile = {
  defaultIssuer: null,
  defaultPrompt: null,
  groupsClaimCommon: true,
  hostedDomain: false,
  groupSources: [],
  authorizationRequest (_config, scopes, _params, offlineAccessScope) {
    if (offlineAccessScope) scopes.add('offline_access')
  },
  refuseClaims: () => null,
  issuerAliases: () => []
}
