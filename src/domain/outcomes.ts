/*
 * The gateway's vocabulary of results, checked by the compiler: a misspelt outcome does not
 * compile. Each value is public in a way (the access line's `outcome`, a metric label, a log
 * field), so a new value is added here on purpose and documented where it shows.
 */

/** What became of one request: the access line's `outcome` (`RequestState.outcome`). */
export const requestOutcomes = [
  // the gate and the proxy
  'proxied',
  'refreshed',
  'public',
  'denied',
  'method_not_allowed',
  'bad_path',
  'not_found',
  'no_route',
  'redirected_to_sign_in',
  'silent_sign_in',
  'unauthenticated',
  'refresh_unavailable',
  'store_unavailable',
  'upstream_timeout',
  'upstream_unavailable',
  'retried_after_upstream_401',
  'draining',
  // forward-auth
  'authorized',
  'bad_request',
  // refused before any route, or rate-limited
  'headers_too_large',
  'request_timeout',
  'rate_limited',
  // a bearer token on an opted-in route was refused
  'bearer_refused',
  // the gateway's endpoints
  'sign_in_started',
  'sign_in_page',
  'already_signed_in',
  'sign_in_restarted',
  'sign_in_failed',
  'silent_sign_in_fallback',
  'signed_in',
  'signed_out',
  'signed_out_page',
  'not_signed_in',
  'sign_out_refused',
  'userinfo',
  'backchannel_logout',
  'backchannel_logout_refused'
] as const

export type RequestOutcome = typeof requestOutcomes[number]

/** Outcomes the access log sets itself: a client that hung up, a request the drain cut, and any other gateway endpoint. */
export const accessLogOutcomes = ['client_aborted', 'shutdown_cut', 'gateway'] as const

/** The access line's outcome: the request's own, or one the access log sets itself. */
export type AccessOutcome = RequestOutcome | typeof accessLogOutcomes[number]

/**
 * Why a request has no usable session. `refresh_…` carries the reason a refresh ended the session
 * (`session_gone`, `lifetime_over`, `subject_changed`, or the provider's OAuth error such as
 * `invalid_grant`, which the provider names).
 */
export type AnonymousReason = 'no_cookie' | 'bad_cookie' | 'no_session' | 'lifetime_over' | 'bearer_invalid' | `refresh_${string}`

/** How a finished sign-in (callback) ended: the `portcullis_sign_ins_total` label. */
export type SignInOutcome = 'success' | 'bad_state' | 'provider_error' | 'claims_invalid' | 'provider_unavailable' | 'code_invalid' | 'already_signed_in' | 'restarted' | 'cancelled'
