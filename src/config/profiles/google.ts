import type { ProviderProfile } from './profile.js'

/** The scope that lets the user's own access token read their groups in the Cloud Identity API. */
export const cloudIdentityGroupsScope = 'https://www.googleapis.com/auth/cloud-identity.groups.readonly'

/**
 * Google: offline access is `access_type=offline` (Google issues the refresh token only with
 * `prompt=consent`, the default prompt here, and never rotates it: a refresh response carries no
 * `refresh_token`, and the flows keep the one they have); `hd` asks for and is checked against a
 * Workspace domain; the id token carries no groups, so Workspace groups come from the Cloud
 * Identity API (the user's own token, with the scope added here) or the Admin SDK Directory API
 * (a service account); Google's ID tokens name their issuer with or without the scheme.
 */
export const googleProfile: ProviderProfile = {
  defaultIssuer: 'https://accounts.google.com',
  defaultPrompt: 'consent',
  groupsClaimCommon: false,
  hostedDomain: true,
  groupSources: ['cloud_identity', 'admin_directory'],
  authorizationRequest (config, scopes, params) {
    params.access_type = 'offline'
    if (config.hostedDomain !== null) params.hd = config.hostedDomain
    if (config.groups.source === 'cloud_identity') scopes.add(cloudIdentityGroupsScope)
  },
  refuseClaims (config, claims) {
    if (config.hostedDomain === null) return null
    const hd = typeof claims.hd === 'string' ? claims.hd.toLowerCase() : null
    return hd === config.hostedDomain ? null : 'hosted domain mismatch'
  },
  // Google's ID tokens say `https://accounts.google.com` or `accounts.google.com`.
  issuerAliases: (config) => config.issuer === 'https://accounts.google.com' ? ['accounts.google.com'] : []
}
