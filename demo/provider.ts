/**
 * The development identity provider: a real OpenID Connect provider (the oidc-provider library)
 * configured to behave like Google where the gateway can tell the difference, with switches the
 * integration tests use to make it slow, down, or refuse a refresh. It serves the demo and is the
 * real provider of the end-to-end tests; it is never meant for production.
 *
 * Google semantics reproduced: `access_type=offline` yields a refresh token; refresh tokens are not
 * rotated and the refresh response omits `refresh_token`; the id token carries email and profile
 * claims (plus `groups`, which Google does not have but the gateway's policies use). It also
 * serves Google's Workspace group APIs (google-apis.ts) for the `cloud_identity` and
 * `admin_directory` group sources.
 */
import { generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { importJWK, SignJWT } from 'jose'
// @ts-expect-error -- the provider library ships no type declarations; the surface used is typed below.
import Provider, { errors as providerErrors } from 'oidc-provider'
import { ALICE, DEMO_ACCOUNTS, DEMO_WORKSPACE_GROUPS } from './accounts.js'
import { CLOUD_IDENTITY_SCOPE, createGoogleApis, type GoogleApis } from './google-apis.js'
import type { DevAccount } from './accounts.js'
import { closeServer, listenBounded } from './listen.js'
import { createDevAdapterFactory } from './provider-adapter.js'
import { errorPageHtml, handleInteraction, logoutSource, postLogoutSuccessSource, sendPage } from './provider-pages.js'
import type { InteractionHost } from './provider-pages.js'

export type { DevAccount } from './accounts.js'

/** A client registration at the development provider (confidential, `client_secret_post` by default). */
export interface DevClient {
  readonly client_id: string
  readonly client_secret: string
  readonly redirect_uris: readonly string[]
  readonly token_endpoint_auth_method?: 'client_secret_post' | 'client_secret_basic'
  /** Where the provider POSTs logout tokens (OIDC Back-Channel Logout); `sid` is always sent. */
  readonly backchannel_logout_uri?: string
  /** Where RP-initiated logout may return to; default: each redirect URI with `/callback` replaced by `/signed_out`. */
  readonly post_logout_redirect_uris?: readonly string[]
}

export interface DevProviderOptions {
  /** Interface to listen on; default 127.0.0.1. */
  readonly host?: string
  /** Port to listen on; 0 (default) picks a free one. */
  readonly port?: number
  readonly clients: readonly DevClient[]
  /** Default: the demo accounts. */
  readonly accounts?: readonly DevAccount[]
  /** Default 3600. */
  readonly accessTokenTtlSeconds?: number
  /** Default false: Google semantics (same refresh token reused, omitted from refresh responses). */
  readonly rotateRefreshTokens?: boolean
  /**
   * Default true. False: no refresh token is ever issued (offline access is dropped from every
   * authorization request), like a provider or client without offline access.
   */
  readonly issueRefreshTokens?: boolean
  /** Delay before every token endpoint request is processed; default 0. */
  readonly tokenDelayMs?: number
  /** Offer the revocation endpoint (listed in discovery); default true. */
  readonly revocation?: boolean
  /**
   * Claims released only by the userinfo endpoint, never in id tokens (as many providers do with
   * groups); default none.
   */
  readonly userinfoOnlyClaims?: readonly string[]
  /** Workspace groups of the Google API double (group -> direct members); default the demo's. */
  readonly workspaceGroups?: Readonly<Record<string, readonly string[]>>
  /** Accounts a service account may act as for the Directory API (Workspace admins); default alice. */
  readonly workspaceAdmins?: readonly string[]
  /**
   * Default false. True: the end-session endpoint (`/session/end`, listed in discovery) is on, and
   * signing out there sends a logout token to each client's `backchannel_logout_uri`.
   */
  readonly backchannelLogout?: boolean
  /** Offer RP-Initiated Logout 1.0 (`end_session_endpoint` in discovery); default true. */
  readonly rpInitiatedLogout?: boolean
}

/** How the next refresh that would succeed is made to fail instead. */
export type RefreshFailure = 'invalid_grant' | 'server_error'

export interface DevProviderCounters {
  /** Authorization code grants that issued tokens. */
  authorizationCodeGrants: number
  /** Refresh grants that issued tokens. */
  refreshGrants: number
  /** Every refresh grant request that reached the token endpoint, successful or not. */
  refreshAttempts: number
  /** Revocation requests answered 200. */
  revocations: number
  /** Userinfo requests answered 200. */
  userinfo: number
  /** Logout tokens a client answered 200 to, and those it refused or did not answer. */
  backchannelLogouts: number
  backchannelLogoutErrors: number
}

export interface DevProvider {
  /** The issuer identifier, e.g. `http://127.0.0.1:41234`. */
  readonly issuer: string
  /** Same as `issuer`: the base URL the provider listens on. */
  readonly url: string
  readonly counters: DevProviderCounters
  /** The private signing key (JWK, RS256), for tests that craft tokens the provider could have signed. */
  readonly signingKey: JsonWebKey & { readonly kid: string }
  setTokenDelay (ms: number): void
  /** Lifetime of access tokens issued from now on (the option `accessTokenTtlSeconds` sets the first). */
  setAccessTokenTtl (seconds: number): void
  /** While down, every request (token, discovery, sign-in…) is answered 503. */
  setDown (down: boolean): void
  /** One-shot: the next refresh that would succeed fails with this error instead. */
  failNextRefresh (kind: RefreshFailure): void
  /** Changes an account's claims at the provider (`sub` cannot change); the next token response carries them. */
  updateAccount (sub: string, patch: Partial<DevAccount>): void
  /**
   * Revokes every grant of the account: its refresh and access tokens stop working at once
   * (awaiting the result is optional).
   */
  revokeAllGrants (sub: string): Promise<void>
  /**
   * Signs an ID token with the provider's own key, as `gcloud auth print-identity-token
   * --audiences=AUD` gets one from Google: `iss` this issuer, the account's email claims, a one
   * hour lifetime; `claims` are merged over those (a test makes them wrong on purpose).
   */
  mintIdToken (sub: string, audience: string, claims?: Record<string, unknown>): Promise<string>
  /** The Workspace group APIs this provider also serves (see google-apis.ts), with their test hooks. */
  readonly googleApis: GoogleApis
  close (): Promise<void>
}

/** Endpoint paths, named as Google's are so that logs read alike. */
const ROUTES = {
  authorization: '/auth',
  token: '/token',
  userinfo: '/userinfo',
  revocation: '/revoke',
  jwks: '/certs'
} as const

const ID_TOKEN_TTL_SECONDS = 3600
const REFRESH_TOKEN_TTL_SECONDS = 24 * 3600

/** The minimal Koa context the middleware below touches. */
interface KoaContext {
  readonly method: string
  readonly path: string
  querystring: string
  status: number
  body: unknown
  readonly oidc?: { readonly params?: Record<string, unknown> }
}

interface OidcProvider extends InteractionHost {
  callback (): (req: IncomingMessage, res: ServerResponse) => void
  use (middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void
  on (event: string, listener: (...args: any[]) => void): void
  /** The issued access tokens (the Workspace API double asks whose a token is). */
  readonly AccessToken: { find (token: string): Promise<{ accountId: string, scope?: string, isExpired?: boolean } | undefined> }
}

/**
 * Starts the development provider on `host:port` and resolves once it accepts connections
 * (rejecting after 10 s). The returned handle exposes counters and the failure switches the
 * integration tests use; `close()` stops it and drops open connections.
 */
export async function startDevProvider (options: DevProviderOptions): Promise<DevProvider> {
  const host = options.host ?? '127.0.0.1'
  const accounts = new Map<string, DevAccount>()
  for (const account of options.accounts ?? DEMO_ACCOUNTS) accounts.set(account.sub, account)
  const rotate = options.rotateRefreshTokens ?? false
  const counters: DevProviderCounters = { authorizationCodeGrants: 0, refreshGrants: 0, refreshAttempts: 0, revocations: 0, userinfo: 0, backchannelLogouts: 0, backchannelLogoutErrors: 0 }
  const signingKey = { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: randomBytes(8).toString('hex') }
  const backchannel = options.backchannelLogout ?? false
  const issueRefreshTokens = options.issueRefreshTokens ?? true
  const state = { down: false, tokenDelayMs: options.tokenDelayMs ?? 0, nextRefreshFailure: null as RefreshFailure | null, accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 3600 }
  const grantsByAccount = new Map<string, Set<string>>()
  const adapterFactory = createDevAdapterFactory()

  // The issuer contains the port, so the server listens first and the provider is built after.
  let koaHandler: ((req: IncomingMessage, res: ServerResponse) => void) | null = null
  let provider: OidcProvider | null = null
  const server = createServer((req, res) => {
    dispatch(req, res).catch(() => {
      if (!res.headersSent) sendPage(res, 500, 'Provider error', '<p>The development provider failed.</p>')
      else res.destroy()
    })
  })

  async function dispatch (req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (state.down) {
      // A transient outage as a load balancer reports it: the gateway must treat it as retryable.
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1', connection: 'close' })
      res.end(JSON.stringify({ error: 'temporarily_unavailable', error_description: 'the provider is down (test switch)' }))
      return
    }
    if (provider === null || koaHandler === null) throw new Error('provider not started')
    if (await googleApis.handle(req, res)) return
    const handled = await handleInteraction(provider, (sub) => accounts.get(sub), () => [...accounts.values()], req, res)
    if (!handled) koaHandler(req, res)
  }

  const issuer = await listenBounded(server, host, options.port ?? 0, 'development provider')
  const googleApis = createGoogleApis(issuer, options.workspaceGroups ?? DEMO_WORKSPACE_GROUPS, async (token) => {
    // A user access token this provider issued, still valid: whose it is and what it may do.
    const found = token === '' ? undefined : await provider?.AccessToken.find(token)
    if (found === undefined || found.isExpired === true) return null
    const account = accounts.get(found.accountId)
    return account === undefined ? null : { email: account.email, scopes: new Set((found.scope ?? '').split(' ')) }
  }, new Set(options.workspaceAdmins ?? [ALICE.email]))

  const configuration = {
    adapter: adapterFactory,
    clients: options.clients.map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: [...c.redirect_uris],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: c.token_endpoint_auth_method ?? 'client_secret_post',
      ...(c.backchannel_logout_uri === undefined ? {} : { backchannel_logout_uri: c.backchannel_logout_uri, backchannel_logout_session_required: true }),
      post_logout_redirect_uris: [...c.post_logout_redirect_uris ?? c.redirect_uris.map((uri) => uri.replace(/\/callback$/, '/signed_out'))]
    })),
    // Google puts `hd` in every id token of a Workspace account, and email/profile claims in the
    // id token itself; `groups` rides along with `email` so a plain `openid email profile` RP gets it.
    claims: {
      openid: ['sub', 'hd'],
      email: ['email', 'email_verified', 'groups'],
      profile: ['name', 'preferred_username'],
      groups: ['groups']
    },
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access', CLOUD_IDENTITY_SCOPE],
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true },
    routes: ROUTES,
    // Cookies ignore ports: on 127.0.0.1 these also reach the gateway, so they carry their own prefix.
    cookies: {
      names: { session: 'pcsdev_session', interaction: 'pcsdev_interaction', resume: 'pcsdev_interaction_resume' },
      keys: [randomBytes(32).toString('base64url')]
    },
    jwks: { keys: [signingKey] },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: (options.rpInitiatedLogout ?? true) || backchannel, logoutSource, postLogoutSuccessSource },
      backchannelLogout: { enabled: backchannel },
      userinfo: { enabled: true },
      revocation: {
        enabled: options.revocation ?? true,
        allowedPolicy: async (_ctx: unknown, client: { clientId: string }, token: { clientId: string }) => token.clientId === client.clientId
      }
    },
    ttl: {
      AccessToken: () => state.accessTokenTtlSeconds,
      AuthorizationCode: 60,
      IdToken: ID_TOKEN_TTL_SECONDS,
      RefreshToken: REFRESH_TOKEN_TTL_SECONDS,
      Interaction: 600,
      Session: REFRESH_TOKEN_TTL_SECONDS,
      Grant: 2 * REFRESH_TOKEN_TTL_SECONDS
    },
    clientBasedCORS: () => false,
    // Logout tokens go to a gateway on loopback, which the library's outgoing-request guard
    // (refusing special-use addresses) would block: the development provider lives on loopback.
    fetch: (url: URL | string, init: RequestInit & { dispatcher?: unknown }) => globalThis.fetch(url, { ...init, dispatcher: undefined } as RequestInit),
    async findAccount (_ctx: unknown, sub: string) {
      if (!accounts.has(sub)) return undefined
      // Claims are read when a token is issued, so updateAccount shows up at the next refresh.
      return {
        accountId: sub,
        claims: async (use: string) => {
          const claims = claimsOf(accounts.get(sub) ?? { sub })
          if (use === 'id_token') for (const name of options.userinfoOnlyClaims ?? []) delete claims[name]
          return claims
        }
      }
    },
    // Called only for a refresh grant whose token is valid, before anything is consumed: the one
    // place where an armed failure can be raised without side effects on the grant.
    rotateRefreshToken () {
      const failure = state.nextRefreshFailure
      state.nextRefreshFailure = null
      if (failure === 'invalid_grant') throw new providerErrors.InvalidGrant('refresh refused (test switch)')
      if (failure === 'server_error') throw new Error('refresh failed (test switch)')
      return rotate
    },
    async renderError (ctx: KoaContext & { type: string }, out: Record<string, unknown>) {
      ctx.type = 'html'
      ctx.body = errorPageHtml(out)
    }
  }

  try {
    provider = new Provider(issuer, configuration) as OidcProvider
  } catch (err) {
    await closeServer(server)
    throw err
  }

  provider.on('grant.success', (ctx: KoaContext) => {
    const grantType = ctx.oidc?.params?.grant_type
    if (grantType === 'authorization_code') counters.authorizationCodeGrants++
    else if (grantType === 'refresh_token') counters.refreshGrants++
  })
  provider.on('grant.saved', (grant: { accountId?: string, jti?: string }) => {
    if (grant.accountId === undefined || grant.jti === undefined) return
    let ids = grantsByAccount.get(grant.accountId)
    if (ids === undefined) grantsByAccount.set(grant.accountId, ids = new Set())
    ids.add(grant.jti)
  })

  provider.on('backchannel.success', () => { counters.backchannelLogouts++ })
  provider.on('backchannel.error', () => { counters.backchannelLogoutErrors++ })

  provider.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path === ROUTES.authorization) {
      const query = selectAccountAsLogin(ctx.querystring)
      ctx.querystring = issueRefreshTokens ? offlineAsConsent(query) : withoutOffline(query)
    }
    if (ctx.path === ROUTES.token && state.tokenDelayMs > 0) await sleep(state.tokenDelayMs)
    await next()
    if (ctx.path === ROUTES.token && ctx.oidc?.params?.grant_type === 'refresh_token') {
      counters.refreshAttempts++
      // Google neither rotates nor repeats the refresh token: its refresh response has none.
      if (!rotate && ctx.status === 200 && isRecord(ctx.body)) delete ctx.body.refresh_token
    }
    if (ctx.status === 200 && ctx.path === ROUTES.revocation) counters.revocations++
    if (ctx.status === 200 && ctx.path === ROUTES.userinfo) counters.userinfo++
  })

  koaHandler = provider.callback()

  return {
    issuer,
    url: issuer,
    counters,
    googleApis,
    async mintIdToken (sub, audience, claims = {}) {
      const account = accounts.get(sub)
      const iat = Math.floor(Date.now() / 1000)
      const payload = { ...(account === undefined ? { sub } : claimsOf(account)), iss: issuer, aud: audience, iat, exp: iat + ID_TOKEN_TTL_SECONDS, ...claims }
      return await new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: signingKey.kid, typ: 'JWT' }).sign(await importJWK(signingKey, 'RS256'))
    },
    signingKey,
    setTokenDelay (ms) { state.tokenDelayMs = Math.max(0, ms) },
    setAccessTokenTtl (seconds) { state.accessTokenTtlSeconds = Math.max(1, Math.floor(seconds)) },
    setDown (down) { state.down = down },
    failNextRefresh (kind) { state.nextRefreshFailure = kind },
    updateAccount (sub, patch) {
      const current = accounts.get(sub)
      if (current === undefined) throw new Error(`no development account with sub ${sub}`)
      accounts.set(sub, { ...current, ...patch, sub })
    },
    async revokeAllGrants (sub) {
      const ids = [...grantsByAccount.get(sub) ?? []]
      grantsByAccount.delete(sub)
      // The store works synchronously underneath, so the tokens are gone when this returns,
      // whether or not the caller awaits it.
      await Promise.all(ids.flatMap((id) => [
        adapterFactory('RefreshToken').revokeByGrantId(id),
        adapterFactory('Grant').destroy(id)
      ]))
    },
    close: async () => { await closeServer(server) }
  }
}

