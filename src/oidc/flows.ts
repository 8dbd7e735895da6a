import * as client from 'openid-client'
import type { ProviderConfig } from '../config/types.js'
import { gatewayError, GatewayError } from '../errors.js'
import type { Identity, Tokens } from '../domain/types.js'
import { classifyProviderError, type ProviderFailure } from './errors.js'
import { identityFromClaims } from './identity.js'
import type { Provider } from './provider.js'
import { profileFor } from '../config/profiles/profile.js'
import type { GroupsResolver } from '../groups/resolver.js'

/** What a pending sign-in remembers between /start and /callback. */
export interface PendingLogin {
  readonly state: string
  readonly nonce: string
  readonly codeVerifier: string
  /** Where to land afterwards (already validated). */
  readonly rd: string
  /** True for a silent (`prompt=none`) attempt; a `login_required` answer falls back to a normal sign-in. */
  readonly silent: boolean
  /** `select_account` when the person asked to use another account. */
  readonly prompt?: 'select_account'
  /** True when this sign-in restarts one whose callback was unusable (it is not restarted again). */
  readonly retried?: boolean
}

export interface SignInResult {
  readonly identity: Identity
  readonly tokens: Tokens
  /** The provider's session id (`sid` of the id token), kept for back-channel logout. */
  readonly providerSid: string | null
}

export type RefreshOutcome =
  | { readonly ok: true, readonly identity: Identity, readonly tokens: Tokens }
  | { readonly ok: false, readonly failure: ProviderFailure }

export interface Flows {
  authorizationUrl (login: PendingLogin): Promise<string>
  exchangeCode (callbackUrl: URL, login: PendingLogin): Promise<SignInResult>
  refresh (identity: Identity, tokens: Tokens): Promise<RefreshOutcome>
  /**
   * The provider's end-session URL (RP-Initiated Logout 1.0) for this id token, returning to
   * `postLogoutRedirectUri` with `state`; null when the provider publishes no end_session_endpoint.
   */
  endSessionUrl (idToken: string, postLogoutRedirectUri: string, state: string): string | null
  /** Revokes the token at the provider when it offers revocation; never throws. */
  revoke (token: string, hint: 'refresh_token' | 'access_token'): Promise<boolean>
}

export interface FlowOptions {
  readonly config: ProviderConfig
  readonly provider: Provider
  readonly callbackUrl: string
  /** Claim names some access rule uses; copied into the session. */
  readonly keepClaims: ReadonlySet<string>
  /**
   * Claims the gateway needs (the groups claim, rule claims). When one is missing from the id
   * token and the provider has a userinfo endpoint, userinfo is fetched and merged in.
   */
  readonly wantClaims?: ReadonlySet<string>
  /** Keep the id token in the session (only needed when it is passed upstream). */
  readonly keepIdToken: boolean
  /** Fetches Workspace groups at sign-in and at every refresh; absent when groups come from a claim. */
  readonly groups?: GroupsResolver | null
  readonly now?: () => number
}

/**
 * The OpenID Connect flows against the configured provider. What differs between providers (how
 * offline access is asked for, hosted domains, extra scopes) comes from its profile
 * (config/profiles/); Workspace groups, when configured, are fetched after the code exchange and
 * after every refresh grant.
 */
