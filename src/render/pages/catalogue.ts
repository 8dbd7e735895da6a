/**
 * Every page the gateway can show, with sample values: the one list the page renderer script
 * (docs/pages/) and the accessibility test go through, so a new page cannot miss either.
 */
import type { ErrorCode } from '../../errors.js'
import { errorInfo } from '../../errors.js'
import type { PageView } from './layout.js'
import {
  chooseAccountView, endingProviderSessionView, errorView, forbiddenView, signedOutView, signInView, signOutView, type ViewContext
} from './views.js'

export interface CataloguedPage {
  /** File-name-safe name, e.g. `signed-out`. */
  readonly name: string
  readonly status: number
  readonly view: PageView
}

const errorPages: ReadonlyArray<[string, ErrorCode | 'PCS_RATE_LIMITED', number?]> = [
  ['error-login-cancelled', 'PCS_LOGIN_CANCELLED'],
  ['error-login-expired', 'PCS_LOGIN_STATE_INVALID'],
  ['error-login-failed', 'PCS_LOGIN_CODE_INVALID'],
  ['error-login-provider', 'PCS_LOGIN_PROVIDER_ERROR'],
  ['error-account-unusable', 'PCS_LOGIN_CLAIMS_INVALID'],
  ['error-provider-unavailable', 'PCS_PROVIDER_UNAVAILABLE'],
  ['error-store-unavailable', 'PCS_STORE_UNAVAILABLE'],
  ['error-rate-limited', 'PCS_RATE_LIMITED', 429],
  ['error-bad-request', 'PCS_BAD_REQUEST'],
  ['error-bad-path', 'PCS_BAD_PATH'],
  ['error-not-found', 'PCS_NOT_FOUND'],
  ['error-cross-site', 'PCS_CROSS_SITE'],
  ['error-upstream-unavailable', 'PCS_UPSTREAM_UNAVAILABLE'],
  ['error-internal', 'PCS_INTERNAL']
]

/** Every page with sample values (`alice@example.com`, landing path `/reports`). */
export function pageCatalogue (ctx: ViewContext): CataloguedPage[] {
  const start = '/oauth2/start?rd=%2Freports'
  const signIn = { label: 'Sign in again', href: start, primary: true }
  return [
    { name: 'sign-in', status: 200, view: signInView(ctx, `${start}&go=1`) },
    { name: 'sign-out', status: 200, view: signOutView(ctx, 'alice@example.com', '/oauth2/sign_out?rd=%2Freports', '/reports', false) },
    { name: 'use-another-account', status: 200, view: signOutView(ctx, 'alice@example.com', '/oauth2/sign_out?rd=%2Freports&switch=1', '/reports', true) },
    { name: 'signed-out', status: 200, view: signedOutView(ctx, start, false) },
    { name: 'signed-out-at-provider', status: 200, view: signedOutView(ctx, start, true) },
    { name: 'ending-provider-session', status: 200, view: staying(endingProviderSessionView(ctx, 'https://provider.invalid/session/end')) },
    { name: 'choose-account', status: 200, view: staying(chooseAccountView(ctx, `${start}&prompt=select_account`)) },
    { name: 'forbidden', status: 403, view: forbiddenView('mallory@evil.test', '/oauth2/sign_out', false) },
    ...errorPages.map(([name, code, status]) => {
      const httpStatus = status ?? errorInfo(code as ErrorCode).status
      const actions = name.startsWith('error-login') || name === 'error-provider-unavailable' ? [signIn] : undefined
      return {
        name,
        status: httpStatus,
        view: errorView(ctx, code, httpStatus, { ...(actions === undefined ? {} : { actions }), ...(httpStatus === 429 ? { retryAfterSeconds: 30 } : {}) })
      }
    })
  ]
}

/** The page without its automatic continuation, so it can be looked at (and screenshotted). */
function staying (view: PageView): PageView {
  const { continueTo: _continueTo, ...rest } = view
  return rest
}
