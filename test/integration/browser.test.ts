/*
 * One real browser, end to end: `npm run demo`'s program is started as a child process, a real
 * Chromium opens the gateway, is sent to the development provider, picks an account, comes back
 * to the exact deep link, and sees the demo app showing the identity the gateway forwarded.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { launchChromium, type Browser } from '../helpers/browser.js'
import { onPickedPort } from '../helpers/listen.js'

const demoScript = fileURLToPath(new URL('../../dist/demo/demo.js', import.meta.url))

/**
 * The demo's provider and app take port 0 (in its process, they report the port they got). Its
 * gateway's port is picked (helpers/listen.ts): the provider must know the gateway's callback URL
 * before the gateway listens. When it was taken meanwhile, the demo says so and starts over.
 */
async function startDemo (): Promise<{ url: string, child: ChildProcess, output: () => string }> {
  return await onPickedPort(startDemoOn, (err) => /is already in use\. Set DEMO_PORT/.test((err as Error).message))
}

async function startDemoOn (port: number): Promise<{ url: string, child: ChildProcess, output: () => string }> {
  const child = spawn(process.execPath, [demoScript], {
    env: { ...process.env, DEMO_PORT: String(port), DEMO_PROVIDER_PORT: '0', DEMO_APP_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`the demo exited early:\n${output}`)
    // Its banner first: it is printed once this demo's gateway listens, so the /ready that
    // answers is this demo's and not another process's on the same port.
    const ready = output.includes(`Open:            ${url}/`) && await fetch(`${url}/ready`).then((r) => r.status === 200, () => false)
    if (ready) return { url, child, output: () => output }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  child.kill('SIGKILL')
  throw new Error(`the demo did not become ready:\n${output}`)
}

let browser: Browser
let demo: Awaited<ReturnType<typeof startDemo>>
t.before(async () => {
  demo = await startDemo()
  // A non-persistent launch gets a fresh, temporary profile of its own.
  browser = await launchChromium()
})
t.teardown(async () => {
  await browser?.close().catch(() => {})
  if (demo !== undefined && demo.child.exitCode === null) {
    const exited = new Promise((resolve) => demo.child.once('exit', resolve))
    demo.child.kill('SIGTERM')
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))])
    if (demo.child.exitCode === null) demo.child.kill('SIGKILL')
  }
})

t.test('demo: a taken port names the variable to change', async (t) => {
  const child = spawn(process.execPath, [demoScript], { env: { ...process.env, DEMO_PORT: new URL(demo.url).port }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const code = await new Promise((resolve) => child.once('exit', resolve))
  t.equal(code, 1)
  t.match(stderr, /is already in use\. Set DEMO_PORT/)
})

t.test('demo: the printed banner names the URL and the accounts', async (t) => {
  t.match(demo.output(), new RegExp(`Open:\\s+${demo.url.replace(/[.]/g, '\\.')}/`))
  t.match(demo.output(), /alice@example\.com/)
  t.match(demo.output(), /DEMO/)
})

t.test('demo: the printed ID token works as a machine caller\'s bearer token on /api/', async (t) => {
  const token = /Authorization: Bearer ([\w-]+\.[\w-]+\.[\w-]+)/.exec(demo.output())?.[1]
  t.ok(token, 'the banner prints a token')
  const res = await fetch(`${demo.url}/api/whoami`, { headers: { authorization: `Bearer ${token ?? ''}` } })
  t.equal(res.status, 200)
  t.equal(res.headers.get('set-cookie'), null)
  const body = await res.json() as { headers: Record<string, string> }
  t.equal(body.headers['x-forwarded-email'], 'alice@example.com')
  t.equal((await fetch(`${demo.url}/api/whoami`, { headers: { authorization: 'Bearer a.b.c' } })).status, 401)
})

t.test('browser: a deep link signs in through the development provider and lands on the demo app with the identity', async (t) => {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const page = await context.newPage()
  page.setDefaultTimeout(20_000)

  await page.goto(`${demo.url}/reports/2026?view=full`)
  // Not signed in: the gateway sent the browser to the provider's account chooser.
  t.not(new URL(page.url()).port, new URL(demo.url).port, 'left the gateway for the provider')
  await page.locator('button[data-email="alice@example.com"]').click()
  await page.waitForURL((url) => url.origin === demo.url && url.pathname === '/reports/2026')

  t.equal(new URL(page.url()).search, '?view=full', 'the query came back too')
  t.equal(await page.locator('h1').textContent(), 'Demo app behind Portcullis')
  const body = await page.locator('body').textContent() ?? ''
  t.match(body, /alice@example\.com/)
  t.match(body, /dev-alice/)
  // Workspace groups from the provider's Cloud Identity double: staff@example.com through admins@example.com.
  t.match(body, /admins@example\.com,eng@example\.com,staff@example\.com/)
  const staff = await page.request.get(`${demo.url}/staff/`, { headers: { accept: 'application/json' } })
  t.equal(staff.status(), 200, 'a group rule admits a member through a nested group')

  const cookies = await context.cookies(demo.url)
  const session = cookies.find((c) => c.name === '_portcullis')
  t.ok(session, 'the session cookie is set')
  t.equal(session?.httpOnly, true)
  t.equal(session?.sameSite, 'Lax')

  // Sign out from the demo app: its link opens the gateway's sign-out page, whose button ends on
  // the gateway's signed-out page.
  await page.locator('#sign-out').click()
  await page.waitForURL((url) => url.origin === demo.url && url.pathname === '/oauth2/sign_out')
  await page.locator('form[action^="/oauth2/sign_out"] button').click()
  await page.waitForURL((url) => url.origin === demo.url && url.pathname === '/oauth2/signed_out')
  t.equal(await page.locator('h1').textContent(), 'You are signed out')
  t.notOk((await context.cookies(demo.url)).some((c) => c.name === '_portcullis'), 'the session cookie is gone')
  const api = await page.request.get(`${demo.url}/api/whoami`, { headers: { accept: 'application/json' } })
  t.equal(api.status(), 401)
})

t.test('browser: an account outside the allowed domain sees the 403 page naming it', async (t) => {
  const context = await browser.newContext()
  t.teardown(() => context.close())
  const page = await context.newPage()
  page.setDefaultTimeout(20_000)
  await page.goto(`${demo.url}/`)
  await page.locator('button[data-email="mallory@evil.test"]').click()
  await page.waitForURL((url) => url.origin === demo.url)
  t.equal(await page.locator('h1').textContent(), 'You do not have access to this page')
  t.match(await page.locator('body').textContent() ?? '', /mallory@evil\.test/)
})