/**
 * Turns Google's `access_type=offline` into what a standard provider needs for a refresh token:
 * the `offline_access` scope with `prompt=consent`. A standard request for `offline_access`
 * without `prompt` gets `prompt=consent` too, since the library otherwise drops the scope. Consent
 * is granted automatically, so the extra prompt costs one redirect, never a page. `prompt=none`
 * is left alone: it must fail rather than show anything.
 */
export function offlineAsConsent (querystring: string): string {
  const query = new URLSearchParams(querystring)
  const scopes = new Set((query.get('scope') ?? '').split(' ').filter((s) => s !== ''))
  if (!query.has('access_type') && !scopes.has('offline_access')) return querystring
  if (query.get('access_type') === 'offline') scopes.add('offline_access')
  query.delete('access_type')
  if (!scopes.has('offline_access')) return query.toString()
  query.set('scope', [...scopes].join(' '))
  const prompts = new Set((query.get('prompt') ?? '').split(' ').filter((s) => s !== ''))
  if (!prompts.has('none')) {
    prompts.add('consent')
    query.set('prompt', [...prompts].join(' '))
  }
  return query.toString()
}

/**
 * Google's `prompt=select_account` (choose an account even when signed in) as the provider library
 * understands it: `login`, which shows the account chooser again.
 */
export function selectAccountAsLogin (querystring: string): string {
  const query = new URLSearchParams(querystring)
  const prompts = (query.get('prompt') ?? '').split(' ').filter((s) => s !== '')
  if (!prompts.includes('select_account')) return querystring
  query.set('prompt', [...new Set(prompts.map((p) => p === 'select_account' ? 'login' : p))].join(' '))
  return query.toString()
}

/** Drops every way of asking for offline access, so no refresh token is issued. */
export function withoutOffline (querystring: string): string {
  const query = new URLSearchParams(querystring)
  query.delete('access_type')
  if (query.has('scope')) query.set('scope', (query.get('scope') ?? '').split(' ').filter((s) => s !== '' && s !== 'offline_access').join(' '))
  return query.toString()
}

function claimsOf (account: Partial<DevAccount> & { sub: string }): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    sub: account.sub,
    email: account.email,
    email_verified: account.email_verified,
    name: account.name,
    preferred_username: account.preferred_username ?? account.email?.split('@')[0],
    groups: [...(account.groups ?? [])]
  }
  if (account.hd !== undefined) claims.hd = account.hd
  return claims
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Buffer.isBuffer(value)
}
