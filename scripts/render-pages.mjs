#!/usr/bin/env node
// Renders every page of the gateway (the catalogue in src/render/pages/catalogue.ts) in a real
// Chromium, desktop and phone, light and dark, to docs/pages/<page>-<device>-<scheme>.png, and
// writes docs/pages.md showing them. Run after a build: `npm run build && node scripts/render-pages.mjs`.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { launchChromium, serveCatalogue } from '../dist/test/helpers/browser.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = `${root}docs/pages`
const devices = [{ name: 'desktop', width: 1280, height: 800 }, { name: 'phone', width: 390, height: 844 }]
const schemes = ['light', 'dark']

const catalogue = await serveCatalogue()
const browser = await launchChromium()
try {
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  for (const device of devices) {
    for (const colorScheme of schemes) {
      const context = await browser.newContext({ colorScheme, viewport: { width: device.width, height: device.height }, deviceScaleFactor: 1 })
      const page = await context.newPage()
      for (const name of catalogue.names) {
        await page.goto(`${catalogue.url}/${name}`)
        await page.screenshot({ path: `${out}/${name}-${device.name}-${colorScheme}.png`, fullPage: device.name === 'phone' })
      }
      await context.close()
    }
  }
} finally {
  await browser.close()
  await catalogue.close()
}

const sections = catalogue.names.map((name) => [
  `### ${name}`,
  '',
  '| desktop, light | desktop, dark | phone, light | phone, dark |',
  '| --- | --- | --- | --- |',
  `| ${devices.flatMap((d) => schemes.map((s) => `![${name}, ${d.name}, ${s}](pages/${name}-${d.name}-${s}.png)`)).join(' | ')} |`,
  ''
].join('\n'))
writeFileSync(`${root}docs/pages.md`, `# The gateway's pages

Every page the gateway shows a person, rendered by \`scripts/render-pages.mjs\` (\`npm run pages\`)
in Chromium from the catalogue in \`src/render/pages/catalogue.ts\`, with the sample brand of the
test helpers (\`pages.brand\`: name "Acme Internal Tools", an inline logo, accent \`#1f5fbf\`,
support \`it-help@acme.example\`). The test \`test/integration/pages-a11y.test.ts\` runs axe-core on
the same catalogue in light and dark and checks the phone layout.

All pages share one layout: the brand on top, what happened, what to do next, the actions, and a
footer with the support contact and a reference (the error code and the request id, to quote to
support). They load nothing from anywhere: the stylesheet is inline and allowed by its hash, there
is no script, a \`logo_file\` is inlined as a \`data:\` image and a \`logo_url\` is allowed by
\`img-src\` for that one URL. Light and dark follow the browser's \`prefers-color-scheme\`.

## Configuration

\`\`\`yaml
pages:
  sign_in: auto            # auto: straight to the provider | button: a page with a sign-in button first
  brand:
    name: Acme Internal Tools
    logo_file: /etc/portcullis/logo.svg   # png, svg, jpg, webp or gif, at most 64 KiB; or logo_url: https://...
    accent: "#1f5fbf"      # buttons, links, focus ring; must keep 4.5:1 under white button text
    support: it-help@acme.example         # an email address, an https URL, or plain text
\`\`\`

## Sign-out, and what each page is for

- **sign-out**: \`GET /oauth2/sign_out\` asks to confirm (a POST button, so a link or an image cannot
  sign anyone out). The POST ends on our own origin, never on a redirect chain to the provider
  (after a form POST, Chromium checks \`form-action 'self'\` against every redirect).
- **signed-out**: where every sign-out ends, with "Sign in again" back to \`rd\`.
- **ending-provider-session**: with \`provider.rp_initiated_logout: true\`, the POST answers this page,
  which continues (a plain navigation) to the provider's \`end_session_endpoint\`; the provider sends
  the browser back to **signed-out-at-provider**.
- **use-another-account** / **choose-account**: "Use another account" on the 403 page signs out and
  continues to a sign-in with \`prompt=select_account\`.
- **error-…**: one page per error the gateway answers a browser with; the rate-limited page (429)
  names the \`Retry-After\` wait.

${sections.join('\n')}`)
process.stdout.write(`rendered ${catalogue.names.length * devices.length * schemes.length} pages to docs/pages/\n`)
