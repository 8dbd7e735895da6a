import t from 'tap'
import { wantedClaims } from '../../src/policy/claims.js'
import { configWith } from '../fixtures/config/base.js'

t.test('wantedClaims: rule claims always; the groups claim when a rule uses groups or the provider is oidc', async (t) => {
  t.strictSame([...wantedClaims(configWith(() => {}))], [], 'google, domain rules only: nothing to look up')
  t.strictSame([...wantedClaims(configWith(r => { r.access.claims = { department: ['eng'] } }))], ['department'])
  t.strictSame([...wantedClaims(configWith(r => { r.routes[0].allow = { groups: ['admins'] }; r.provider.groups_claim = 'roles' }))], ['roles'])
  t.strictSame([...wantedClaims(configWith(r => { r.provider.type = 'oidc'; r.provider.issuer = 'https://idp.example' }))], ['groups'])
})

t.test('wantedClaims: with Workspace groups (an API source) no groups claim is looked up', async (t) => {
  t.strictSame([...wantedClaims(configWith(r => { r.routes[0].allow = { groups: ['admins@example.com'] }; r.provider.groups = { source: 'cloud_identity' } }))], [])
})
