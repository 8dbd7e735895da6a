/**
 * Measuring the gateway's dependencies from the outside: the session store and the provider flows
 * are wrapped once in the composition root, so neither implementation knows about metrics and the
 * Redis and memory stores are measured the same way.
 */
import type { Flows } from '../oidc/flows.js'
import type { SessionStore } from '../session/store.js'
import { wrapStore } from '../session/wrap-store.js'
import type { Metrics } from '../observability/metrics.js'

/**
 * Returns a store that behaves exactly like `store` and reports each operation's latency, and
 * each rejection as an error, to `metrics` under the operation's name (`get`, `acquireLock`...).
 */
export function instrumentStore (store: SessionStore, metrics: Pick<Metrics, 'store'>): SessionStore {
  return wrapStore(store, async (operation, call) => {
    const started = performance.now()
    try {
      const result = await call()
      metrics.store(operation, performance.now() - started, false)
      return result
    } catch (err) {
      metrics.store(operation, performance.now() - started, true)
      throw err
    }
  })
}

/**
 * Returns flows that report the latency of every call that reaches the provider: the code
 * exchange, the refresh grant and revocation. A failure counts as an error only when the
 * provider itself failed (unreachable, timeout, 5xx); a refused code or `invalid_grant` is an
 * answer, not an error.
 */
export function instrumentFlows (flows: Flows, metrics: Pick<Metrics, 'provider'>): Flows {
  return {
    authorizationUrl: (login) => flows.authorizationUrl(login),
    endSessionUrl: (idToken, postLogoutRedirectUri, state) => flows.endSessionUrl(idToken, postLogoutRedirectUri, state),
    async exchangeCode (callbackUrl, login) {
      const started = performance.now()
      try {
        const result = await flows.exchangeCode(callbackUrl, login)
        metrics.provider('code_exchange', performance.now() - started, false)
        return result
      } catch (err) {
        const status = (err as { status?: unknown }).status
        metrics.provider('code_exchange', performance.now() - started, typeof status !== 'number' || status >= 500)
        throw err
      }
    },
    async refresh (identity, tokens) {
      const started = performance.now()
      const outcome = await flows.refresh(identity, tokens)
      metrics.provider('refresh', performance.now() - started, !outcome.ok && outcome.failure.kind === 'transient')
      return outcome
    },
    async revoke (token, hint) {
      const started = performance.now()
      const revoked = await flows.revoke(token, hint)
      metrics.provider('revocation', performance.now() - started, false)
      return revoked
    }
  }
}
