/**
 * Headless sign-in through the gateway and the development provider with Node's fetch: every
 * redirect is followed by hand (so each hop's cookies go through the jar, as in a browser), the
 * account is chosen on the provider's page by email, and the walk is bounded to 20 hops.
 * Lower-level steps are exported so a test can stop at the gateway callback to replay or tamper
 * with it.
 */
import type { CookieJar } from './cookie-jar.js'

const MAX_HOPS = 20
const SIGN_IN_TITLE = 'Portcullis development sign-in'

export interface SignInOptions {
  /** Origin of the gateway, e.g. `http://127.0.0.1:4180`. */
  readonly gatewayUrl: string
  readonly jar: CookieJar
  /** Email of the development account to sign in as. */
  readonly email: string
  /** Path (and query) to open first; default `/`. */
  readonly startPath?: string
  /** The gateway's `auth_prefix`; default `/oauth2`. */
  readonly authPrefix?: string
  /**
   * Keep the provider's own session cookies from an earlier sign-in. By default they are dropped
   * first, so the provider shows its account chooser and `email` is the account that signs in.
   */
  readonly keepProviderSession?: boolean
}

export interface SignInResult {
  /** URL of the last response (not a redirect). */
  readonly finalUrl: string
  /** Path and query of `finalUrl`. */
  readonly landedPath: string
  readonly status: number
  readonly body: string
  /** The gateway callback URL the provider redirected to (already used). */
  readonly callbackUrl: string
}

export interface FollowResult {
  /** The URL matched by the predicate (not fetched), or the URL of the final response. */
  readonly url: string
  readonly matched: boolean
  /** The final non-redirect response when nothing matched; null when `matched`. */
  readonly response: Response | null
  /** Every URL fetched, in order. */
  readonly hops: readonly string[]
}

/** Fetches `url` without following redirects, sending and storing cookies through `jar`. */
export async function fetchWithJar (url: string | URL, jar: CookieJar, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers)
  if (!headers.has('accept')) headers.set('accept', 'text/html')
  const cookie = jar.header(url)
  if (cookie !== undefined) headers.set('cookie', cookie)
  const response = await fetch(url, { ...init, headers, redirect: 'manual', signal: init.signal ?? AbortSignal.timeout(10_000) })
  jar.storeFrom(url, response.headers)
  return response
}

/**
 * GETs `url` and follows each `Location` by hand until `predicate` matches the next URL (which is
 * then returned unfetched) or a response is not a redirect. Throws after 20 hops.
 */
export async function followUntil (
  url: string | URL,
  jar: CookieJar,
  predicate: (next: URL) => boolean,
  init: RequestInit = {}
): Promise<FollowResult> {
  const hops: string[] = []
  let current = new URL(url)
  for (let i = 0; i < MAX_HOPS; i++) {
    if (predicate(current)) return { url: current.href, matched: true, response: null, hops }
    hops.push(current.href)
    const response = await fetchWithJar(current, jar, { ...init, method: 'GET' })
    const location = response.headers.get('location')
    if (response.status < 300 || response.status >= 400 || location === null) {
      return { url: current.href, matched: false, response, hops }
    }
    await response.body?.cancel()
    current = new URL(location, current)
  }
  throw new Error(`sign-in did not settle within ${MAX_HOPS} hops: ${hops.join(' -> ')}`)
}

/**
 * On the provider's account chooser `html` (served at `pageUrl`), submits the form button of the
 * account with `email` and returns the `Location` the provider answers with.
 */
export async function chooseAccount (pageUrl: string, html: string, jar: CookieJar, email: string): Promise<URL> {
  for (const form of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const [, formAttributes = '', inner = ''] = form
    for (const button of inner.matchAll(/<button\b([^>]*)>/gi)) {
      const attributes = parseAttributes(button[1] ?? '')
      if (attributes['data-email'] !== email) continue
      const action = parseAttributes(formAttributes).action ?? pageUrl
      const body = new URLSearchParams({ [attributes.name ?? 'account']: attributes.value ?? '' })
      const target = new URL(action, pageUrl)
      const response = await fetchWithJar(target, jar, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: target.origin },
        body: body.toString()
      })
      await response.body?.cancel()
      const location = response.headers.get('location')
      if (response.status < 300 || response.status >= 400 || location === null) {
        throw new Error(`choosing ${email} was answered ${response.status} without a redirect`)
      }
      return new URL(location, target)
    }
  }
  throw new Error(`the sign-in page at ${pageUrl} offers no account ${email}`)
}

/**
 * Walks from the gateway to the provider, signs in as `email`, and stops at the gateway callback
 * URL without requesting it, so a test can replay or alter it.
 */
export async function signInUntilCallback (options: SignInOptions): Promise<{ callbackUrl: string }> {
  const { jar, email } = options
  const callbackPath = `${options.authPrefix ?? '/oauth2'}/callback`
  const gatewayOrigin = new URL(options.gatewayUrl).origin
  const isCallback = (u: URL): boolean => u.origin === gatewayOrigin && u.pathname === callbackPath
  if (options.keepProviderSession !== true) jar.deleteWhere((c) => c.name.startsWith('pcsdev_'))

  const start = new URL(options.startPath ?? '/', gatewayOrigin)
  const toProvider = await followUntil(start, jar, isCallback)
  if (toProvider.matched) return { callbackUrl: toProvider.url }
  const page = toProvider.response
  const html = page === null ? '' : await page.text()
  if (!html.includes(SIGN_IN_TITLE)) {
    throw new Error(`expected the provider's sign-in page, got ${page?.status ?? '?'} at ${toProvider.url}`)
  }
  const next = await chooseAccount(toProvider.url, html, jar, email)
  const toCallback = await followUntil(next, jar, isCallback)
  if (!toCallback.matched) {
    throw new Error(`the provider did not return to ${callbackPath}; stopped with ${toCallback.response?.status ?? '?'} at ${toCallback.url}`)
  }
  return { callbackUrl: toCallback.url }
}

/**
 * Drives a full sign-in: opens `startPath` on the gateway as a browser navigation, signs in at
 * the provider as `email`, follows the gateway callback, and reports where it landed.
 */
export async function signIn (options: SignInOptions): Promise<SignInResult> {
  const { callbackUrl } = await signInUntilCallback(options)
  const landed = await followUntil(callbackUrl, options.jar, () => false)
  const response = landed.response
  if (response === null) throw new Error('unreachable: nothing matches')
  const finalUrl = new URL(landed.url)
  return {
    finalUrl: finalUrl.href,
    landedPath: `${finalUrl.pathname}${finalUrl.search}`,
    status: response.status,
    body: await response.text(),
    callbackUrl
  }
}

function parseAttributes (source: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of source.matchAll(/([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/g)) {
    out[(m[1] ?? '').toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '')
  }
  return out
}

function decodeEntities (value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) => {
    const lower = e.toLowerCase()
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16))
    if (lower.startsWith('#')) return String.fromCodePoint(Number(lower.slice(1)))
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[lower] ?? _
  })
}
