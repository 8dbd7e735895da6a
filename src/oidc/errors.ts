import * as client from 'openid-client'

/**
 * How a failed call to the provider should be treated.
 * - `terminal`: the grant is dead (`invalid_grant`, `invalid_client`, `unauthorized_client`, or the
 *   provider now vouches for a different subject); the session must end.
 * - `transient`: the provider could not answer properly right now (network, timeout, 5xx,
 *   `temporarily_unavailable`, `server_error`); keep the session and try again later.
 * - `rejected`: the provider answered with a client-side OAuth error other than a dead grant.
 */
export type ProviderFailureKind = 'terminal' | 'transient' | 'rejected'

export interface ProviderFailure {
  readonly kind: ProviderFailureKind
  /** OAuth `error` value or the library's error code; safe to log. */
  readonly reason: string
  readonly cause: unknown
}

const terminalErrors = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client'])
const transientErrors = new Set(['temporarily_unavailable', 'server_error', 'slow_down'])

/**
 * Translates an error thrown by openid-client (or by fetch underneath it) into a
 * {@link ProviderFailure}. This is the single place that knows the library's error types.
 */
export function classifyProviderError (err: unknown): ProviderFailure {
  if (err instanceof client.ResponseBodyError) {
    if (terminalErrors.has(err.error)) return { kind: 'terminal', reason: err.error, cause: err }
    if (err.status >= 500 || transientErrors.has(err.error)) return { kind: 'transient', reason: err.error, cause: err }
    if (err.status === 429) return { kind: 'transient', reason: err.error, cause: err }
    return { kind: 'rejected', reason: err.error, cause: err }
  }
  if (err instanceof client.AuthorizationResponseError) {
    return { kind: 'rejected', reason: err.error, cause: err }
  }
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : undefined
  if (err instanceof client.ClientError || code?.startsWith('OAUTH_') === true) {
    const response = (err as { cause?: unknown }).cause
    if (response instanceof Response && (response.status >= 500 || response.status === 429)) {
      return { kind: 'transient', reason: `http_${response.status}`, cause: err }
    }
    if (code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED') {
      return { kind: 'terminal', reason: code, cause: err }
    }
    return { kind: 'rejected', reason: code ?? 'client_error', cause: err }
  }
  // fetch failures (TypeError "fetch failed"), aborts and timeouts
  const name = err instanceof Error ? err.name : 'Error'
  return { kind: 'transient', reason: name === 'TimeoutError' || name === 'AbortError' ? 'timeout' : 'network', cause: err }
}