export function createFlows (options: FlowOptions): Flows {
  const { config, provider, keepClaims } = options
  const now = options.now ?? Date.now
  const profile = profileFor(config.type)
  const groups = options.groups ?? null
  const withGroups = async (identity: Identity, accessToken: string, previous: Identity | null): Promise<Identity> =>
    groups === null ? identity : await groups.resolve(identity, accessToken, previous)

  function tokensFrom (response: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers, previous: Tokens | null): Tokens {
    const expiresIn = response.expiresIn()
    return {
      accessToken: response.access_token,
      // Google does not rotate refresh tokens and omits them from refresh responses: keep the old one.
      refreshToken: response.refresh_token ?? previous?.refreshToken ?? null,
      idToken: options.keepIdToken ? (response.id_token ?? previous?.idToken ?? null) : null,
      accessTokenExpiresAt: typeof expiresIn === 'number' ? now() + expiresIn * 1000 : null
    }
  }

  /**
   * The userinfo claims when the id token lacks a wanted claim (many providers put groups only
   * there), else undefined. Userinfo must name the same subject; it may add claims, never
   * replace the id token's (see identityFromClaims).
   */
  async function userinfoIfNeeded (configuration: client.Configuration, idClaims: Readonly<Record<string, unknown>>, accessToken: string): Promise<Record<string, unknown> | undefined> {
    const missing = [...options.wantClaims ?? []].some((name) => idClaims[name] === undefined)
    if (!missing || configuration.serverMetadata().userinfo_endpoint === undefined) return undefined
    return await client.fetchUserInfo(configuration, accessToken, String(idClaims.sub)) as Record<string, unknown>
  }

  return {
    async authorizationUrl (login) {
      const configuration = await provider.configuration()
      const scopes = new Set(config.scopes)
      const params: Record<string, string> = {
        redirect_uri: options.callbackUrl,
        response_type: 'code',
        state: login.state,
        nonce: login.nonce,
        code_challenge: await client.calculatePKCECodeChallenge(login.codeVerifier),
        code_challenge_method: 'S256'
      }
      profile.authorizationRequest(config, scopes, params, provider.supportsOfflineAccessScope())
      if (login.silent) params.prompt = 'none'
      else if (login.prompt === 'select_account') params.prompt = [...new Set(['select_account', ...(config.prompt ?? '').split(' ').filter((p) => p !== '' && p !== 'none')])].join(' ')
      else if (config.prompt !== null) params.prompt = config.prompt
      // Some providers (oidc-provider among them) only issue refresh tokens with prompt=consent.
      else if (scopes.has('offline_access')) params.prompt = 'consent'
      params.scope = [...scopes].join(' ')
      return client.buildAuthorizationUrl(configuration, params).href
    },

    async exchangeCode (callbackUrl, login) {
      const configuration = await provider.configuration()
      let response
      try {
        response = await client.authorizationCodeGrant(configuration, callbackUrl, {
          pkceCodeVerifier: login.codeVerifier,
          expectedState: login.state,
          expectedNonce: login.nonce,
          idTokenExpected: true
        })
      } catch (err) {
        const failure = classifyProviderError(err)
        if (failure.kind === 'transient') throw gatewayError('PCS_PROVIDER_UNAVAILABLE', { cause: err })
        throw gatewayError('PCS_LOGIN_CODE_INVALID', { cause: err, details: { reason: failure.reason } })
      }
      const claims = response.claims()
      if (claims === undefined) throw gatewayError('PCS_LOGIN_CODE_INVALID', { details: { reason: 'no id token' } })
      let userinfo
      try {
        userinfo = await userinfoIfNeeded(configuration, claims, response.access_token)
      } catch (err) {
        const failure = classifyProviderError(err)
        if (failure.kind === 'transient') throw gatewayError('PCS_PROVIDER_UNAVAILABLE', { cause: err })
        throw gatewayError('PCS_LOGIN_CODE_INVALID', { cause: err, details: { reason: `userinfo: ${failure.reason}` } })
      }
      const identity = await withGroups(identityFromClaims(config, keepClaims, claims, userinfo), response.access_token, null)
      const providerSid = typeof claims.sid === 'string' && claims.sid !== '' ? claims.sid : null
      return { identity, tokens: tokensFrom(response, null), providerSid }
    },

    async refresh (identity, tokens) {
      if (tokens.refreshToken === null) {
        return { ok: false, failure: { kind: 'terminal', reason: 'no_refresh_token', cause: null } }
      }
      let response
      let configuration
      try {
        configuration = await provider.configuration()
        response = await client.refreshTokenGrant(configuration, tokens.refreshToken)
      } catch (err) {
        if (err instanceof GatewayError) return { ok: false, failure: { kind: 'transient', reason: 'provider_unavailable', cause: err } }
        return { ok: false, failure: classifyProviderError(err) }
      }
      const next = tokensFrom(response, tokens)
      const claims = response.claims()
      if (claims === undefined) {
        // No new id token (allowed by the spec): the identity stays as it was, its groups fetched again.
        return { ok: true, identity: await withGroups(identity, next.accessToken, identity), tokens: next }
      }
      if (claims.sub !== identity.sub) {
        return { ok: false, failure: { kind: 'terminal', reason: 'subject_changed', cause: null } }
      }
      let userinfo: Record<string, unknown> | undefined
      let userinfoFailed = false
      try {
        userinfo = await userinfoIfNeeded(configuration, claims, next.accessToken)
      } catch {
        // The grant is already refreshed (and a rotated refresh token is only in `next`), so a
        // userinfo hiccup must not throw the new tokens away: the groups and rule claims of the
        // previous sign-in or refresh stay until the next refresh.
        userinfoFailed = true
      }
      let fresh: Identity
      try {
        fresh = identityFromClaims(config, keepClaims, claims, userinfo)
        if (userinfoFailed) fresh = { ...fresh, groups: identity.groups, claims: identity.claims }
      } catch (err) {
        // The provider no longer vouches for this account (email unverified, hosted domain changed).
        return { ok: false, failure: { kind: 'terminal', reason: 'claims_invalid', cause: err } }
      }
      return { ok: true, identity: await withGroups(fresh, next.accessToken, identity), tokens: next }
    },

    endSessionUrl (idToken, postLogoutRedirectUri, state) {
      const endpoint = provider.endSessionEndpoint()
      if (endpoint === null) return null
      const url = new URL(endpoint)
      url.searchParams.set('id_token_hint', idToken)
      url.searchParams.set('post_logout_redirect_uri', postLogoutRedirectUri)
      url.searchParams.set('client_id', config.clientId)
      url.searchParams.set('state', state)
      return url.href
    },

    async revoke (token, hint) {
      if (!provider.supportsRevocation()) return false
      try {
        const configuration = await provider.configuration()
        await client.tokenRevocation(configuration, token, { token_type_hint: hint })
        return true
      } catch {
        return false
      }
    }
  }
}
