/**
 * What each page of the gateway says. Every page tells the person what happened and what to do
 * next, in plain words; the wording is reviewed here (error pages' in error-wording.json) and
 * rendered by `layout.ts`.
 */
import errorWording from './error-wording.json' with { type: 'json' }
import { tones, type PageAction, type PageView, type Tone } from './layout.js'

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

const LATER = 'Wait a moment, then reload the page. Nothing you did caused this.'

/**
 * The wording of each error page by code, kept as text in error-wording.json (reviewed there, in
 * one place). `{provider}` and `{brand}` stand for the provider's and the gateway's display names.
 */
const wordings = new Map<string, ErrorWording>(Object.entries(errorWording).map(([code, w]) => [code, { ...w, tone: toneOf(code, w.tone) }]))

function toneOf (code: string, tone: string): Tone {
  const known = tones.find((t) => t === tone)
  if (known === undefined) throw new Error(`error-wording.json: ${code} has the unknown tone ${tone}`)
  return known
}

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
