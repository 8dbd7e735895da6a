/**
 * The error registry: every error the gateway raises has a stable code, an HTTP status and a
 * message. Codes are public API (they appear in the `X-Portcullis-Error` header, JSON bodies and
 * logs) and are never reused. Errors from lower libraries are translated into these at the module
 * where they enter, keeping the original as `cause`.
 */

const registry = {
  // configuration
  PCS_CONFIG_INVALID: { status: 500, message: 'The configuration is invalid' },
  PCS_CONFIG_UNREADABLE: { status: 500, message: 'The configuration file cannot be read' },

  // requests
  PCS_BAD_PATH: { status: 400, message: 'The request path cannot be normalised safely' },
  PCS_AMBIGUOUS_PATH: { status: 400, message: 'The request path reads as routes with different rules' },
  PCS_ORIGINAL_REQUEST_CONFLICT: { status: 400, message: 'The proxy named the original request more than once' },
  PCS_BAD_REQUEST: { status: 400, message: 'The request is malformed' },
  PCS_PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is too large' },
  PCS_REQUEST_TIMEOUT: { status: 408, message: 'The request did not arrive in time' },
  PCS_HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large' },
  PCS_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported request body type' },
  PCS_NOT_FOUND: { status: 404, message: 'Not found' },
  PCS_METHOD_NOT_ALLOWED: { status: 405, message: 'Method not allowed' },
  PCS_UNAUTHENTICATED: { status: 401, message: 'Sign-in required' },
  PCS_FORBIDDEN: { status: 403, message: 'You are signed in but not allowed to use this' },
  PCS_CROSS_SITE: { status: 403, message: 'Cross-site request refused' },
  PCS_RATE_LIMITED: { status: 429, message: 'Too many sign-in attempts from this address; try again shortly' },
  PCS_BEARER_INVALID: { status: 401, message: 'The bearer token is not accepted' },

  // sign-in
  PCS_LOGIN_STATE_INVALID: { status: 400, message: 'This sign-in link is invalid, expired or already used' },
  PCS_LOGIN_CANCELLED: { status: 403, message: 'The sign-in was cancelled at the identity provider' },
  PCS_LOGIN_PROVIDER_ERROR: { status: 403, message: 'The identity provider refused the sign-in' },
  PCS_LOGIN_CODE_INVALID: { status: 400, message: 'The sign-in could not be completed' },
  PCS_LOGIN_CLAIMS_INVALID: { status: 403, message: 'The identity provider did not vouch for this account' },

  // sessions and refresh
  PCS_SESSION_EXPIRED: { status: 401, message: 'The session has ended; sign in again' },
  PCS_REFRESH_UNAVAILABLE: { status: 503, message: 'The session cannot be refreshed right now; try again shortly' },

  // dependencies
  PCS_STORE_UNAVAILABLE: { status: 503, message: 'The session store is unavailable' },
  PCS_PROVIDER_UNAVAILABLE: { status: 503, message: 'The identity provider is unavailable' },
  PCS_SHUTTING_DOWN: { status: 503, message: 'The gateway is shutting down; retry' },
  PCS_UPSTREAM_UNAVAILABLE: { status: 502, message: 'The application behind the gateway is not reachable' },
  PCS_UPSTREAM_TIMEOUT: { status: 504, message: 'The application behind the gateway did not answer in time' },
  PCS_INTERNAL: { status: 500, message: 'Internal error' }
} as const satisfies Record<string, { status: number, message: string }>

export type ErrorCode = keyof typeof registry

export const errorCodes: readonly ErrorCode[] = Object.freeze(Object.keys(registry) as ErrorCode[])

/** An error the gateway itself raises, with a stable code and the HTTP status it maps to. */
export class GatewayError extends Error {
  readonly code: ErrorCode
  readonly status: number
  /** Extra, safe-to-show context (never secrets). */
  readonly details: Readonly<Record<string, unknown>> | undefined

  constructor (code: ErrorCode, options: { message?: string, cause?: unknown, details?: Record<string, unknown> } = {}) {
    super(options.message ?? registry[code].message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'GatewayError'
    this.code = code
    this.status = registry[code].status
    this.details = options.details
  }
}

/** Creates a {@link GatewayError} with the registry's message unless one is given. */
export function gatewayError (code: ErrorCode, options?: { message?: string, cause?: unknown, details?: Record<string, unknown> }): GatewayError {
  return new GatewayError(code, options)
}

export function errorInfo (code: ErrorCode): { readonly status: number, readonly message: string } {
  return registry[code]
}

export function isGatewayError (err: unknown): err is GatewayError {
  return err instanceof GatewayError
}
