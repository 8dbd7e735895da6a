/*
 * Every page of the gateway's catalogue, in a real Chromium, light and dark, desktop and phone:
 * axe-core finds no serious or critical violation (run once per colour scheme: its rules read
 * colours and markup, which the viewport does not change), the page's strict CSP blocks nothing
 * it needs (no console error), and nothing overflows a phone's width.
 */
import t from 'tap'
import { createPageRenderer } from '../../src/render/pages/layout.js'
import { launchChromium, SAMPLE_BRAND, seriousAxeViolations, serveCatalogue, watchProblems, type Browser, type CatalogueServer } from '../helpers/browser.js'

let browser: Browser
let catalogue: CatalogueServer
t.before(async () => {
  catalogue = await serveCatalogue()
  browser = await launchChromium()
})
t.teardown(async () => {
  await browser?.close().catch(() => {})
  await catalogue?.close()
})

for (const colorScheme of ['light', 'dark'] as const) {
  for (const device of [{ name: 'desktop', width: 1280, height: 800 }, { name: 'phone', width: 390, height: 844 }]) {
    const axe = device.name === 'desktop'
    t.test(`pages (${colorScheme}, ${device.name}): every page ${axe ? 'passes axe with no serious or critical violation and ' : ''}has no console error`, async (t) => {
      const context = await browser.newContext({ colorScheme, viewport: { width: device.width, height: device.height } })
      t.teardown(() => context.close())
      t.ok(catalogue.names.length >= 20, 'the catalogue holds every page')
      const page = await context.newPage()
      const problems = watchProblems(page)
      for (const name of catalogue.names) {
        problems.lines.length = 0
        const response = await page.goto(`${catalogue.url}/${name}`)
        t.ok(response !== null, name)
        if (axe) t.same(await seriousAxeViolations(page), [], `${name}: axe`)
        t.same(problems.lines, [], `${name}: no console error or CSP violation`)
        const overflow = await page.evaluate('document.documentElement.scrollWidth > window.innerWidth')
        t.equal(overflow, false, `${name}: nothing wider than the viewport`)
        t.equal(await page.locator('html').getAttribute('lang'), 'en', `${name}: language`)
        t.equal(await page.locator('h1').count(), 1, `${name}: one heading`)
      }
    })
  }
}

t.test('pages: the primary action is reachable with the keyboard and shows a focus ring', async (t) => {
  const page = await browser.newPage()
  t.teardown(() => page.close())
  await page.goto(`${catalogue.url}/signed-out`)
  await page.keyboard.press('Tab')
  const focused = await page.evaluate('({ text: document.activeElement?.textContent, outline: getComputedStyle(document.activeElement).outlineStyle })') as { text: string, outline: string }
  t.equal(focused.text, 'Sign in again')
  t.equal(focused.outline, 'solid')
})

t.test('pages: the axe check can fail (a light accent under white button text is a serious contrast violation)', async (t) => {
  // The config refuses such an accent (pages.brand.accent); built directly here as a control.
  const bad = await serveCatalogue(createPageRenderer({ ...SAMPLE_BRAND, accent: '#f5d90a' }, 'Google'))
  const page = await browser.newPage()
  t.teardown(async () => { await page.close(); await bad.close() })
  await page.goto(`${bad.url}/signed-out`)
  const violations = await seriousAxeViolations(page)
  t.ok(violations.some((v) => v.id === 'color-contrast'), 'color-contrast reported')
})
