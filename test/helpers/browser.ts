/**
 * A real Chromium for the browser tests and the page renderer: Debian's /usr/bin/chromium through
 * playwright-core with the flags every test uses, a fresh temporary profile per browser, a record
 * of every console error and CSP violation per page, axe-core run inside the page, and a small
 * server that serves the gateway's page catalogue with the gateway's own CSP.
 */
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { createRequire } from 'node:module'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { createPageRenderer, type PageRenderer } from '../../src/render/pages/layout.js'
import { pageCatalogue } from '../../src/render/pages/catalogue.js'
import type { BrandConfig } from '../../src/config/types.js'
import { listenOnLoopback } from './listen.js'

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'] as const

/** Launches Chromium with a new, empty, temporary profile. */
export async function launchChromium (): Promise<Browser> {
  return await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    headless: true,
    args: [...CHROMIUM_ARGS],
    timeout: 60_000
  })
}

/** Console errors, CSP violations and page errors seen on one page, for the test to assert empty. */
export interface PageProblems {
  readonly lines: string[]
}

/** Records console errors (CSP violations included) and uncaught page errors of `page`. */
export function watchProblems (page: Page, only?: (url: string) => boolean): PageProblems {
  const problems: PageProblems = { lines: [] }
  page.on('console', (message) => {
    const url = message.location().url || page.url()
    if (only !== undefined && !only(url)) return
    const text = message.text()
    // The document's own 4xx/5xx status is what an error page is meant to answer.
    if (url === page.url() && text.startsWith('Failed to load resource: the server responded with a status of')) return
    if (message.type() === 'error' || /Content Security Policy|Content-Security-Policy/i.test(text)) problems.lines.push(`${message.type()} at ${url}: ${text}`)
  })
  page.on('pageerror', (err) => { problems.lines.push(`pageerror at ${page.url()}: ${err.message}`) })
  return problems
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

export interface AxeViolation { readonly id: string, readonly impact: string | null, readonly help: string, readonly targets: string[] }

/**
 * Runs axe-core (WCAG 2 A/AA and best practices) in the page and returns the serious and critical
 * violations. The script is evaluated through the browser's debugging protocol, so the page's
 * strict CSP stays in force.
 */
export async function seriousAxeViolations (page: Page): Promise<AxeViolation[]> {
  await page.evaluate(`${axeSource};0`)
  const violations = await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((result) =>
    result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => String(n.target[0])) })))`) as AxeViolation[]
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
}

/** A sample brand for the catalogue: a name, an inline logo, a support address. */
export const SAMPLE_BRAND: BrandConfig = {
  name: 'Acme Internal Tools',
  logo: `data:image/svg+xml;base64,${Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#1f5fbf"/><path d="M9 23 16 8l7 15h-4l-3-7-3 7z" fill="#fff"/></svg>').toString('base64')}`,
  logoFile: null,
  accent: '#1f5fbf',
  support: 'it-help@acme.example'
}

export interface CatalogueServer {
  readonly url: string
  readonly names: readonly string[]
  close (): Promise<void>
}

/** Serves every catalogued page at `/<name>` with its status and the gateway's CSP. */
export async function serveCatalogue (renderer: PageRenderer = createPageRenderer(SAMPLE_BRAND, 'Google')): Promise<CatalogueServer> {
  const pages = pageCatalogue({ brandName: renderer.brand.name, providerName: renderer.providerName })
  const byName = new Map(pages.map((p) => [p.name, p]))
  const server: Server = createServer((req, res) => {
    const entry = byName.get((req.url ?? '/').slice(1))
    if (entry === undefined) {
      res.writeHead(404).end()
      return
    }
    const { html, csp } = renderer.render(entry.view, '7f3c2a9e-5d1b-4c8e-9a2f-0b6d4e1c3a57')
    res.writeHead(entry.status, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp })
    res.end(html)
  })
  const url = await listenOnLoopback(server)
  return {
    url,
    names: pages.map((p) => p.name),
    close: async () => { await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() }) }
  }
}

export type { Browser, BrowserContext, Page }
