/**
 * What each page of the gateway says. Every page tells the person what happened and what to do
 * next, in plain words; the wording is reviewed here, in one place, and rendered by `layout.ts`.
 */
import type { ErrorCode } from '../../errors.js'
import type { PageAction, PageView } from './layout.js'

export interface ViewContext {
  readonly brandName: string
  readonly providerName: string
}

/** The sign-in interstitial (`pages.sign_in: button`). */
export function signInView (ctx: ViewContext, continueHref: string): PageView {
  return {
    title: `Sign in to ${ctx.brandName}`,
    tone: 'info',
    paragraphs: [`You need to sign in to continue. You will sign in with your ${ctx.providerName} account and come straight back here.`],
    actions: [{ label: `Continue with ${ctx.providerName}`, href: continueHref, primary: true }]
  }
}

/** The sign-out confirmation (`GET /sign_out`): a POST button, so a link or an image cannot sign anyone out. */
export function signOutView (ctx: ViewContext, email: string, action: string, cancelHref: string, switchAccount: boolean): PageView {
  if (switchAccount) {
    return {
      title: 'Use another account',
      tone: 'info',
      paragraphs: [`You are signed in as **${email}**.`, `To use another account, sign out first; ${ctx.providerName} then lets you choose the account.`],
      forms: [{ action, label: 'Sign out and choose another account' }],
      actions: [{ label: 'Stay signed in', href: cancelHref }]
    }
  }
  return {
    title: `Sign out of ${ctx.brandName}?`,
    tone: 'info',
    paragraphs: [`You are signed in as **${email}**.`],
    forms: [{ action, label: 'Sign out' }],
    actions: [{ label: 'Stay signed in', href: cancelHref }]
  }
}

/** The end of every sign-out. `providerEnded`: the provider's own session was ended too. */
export function signedOutView (ctx: ViewContext, signInHref: string, providerEnded: boolean): PageView {
  return {
    title: 'You are signed out',
    tone: 'success',
    paragraphs: [
      `You have signed out of ${ctx.brandName}.`,
      providerEnded
        ? `Your session at ${ctx.providerName} has ended too.`
        : `You may still be signed in to your ${ctx.providerName} account in this browser. On a shared computer, sign out there as well.`
    ],
    actions: [{ label: 'Sign in again', href: signInHref, primary: true }]
  }
}

/** Between the local sign-out and the provider's end-session page (a navigation, not a form). */
export function endingProviderSessionView (ctx: ViewContext, endSessionUrl: string): PageView {
  return {
    title: 'Signing you out',
    tone: 'info',
    paragraphs: [`You are signed out of ${ctx.brandName}. Now ending your session at ${ctx.providerName} as well.`],
    actions: [{ label: `Continue to ${ctx.providerName}`, href: endSessionUrl, primary: true }],
    continueTo: endSessionUrl
  }
}

/** After "use another account": signed out, on the way to the provider's account chooser. */
export function chooseAccountView (ctx: ViewContext, signInHref: string): PageView {
  return {
    title: 'Choose another account',
    tone: 'info',
    paragraphs: [`You are signed out of ${ctx.brandName}. Taking you to ${ctx.providerName} to choose an account.`],
    actions: [{ label: `Continue to ${ctx.providerName}`, href: signInHref, primary: true }],
    continueTo: signInHref
  }
}

/**
 * The 403 page: who is signed in and how to switch accounts, without revealing the rules. With
 * `link`, switching is a link to the sign-out page instead of a form: a forward-auth answer is
 * shown on the application's origin, where a form posting to the gateway would be refused.
 */
export function forbiddenView (email: string, signOutAction: string, link: boolean): PageView {
  const switchUrl = `${signOutAction}${signOutAction.includes('?') ? '&' : '?'}switch=1`
  const label = 'Use another account'
  return {
    title: 'You do not have access to this page',
    tone: 'warning',
    paragraphs: [
      `You are signed in as **${email}**, and this account is not allowed to use this page.`,
      'If you should have access, ask the owner of this application. Or sign out and sign in with another account.'
    ],
    ...(link
      ? { actions: [{ label, href: switchUrl, primary: true }, { label: 'Sign out', href: signOutAction }] }
      : { forms: [{ action: switchUrl, label }, { action: signOutAction, label: 'Sign out' }] }),
    code: 'PCS_FORBIDDEN'
  }
}

interface ErrorWording {
  readonly title: string
  readonly tone: PageView['tone']
  readonly happened: string
  readonly next: string
}

/**
 * The wording of an error page by code, falling back on the HTTP status for codes added later
 * (a 429 from the rate limiter reads right without knowing its code here).
 */
export function errorView (ctx: ViewContext, code: string, status: number, options: { actions?: readonly PageAction[], retryAfterSeconds?: number } = {}): PageView {
  const w = wording(ctx, code, status, options.retryAfterSeconds)
  return {
    title: w.title,
    tone: w.tone,
    paragraphs: [w.happened, w.next],
    actions: options.actions ?? [{ label: 'Go to the start page', href: '/' }],
    code
  }
}

/**
 * The wording of each error page by code. `{provider}` and `{brand}` stand for the provider's and
 * the gateway's display names.
 */
