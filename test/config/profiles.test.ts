import { fileURLToPath } from 'node:url'
import t from 'tap'
import { cloudIdentityGroupsScope } from '../../src/config/profiles/google.js'
import { profileFor } from '../../src/config/profiles/profile.js'
import type { ProviderConfig } from '../../src/config/types.js'
import { baseRaw } from '../fixtures/config/base.js'
import { configFrom } from '../helpers/stack.js'

function provider (patch: (raw: Record<string, any>) => void): ProviderConfig {
  const raw = baseRaw() as Record<string, any>
  patch(raw)
  return configFrom(raw).provider
}

function request (config: ProviderConfig, offlineAccessScope = true): { scopes: string[], params: Record<string, string> } {
  const scopes = new Set(config.scopes)
  const params: Record<string, string> = {}
  profileFor(config.type).authorizationRequest(config, scopes, params, offlineAccessScope)
  return { scopes: [...scopes], params }
}

t.test('profile google: offline access is access_type=offline, hd is sent, the Cloud Identity scope only for that source', async (t) => {
  const plain = provider(() => {})
  t.strictSame(request(plain), { scopes: ['openid', 'email', 'profile'], params: { access_type: 'offline' } })
  t.equal(plain.prompt, 'consent', 'the default prompt hands out a refresh token')
  t.equal(plain.issuer, 'https://accounts.google.com')
  const workspace = provider((raw) => { raw.provider.hosted_domain = 'example.com'; raw.provider.groups = { source: 'cloud_identity' } })
  t.strictSame(request(workspace), { scopes: ['openid', 'email', 'profile', cloudIdentityGroupsScope], params: { access_type: 'offline', hd: 'example.com' } })
  const directory = provider((raw) => { raw.provider.groups = { source: 'admin_directory', service_account_key_file: fileURLToPath(import.meta.url) } })
  t.notOk(request(directory).scopes.includes(cloudIdentityGroupsScope), 'a service account needs no user scope')
})

t.test('profile google: claims of another hosted domain are refused; Google\'s issuer aliases only for Google', async (t) => {
  const config = provider((raw) => { raw.provider.hosted_domain = 'example.com' })
  const google = profileFor('google')
  t.equal(google.refuseClaims(config, { hd: 'Example.com' }), null)
  t.equal(google.refuseClaims(config, { hd: 'evil.test' }), 'hosted domain mismatch')
  t.equal(google.refuseClaims(config, {}), 'hosted domain mismatch')
  t.equal(google.refuseClaims(provider(() => {}), {}), null, 'no hosted_domain: nothing to check')
  t.strictSame(google.issuerAliases(config), ['accounts.google.com'])
  t.strictSame(google.issuerAliases(provider((raw) => { raw.provider.issuer = 'https://idp.example' })), [])
})

t.test('profile oidc: offline_access only when the provider lists it; no hd, no API groups', async (t) => {
  const config = provider((raw) => { raw.provider.type = 'oidc'; raw.provider.issuer = 'https://idp.example' })
  t.strictSame(request(config, true), { scopes: ['openid', 'email', 'profile', 'offline_access'], params: {} })
  t.strictSame(request(config, false), { scopes: ['openid', 'email', 'profile'], params: {} })
  t.equal(config.prompt, null)
  t.equal(profileFor('oidc').refuseClaims(config, { hd: 'anything' }), null)
  t.strictSame(profileFor('oidc').groupSources, [])
})

t.test('config: group sources a provider does not offer, and admin_directory without a key, are refused by key', async (t) => {
  const problems = (patch: (raw: Record<string, any>) => void): string => {
    try {
      provider(patch)
      return 'accepted'
    } catch (err) {
      return String((err as { problems?: unknown }).problems ?? err)
    }
  }
  t.equal(problems((raw) => { raw.provider.type = 'oidc'; raw.provider.issuer = 'https://idp.example'; raw.provider.groups = { source: 'cloud_identity' } }),
    'provider.groups.source: cloud_identity is not offered when provider.type is oidc (use claim)')
  t.equal(problems((raw) => { raw.provider.groups = { source: 'admin_directory' } }), 'provider.groups.service_account_key_file: is required when source is admin_directory')
  t.equal(problems((raw) => { raw.provider.groups = { source: 'cloud_identity', impersonate: 'admin@example.com' } }), 'provider.groups.impersonate: only applies when source is admin_directory')
  t.equal(problems((raw) => { raw.bearer = { clock_skew: '10m' } }), 'bearer.clock_skew: must be at most 5m')
  t.match(problems((raw) => { raw.bearer = { algorithms: ['HS256'] } }), /^bearer\.algorithms\[0\]/)
  t.match(problems((raw) => { raw.bearer = { algorithms: ['none'] } }), /^bearer\.algorithms\[0\]/)
})
