import { request } from 'undici'
import { CookieJar } from '../test/helpers/cookie-jar.js'
import { chooseAccount } from '../test/helpers/signin.js'
import { APACHE_EMAIL_HEADER, APACHE_SESSION_COOKIE, type ApacheProc } from './apache.js'
import type { Proc } from './targets.js'

/*
 * A headless sign-in through the authenticating peer. mod_auth_openidc answers 401 instead of
 * redirecting to the provider when a request does not look like a top-level browser navigation,
 * and Node's fetch always sends `Sec-Fetch-Mode: cors`; so the hops here are made with undici's
 * `request`, which sends exactly the headers given: those of a browser following a link.
 */

const MAX_HOPS = 20
const SIGN_IN_TITLE = 'Portcullis development sign-in'

interface Hop {
  readonly url: URL
  readonly status: number
  readonly body: string
}

/** GETs `start` as a navigation and follows redirects by hand, cookies through `jar`. */
async function navigate (start: URL, jar: CookieJar): Promise<Hop> {
  let url = start
  for (let i = 0; i < MAX_HOPS; i++) {
    const cookie = jar.header(url)
    const res = await request(url, {
      method: 'GET',
      headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', ...(cookie === undefined ? {} : { cookie }) },
      headersTimeout: 10_000,
      bodyTimeout: 10_000
    })
    const setCookie = res.headers['set-cookie']
    for (const line of setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie]) jar.setCookie(url, line)
    const body = await res.body.text()
    const location = res.headers.location
    if (res.statusCode < 300 || res.statusCode >= 400 || typeof location !== 'string') return { url, status: res.statusCode, body }
    url = new URL(location, url)
  }
  throw new Error(`the walk from ${start.href} did not settle within ${MAX_HOPS} hops`)
}

/**
 * Signs in through the peer as `email` at the development provider (the module's state cookie
 * goes through the jar as a browser's would) and returns the `Cookie` header value of its
 * session. Throws with the peer's error log when the walk does not land back on the upstream.
 */
export async function apacheSignedInCookie (peer: ApacheProc, email = 'alice@example.com'): Promise<string> {
  const jar = new CookieJar()
  const fail = (what: string): Error => new Error(`sign-in through Apache: ${what}\n${peer.errorLog()}`)
  const page = await navigate(new URL('/', peer.url), jar)
  if (page.status !== 200 || !page.body.includes(SIGN_IN_TITLE)) throw fail(`expected the provider's sign-in page, got ${page.status} at ${page.url.href}`)
  const next = await chooseAccount(page.url.href, page.body, jar, email)
  const landed = await navigate(next, jar)
  if (landed.status !== 200 || landed.url.origin !== new URL(peer.url).origin) throw fail(`ended with ${landed.status} at ${landed.url.href}: ${landed.body.slice(0, 300)}`)
  const value = jar.get(APACHE_SESSION_COOKIE, peer.url)
  if (value === undefined) throw fail(`no ${APACHE_SESSION_COOKIE} cookie was set`)
  return `${APACHE_SESSION_COOKIE}=${value}`
}

/**
 * GETs `path` through the peer with `cookie` (as JSON, so an echoing upstream answers with the
 * request headers it received) and returns the status and the email claim header the upstream saw.
 */
export async function identityAtUpstream (peer: Proc, cookie: string, path: string): Promise<{ status: number, email: string | null }> {
  const res = await request(new URL(path, peer.url), { method: 'GET', headers: { accept: 'application/json', cookie }, headersTimeout: 10_000, bodyTimeout: 10_000 })
  if (res.statusCode !== 200) {
    await res.body.dump()
    return { status: res.statusCode, email: null }
  }
  const body = await res.body.json() as { headers?: Record<string, string> }
  return { status: res.statusCode, email: body.headers?.[APACHE_EMAIL_HEADER] ?? null }
}
