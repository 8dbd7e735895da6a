/**
 * What a session holds. The whole record is encrypted (AES-256-GCM with the per-session key from
 * the ticket) before it reaches the store, so none of these fields is readable from the store.
 */
export interface Identity {
  /** The provider's stable subject. */
  readonly sub: string
  readonly email: string
  readonly emailVerified: boolean
  readonly name: string | null
  readonly preferredUsername: string | null
  readonly groups: readonly string[]
  /** Where `groups` came from (absent in sessions made before groups sources existed: the claim). */
  readonly groupsFrom?: GroupsProvenance
  /** Google hosted domain (`hd`), when present. */
  readonly hd: string | null
  /** Selected extra claims used by access rules (string or string[] values only). */
  readonly claims: Readonly<Record<string, string | readonly string[]>>
}

/** The source of an identity's groups and, for a Workspace API, how fresh they are. */
export interface GroupsProvenance {
  readonly source: 'claim' | 'cloud_identity' | 'admin_directory'
  /** Epoch ms of the last successful fetch; null for a claim or when no fetch has succeeded. */
  readonly fetchedAt: number | null
  /** Epoch ms after which the groups are no longer believed (fetchedAt + max_age); null: no API groups. */
  readonly expiresAt: number | null
  /** Epoch ms at which a refresh should fetch them again; null: at the access token's own refresh. */
  readonly retryAt: number | null
  /** Why the last fetch failed (`forbidden`, `rate_limited`, `server_error`, `timeout`...), or null. */
  readonly error: string | null
}

export interface Tokens {
  readonly accessToken: string
  readonly refreshToken: string | null
  readonly idToken: string | null
  /** When the access token expires (epoch ms), or null when the provider did not say. */
  readonly accessTokenExpiresAt: number | null
}

export interface SessionRecord {
  readonly v: 1
  readonly identity: Identity
  readonly tokens: Tokens
  /** Epoch ms of the sign-in. */
  readonly createdAt: number
  /** Epoch ms after which the session ends whatever happens (absolute lifetime). */
  readonly expiresAt: number
  /** Increases by one at every refresh. */
  readonly generation: number
  /** Epoch ms of the last refresh (or sign-in). */
  readonly refreshedAt: number
  /** True for the stand-in record of a bearer ID token (http/bearer.ts): never stored, never refreshed. */
  readonly bearer?: true
}