const LATER = 'Wait a moment, then reload the page. Nothing you did caused this.'
const wordings = new Map<string, ErrorWording>(Object.entries({
  PCS_BAD_PATH: { title: 'This address cannot be opened', tone: 'error', happened: 'The address contains characters or segments the gateway does not accept, so the request was not passed on.', next: 'Check the link you followed, or go to the start page.' },
  PCS_NOT_FOUND: { title: 'Page not found', tone: 'warning', happened: 'There is nothing at this address.', next: 'Check the address, or go to the start page.' },
  PCS_METHOD_NOT_ALLOWED: { title: 'This action is not available here', tone: 'warning', happened: 'This page does not accept that kind of request.', next: 'Go back and try again from the application itself.' },
  PCS_UNAUTHENTICATED: { title: 'Sign-in required', tone: 'info', happened: 'You need to be signed in to use this.', next: 'Sign in, and you will come back here.' },
  PCS_SESSION_EXPIRED: { title: 'Your session has ended', tone: 'info', happened: 'You were signed out because your session ended.', next: 'Sign in again to continue.' },
  PCS_FORBIDDEN: { title: 'You do not have access to this page', tone: 'warning', happened: 'Your account is signed in but not allowed to use this.', next: 'If you should have access, ask the owner of this application.' },
  PCS_CROSS_SITE: { title: 'Sign-out was not confirmed', tone: 'warning', happened: 'The sign-out request came from another website, so it was ignored: you are still signed in.', next: 'To sign out, use the button on the {brand} sign-out page.' },
  PCS_LOGIN_STATE_INVALID: { title: 'This sign-in has expired', tone: 'warning', happened: 'The sign-in took too long, was already completed, or was started in another browser.', next: 'Start the sign-in again.' },
  PCS_LOGIN_CANCELLED: { title: 'Sign-in cancelled', tone: 'info', happened: 'The sign-in was cancelled at {provider}, so you are not signed in.', next: 'Sign in again when you are ready.' },
  PCS_LOGIN_PROVIDER_ERROR: { title: 'Sign-in did not complete', tone: 'error', happened: '{provider} could not complete the sign-in.', next: 'Try again. If it keeps happening, contact support and quote the reference below.' },
  PCS_LOGIN_CODE_INVALID: { title: 'Sign-in could not be completed', tone: 'error', happened: 'The answer from {provider} could not be verified, so you were not signed in.', next: 'Try again. If it keeps happening, contact support and quote the reference below.' },
  PCS_LOGIN_CLAIMS_INVALID: { title: 'This account cannot be used here', tone: 'warning', happened: '{provider} did not confirm this account\'s email address or organisation, so it cannot be used here.', next: 'Sign in with another account, or ask the owner of this application.' },
  PCS_REFRESH_UNAVAILABLE: { title: 'Temporarily unavailable', tone: 'warning', happened: 'Your session could not be renewed right now.', next: LATER },
  PCS_STORE_UNAVAILABLE: { title: 'Temporarily unavailable', tone: 'warning', happened: 'The gateway cannot reach its session store right now, so it cannot check who you are.', next: LATER },
  PCS_PROVIDER_UNAVAILABLE: { title: '{provider} is not reachable', tone: 'warning', happened: 'The gateway cannot reach {provider} to sign you in right now.', next: LATER },
  PCS_UPSTREAM_UNAVAILABLE: { title: 'The application is not reachable', tone: 'error', happened: 'The application behind the gateway is not answering.', next: 'Try again in a moment. If it keeps happening, contact support.' },
  PCS_UPSTREAM_TIMEOUT: { title: 'The application did not answer in time', tone: 'error', happened: 'The application behind the gateway took too long to answer.', next: 'Try again in a moment. If it keeps happening, contact support.' }
} satisfies { readonly [C in ErrorCode]?: ErrorWording }))

function named (ctx: ViewContext, text: string): string {
  return text.replaceAll('{provider}', ctx.providerName).replaceAll('{brand}', ctx.brandName)
}

function wording (ctx: ViewContext, code: string, status: number, retryAfterSeconds: number | undefined): ErrorWording {
  const known = wordings.get(code)
  if (known !== undefined) return { ...known, title: named(ctx, known.title), happened: named(ctx, known.happened), next: named(ctx, known.next) }
  if (status === 429) {
    const wait = retryAfterSeconds === undefined ? 'a little while' : retryAfterSeconds === 1 ? '1 second' : `${retryAfterSeconds} seconds`
    return { title: 'Too many attempts', tone: 'warning', happened: 'Too many requests came from your network in a short time, so this one was not accepted.', next: `Wait ${wait}, then try again.` }
  }
  if (status === 503) return { title: 'Temporarily unavailable', tone: 'warning', happened: 'The gateway cannot serve this request right now.', next: LATER }
  if (status >= 500) return { title: 'Something went wrong', tone: 'error', happened: 'The gateway could not handle this request.', next: 'Try again. If it keeps happening, contact support and quote the reference below.' }
  if (status === 413) return { title: 'Too much data', tone: 'error', happened: 'The request carried more data than the gateway accepts.', next: 'Go back and try again with less.' }
  return { title: 'Bad request', tone: 'error', happened: 'The request was malformed, so it was not passed on.', next: 'Go back and try again. If it keeps happening, contact support.' }
}
