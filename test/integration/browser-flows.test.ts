/*
 * Sign-in and sign-out as people use them, in a real Chromium against the real gateway, the
 * development provider and the demo app: every way of signing out ends on the gateway's
 * "You are signed out" page with no console error or CSP violation; five tabs signing in at
 * once each land on their own deep link; RP-initiated logout ends the provider's session too.
 */
import t, { type Test } from 'tap'
import { SIGN_IN_TITLE } from '../../demo/provider-pages.js'
import { launchChromium, seriousAxeViolations, watchProblems, type Browser, type BrowserContext, type Page, type PageProblems } from '../helpers/browser.js'
import { startStack, type Stack } from '../helpers/stack.js'

let browser: Browser
let stack: Stack
let rpStack: Stack
t.before(async () => {
  stack = await startStack({ store: 'memory' })
  rpStack = await startStack({ store: 'memory', configure: (raw) => { raw.provider.type = 'oidc'; raw.provider.rp_initiated_logout = true } })
  browser = await launchChromium()
})
t.teardown(async () => {
  await browser?.close().catch(() => {})
  await stack?.close()
  await rpStack?.close()
})

/** A new browser context (own cookies) and a page whose gateway console problems are recorded. */
async function freshPage (t: Test, gateway: Stack): Promise<{ context: BrowserContext, page: Page, problems: PageProblems }> {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const page = await context.newPage()
  page.setDefaultTimeout(20_000)
  return { context, page, problems: watchProblems(page, (url) => url.startsWith(gateway.url)) }
}

/** Waits for the provider's account chooser (its title checked), then picks `email`. */
async function chooseAccount (page: Page, email: string): Promise<void> {
  const button = page.locator(`button[data-email="${email}"]`)
  await button.waitFor()
  if (await page.title() !== SIGN_IN_TITLE) throw new Error(`not the provider's chooser: ${page.url()}`)
  await button.click()
}

async function signInAt (page: Page, gateway: Stack, path: string, email = 'alice@example.com'): Promise<void> {
  await page.goto(`${gateway.url}${path}`)
  await chooseAccount(page, email)
  await page.waitForURL((url) => url.origin === gateway.url && `${url.pathname}${url.search}` === path)
}

async function expectSignedOutPage (t: Test, page: Page, context: BrowserContext, gateway: Stack, rd: string): Promise<void> {
  await page.waitForURL((url) => url.origin === gateway.url && url.pathname === '/oauth2/signed_out')
  t.equal(await page.locator('h1').textContent(), 'You are signed out')
  const again = page.getByRole('link', { name: 'Sign in again' })
  t.equal(await again.getAttribute('href'), `/oauth2/start?rd=${encodeURIComponent(rd)}`)
  t.notOk((await context.cookies(gateway.url)).some((c) => c.name === '_portcullis'), 'the session cookie is gone')
  // Still signed out a moment later: nothing navigates on by itself.
  await page.waitForTimeout(500)
  t.equal(new URL(page.url()).pathname, '/oauth2/signed_out', 'not silently signed back in')
  const api = await page.request.get(`${gateway.url}/api/whoami`, { headers: { accept: 'application/json' } })
  t.equal(api.status(), 401)
}

t.test('sign-out with no rd: the sign-out page\'s button ends on the signed-out page', async (t) => {
  const { context, page, problems } = await freshPage(t, stack)
  await signInAt(page, stack, '/reports/2026?view=full')
  await page.goto(`${stack.url}/oauth2/sign_out`)
  t.same(await seriousAxeViolations(page), [], 'sign-out page: axe')
  await page.getByRole('button', { name: 'Sign out' }).click()
  await expectSignedOutPage(t, page, context, stack, '/')
  t.same(await seriousAxeViolations(page), [], 'signed-out page: axe')
  t.same(problems.lines, [], 'no console error or CSP violation')
})

t.test('sign-out with rd: the signed-out page signs in again to rd', async (t) => {
  const { context, page, problems } = await freshPage(t, stack)
  await signInAt(page, stack, '/reports/q3')
  await page.goto(`${stack.url}/oauth2/sign_out?rd=${encodeURIComponent('/reports/q3')}`)
  await page.getByRole('button', { name: 'Sign out' }).click()
  await expectSignedOutPage(t, page, context, stack, '/reports/q3')
  // "Sign in again" is a plain navigation to the provider and back to rd.
  await page.getByRole('link', { name: 'Sign in again' }).click()
  await page.waitForURL((url) => url.origin === stack.url && url.pathname === '/reports/q3')
  t.same(problems.lines, [], 'no console error or CSP violation')
})

t.test('sign-out from the demo app: its link opens the gateway\'s sign-out page and ends on the signed-out page', async (t) => {
  const { context, page, problems } = await freshPage(t, stack)
  await signInAt(page, stack, '/projects/x')
  t.equal(await page.locator('h1').textContent(), 'Demo app behind Portcullis')
  await page.locator('#sign-out').click()
  await page.waitForURL((url) => url.pathname === '/oauth2/sign_out')
  t.match(await page.locator('main').textContent() ?? '', /alice@example\.com/)
  await page.getByRole('button', { name: 'Sign out' }).click()
  await expectSignedOutPage(t, page, context, stack, '/projects/x')
  t.same(problems.lines, [], 'no console error or CSP violation')
})

