import t from 'tap'
import type { PendingLogin } from '../../src/oidc/flows.js'
import { createMemoryStore } from '../../src/session/memory-store.js'
import { createPendingLogins } from '../../src/session/pending-logins.js'

const login: PendingLogin = { state: 's'.repeat(43), nonce: 'n'.repeat(43), codeVerifier: 'v'.repeat(43), rd: '/reports/q3?x=1', silent: false, retried: false }

t.test('pending logins: taken once, opened only with the binding it was saved under', async (t) => {
  const store = createMemoryStore()
  t.teardown(() => store.close())
  const pending = createPendingLogins({ store, keyPrefix: 'p:' })
  const key = await pending.save(login, 'b'.repeat(43), 1000, 60_000)
  const wrong = await pending.take(login.state, 'x'.repeat(43))
  t.equal(wrong.key, key)
  t.equal(wrong.stored?.rd, '/reports/q3?x=1', 'the landing path is readable without the binding (for a restart)')
  t.equal(wrong.login, null, 'another binding does not open it')
  t.equal((await pending.take(login.state, 'b'.repeat(43))).stored, null, 'single use: the first take consumed it')

  await pending.save(login, 'b'.repeat(43), 2000, 60_000)
  const right = await pending.take(login.state, 'b'.repeat(43))
  t.same(right.login, login)
  t.equal(right.stored?.startedAt, 2000)
  t.equal(right.stored?.retried, false)
})

t.test('pending logins: nothing in the store reveals the nonce or the PKCE verifier', async (t) => {
  const store = createMemoryStore()
  t.teardown(() => store.close())
  const pending = createPendingLogins({ store, keyPrefix: 'p:' })
  const key = await pending.save(login, 'b'.repeat(43), 1000, 60_000)
  const raw = (await store.get(key))?.toString('utf8') ?? ''
  t.ok(raw.length > 0)
  t.notMatch(raw, 'n'.repeat(43))
  t.notMatch(raw, 'v'.repeat(43))
  t.equal((await pending.take('unknown-state', null)).stored, null)
})
