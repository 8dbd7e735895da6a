import t from 'tap'
import { readFileSync } from 'node:fs'
import { errorCodes, errorInfo } from '../../src/errors.js'
import { errorView } from '../../src/render/pages/views.js'

/*
 * Error pages: every code the gateway can raise reads as a page with a title, what happened and
 * what to do next, in the operator's names for the provider and the gateway.
 */

const ctx = { brandName: 'Acme Gate', providerName: 'Acme Login' }

t.test('every error code has a complete page with no placeholder left', async (t) => {
  for (const code of errorCodes) {
    const view = errorView(ctx, code, errorInfo(code).status, { retryAfterSeconds: 3 })
    const text = [view.title, ...view.paragraphs].join(' ')
    t.ok(view.title.length > 0 && view.paragraphs.length === 2 && view.paragraphs.every((p) => /[.!?]$/.test(p)), `${code}: a title and two full sentences`)
    t.notMatch(text, /[{}]|\$\{|undefined/, `${code}: no placeholder left`)
    t.equal(view.code, code)
  }
})

t.test('the provider and the gateway are named as configured', async (t) => {
  t.match(errorView(ctx, 'PCS_PROVIDER_UNAVAILABLE', 503).title, 'Acme Login is not reachable')
  t.match(errorView(ctx, 'PCS_LOGIN_CANCELLED', 403).paragraphs[0], 'cancelled at Acme Login,')
  t.match(errorView(ctx, 'PCS_LOGIN_CLAIMS_INVALID', 403).paragraphs[0], 'Acme Login did not confirm this account\'s email')
  t.match(errorView(ctx, 'PCS_CROSS_SITE', 403).paragraphs[1], 'the Acme Gate sign-out page')
})

t.test('codes without their own wording read by status', async (t) => {
  t.equal(errorView(ctx, 'PCS_RATE_LIMITED', 429, { retryAfterSeconds: 1 }).paragraphs[1], 'Wait 1 second, then try again.')
  t.equal(errorView(ctx, 'PCS_RATE_LIMITED', 429).paragraphs[1], 'Wait a little while, then try again.')
  t.equal(errorView(ctx, 'PCS_SHUTTING_DOWN', 503).title, 'Temporarily unavailable')
  t.equal(errorView(ctx, 'PCS_INTERNAL', 500).title, 'Something went wrong')
  t.equal(errorView(ctx, 'PCS_PAYLOAD_TOO_LARGE', 413).title, 'Too much data')
  t.equal(errorView(ctx, 'PCS_BAD_REQUEST', 400).title, 'Bad request')
  // A code that is not the gateway's (a lookup by a hostile string) falls back too.
  t.equal(errorView(ctx, '__proto__', 400).title, 'Bad request')
})

t.test('error-wording.json names only the gateway\'s error codes, each with every field', async (t) => {
  const wording = JSON.parse(readFileSync(new URL('../../src/render/pages/error-wording.json', import.meta.url), 'utf8')) as Record<string, Record<string, unknown>>
  const known = new Set<string>(errorCodes)
  t.strictSame(Object.keys(wording).filter((code) => !known.has(code)), [], 'no unknown code (a misspelt one would never be shown)')
  for (const [code, entry] of Object.entries(wording)) t.strictSame(Object.keys(entry).sort(), ['happened', 'next', 'title', 'tone'], code)
})