t.test('403 page: "Sign out" ends on the signed-out page; "Use another account" reaches the account chooser and signs in as the other account', async (t) => {
  const { context, page, problems } = await freshPage(t, stack)
  await page.goto(`${stack.url}/team/board`)
  await chooseAccount(page, 'mallory@evil.test')
  await page.waitForURL((url) => url.origin === stack.url && url.pathname === '/team/board')
  t.equal(await page.locator('h1').textContent(), 'You do not have access to this page')
  t.same(await seriousAxeViolations(page), [], '403 page: axe')
  await page.getByRole('button', { name: 'Sign out' }).click()
  await expectSignedOutPage(t, page, context, stack, '/')

  // The provider's own session still stands (no RP-initiated logout, as with Google): opening the
  // page signs in as mallory again without a chooser, which is what "Use another account" is for.
  await page.goto(`${stack.url}/team/board`)
  t.equal(await page.locator('h1').textContent(), 'You do not have access to this page')
  await page.getByRole('button', { name: 'Use another account' }).click()
  // The provider shows its chooser again (prompt=select_account), although its session stands.
  await chooseAccount(page, 'bob@example.com')
  await page.waitForURL((url) => url.origin === stack.url && url.pathname === '/team/board')
  t.equal(await page.locator('h1').textContent(), 'Demo app behind Portcullis')
  t.match(await page.locator('#identity').textContent() ?? '', /bob@example\.com/)
  t.same(problems.lines, [], 'no console error or CSP violation')
})

t.test('a cancelled sign-in says so (not "access denied") and offers to sign in again', async (t) => {
  const { page, problems } = await freshPage(t, stack)
  await page.goto(`${stack.url}/reports`)
  t.equal(await page.title(), SIGN_IN_TITLE)
  await page.getByRole('button', { name: /cancel/i }).click()
  await page.waitForURL((url) => url.origin === stack.url && url.pathname === '/oauth2/callback')
  t.equal(await page.locator('h1').textContent(), 'Sign-in cancelled')
  t.equal(await page.getByRole('link', { name: 'Sign in again' }).getAttribute('href'), '/oauth2/start?rd=%2Freports')
  t.same(await seriousAxeViolations(page), [], 'cancelled page: axe')
  t.same(problems.lines, [], 'no console error or CSP violation')
})

t.test('five tabs: three start at the same instant and two later, finish in another order, each lands on its own deep link', async (t) => {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const paths = ['/tab/1?a=1', '/tab/2', '/tab/3#frag', '/tab/4', '/tab/5?x=y']
  const pages = await Promise.all(paths.map(async () => await context.newPage()))
  const problems = pages.map((p) => watchProblems(p, (url) => url.startsWith(stack.url)))
  for (const p of pages) p.setDefaultTimeout(30_000)
  await Promise.all(pages.slice(0, 3).map(async (p, i) => await p.goto(`${stack.url}${paths[i]}`)))
  await pages[3]!.goto(`${stack.url}${paths[3]}`)
  await pages[4]!.goto(`${stack.url}${paths[4]}`)
  const bindings = (await context.cookies(`${stack.url}/oauth2/callback`)).filter((c) => c.name.startsWith('_portcullis_login_'))
  t.equal(bindings.length, 5, 'one binding cookie per pending sign-in')
  for (const i of [3, 1, 4, 0, 2]) {
    const page = pages[i]!
    await chooseAccount(page, 'alice@example.com')
    const want = new URL(paths[i]!, stack.url)
    await page.waitForURL((url) => url.origin === stack.url && url.pathname === want.pathname && url.search === want.search)
    t.match(await page.locator('#identity').textContent() ?? '', /alice@example\.com/, `tab ${i + 1} is signed in`)
  }
  const gatewayCookies = await context.cookies([`${stack.url}/`, `${stack.url}/oauth2/callback`])
  t.ok(gatewayCookies.length <= 3, `at most three cookies for the gateway's origin (${gatewayCookies.map((c) => c.name).join(', ')})`)
  t.notOk(gatewayCookies.some((c) => c.name.startsWith('_portcullis_login')), 'every binding cookie is cleared')
  t.same(problems.flatMap((p) => p.lines), [], 'no console error or CSP violation')
})

t.test('RP-initiated logout: the provider ends its session and returns to the signed-out page; signing in again asks for an account', async (t) => {
  const { context, page, problems } = await freshPage(t, rpStack)
  await signInAt(page, rpStack, '/reports', 'bob@example.com')
  await page.goto(`${rpStack.url}/oauth2/sign_out?rd=%2Freports`)
  await page.getByRole('button', { name: 'Sign out' }).click()
  // Our page continues to the provider's end-session endpoint, which asks to confirm.
  await page.waitForURL((url) => url.origin === rpStack.provider.url)
  await page.getByRole('button', { name: 'Yes, sign me out' }).click()
  await expectSignedOutPage(t, page, context, rpStack, '/reports')
  t.match(await page.locator('main').textContent() ?? '', /session at 127\.0\.0\.1 has ended too/)
  t.same(await seriousAxeViolations(page), [], 'signed-out page: axe')
  await page.getByRole('link', { name: 'Sign in again' }).click()
  await page.locator('button[data-email]').first().waitFor()
  t.equal(await page.title(), SIGN_IN_TITLE, 'the provider asks for an account again: its session ended')
  t.same(problems.lines, [], 'no console error or CSP violation')
})
