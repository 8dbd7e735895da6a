/**
 * The accounts and the client registration of the development identity provider. They are
 * fixtures for the demo and the integration tests: nobody signs in with a password, and nothing
 * here is ever a real credential.
 */

/** One account the development provider can sign in, with the claims it releases. */
export interface DevAccount {
  /** Stable subject identifier (`sub`). */
  readonly sub: string
  readonly email: string
  readonly email_verified: boolean
  readonly name: string
  readonly preferred_username?: string
  readonly groups: readonly string[]
  /** Hosted domain claim, as a Google Workspace account carries it. */
  readonly hd?: string
}

/** An administrator of the allowed domain. */
export const ALICE: DevAccount = Object.freeze({
  sub: 'dev-alice',
  email: 'alice@example.com',
  email_verified: true,
  name: 'Alice Admin',
  preferred_username: 'alice',
  groups: Object.freeze(['admins', 'staff']),
  hd: 'example.com'
})

/** A member of staff of the allowed domain, not an administrator. */
export const BOB: DevAccount = Object.freeze({
  sub: 'dev-bob',
  email: 'bob@example.com',
  email_verified: true,
  name: 'Bob Staff',
  preferred_username: 'bob',
  groups: Object.freeze(['staff']),
  hd: 'example.com'
})

/** Someone from outside the allowed domain: signs in at the provider, is refused by the gateway. */
export const MALLORY: DevAccount = Object.freeze({
  sub: 'dev-mallory',
  email: 'mallory@evil.test',
  email_verified: true,
  name: 'Mallory Outsider',
  preferred_username: 'mallory',
  groups: Object.freeze([])
})

/** The accounts the development provider offers by default, in the order it lists them. */
export const DEMO_ACCOUNTS: readonly DevAccount[] = Object.freeze([ALICE, BOB, MALLORY])

/** Client id the demo gateway is registered with at the development provider. */
export const DEMO_CLIENT_ID = 'portcullis-demo'

/** Client secret of the demo registration; a fixture, not a secret. */
export const DEMO_CLIENT_SECRET = 'portcullis-demo-secret-not-for-production'

/**
 * Workspace groups of the development provider's Google API double: group email -> direct members
 * (user or group addresses). Alice is in admins directly and in staff through admins (Cloud
 * Identity's transitive search finds both; the Directory API's `groups.list?userKey=` only admins
 * and eng); Bob is in staff directly; Mallory is in none.
 */
export const DEMO_WORKSPACE_GROUPS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  'admins@example.com': Object.freeze(['alice@example.com']),
  'staff@example.com': Object.freeze(['bob@example.com', 'admins@example.com']),
  'eng@example.com': Object.freeze(['alice@example.com'])
})
