import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { loadConfigFile } from '../../src/config/load.js'
import { contrastRatio } from '../../src/config/validate-pages.js'
import { createPagesFor } from '../../src/render/pages/for-config.js'
import { signedOutView } from '../../src/render/pages/views.js'
import { baseRaw, tempDir, type Raw } from '../fixtures/config/base.js'
import { ConfigError } from '../../src/config/load.js'

function load (change: (raw: Raw, dir: string) => void): ReturnType<typeof loadConfigFile> {
  const dir = tempDir()
  const raw = baseRaw()
  change(raw, dir)
  const file = join(dir, 'portcullis.yaml')
  writeFileSync(file, stringify(raw))
  return loadConfigFile(file, {})
}

function problems (change: (raw: Raw, dir: string) => void): string[] {
  try {
    load(change)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

const svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8"/></svg>'

t.test('pages: defaults are auto sign-in and the Portcullis brand', async t => {
  const config = load(() => {})
  t.strictSame(config.pages, { signIn: 'auto', brand: { name: 'Portcullis', logo: null, logoFile: null, accent: '#1f5fbf', support: null } })
})

t.test('pages.brand.logo_file: inlined as a data: URL and allowed by img-src data: only', async t => {
  const config = load((raw, dir) => {
    writeFileSync(join(dir, 'logo.svg'), svg)
    raw.pages = { brand: { name: 'Acme', logo_file: 'logo.svg', support: 'help@acme.example' } }
  })
  t.equal(config.pages.brand.logo, `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`)
  const rendered = createPagesFor(config).render(signedOutView({ brandName: 'Acme', providerName: 'Google' }, '/oauth2/start?rd=%2F', false))
  t.match(rendered.csp, /img-src data:;/)
  t.match(rendered.csp, /style-src 'sha256-[A-Za-z0-9+/=]+'/)
  t.notMatch(rendered.csp, /unsafe-inline/)
  t.match(rendered.html, /<a href="mailto:help@acme\.example">help@acme\.example<\/a>/)
  t.match(rendered.html, /<title>You are signed out · Acme<\/title>/)
})

t.test('pages.brand.logo_url: an https URL, allowed by img-src for that URL only', async t => {
  const config = load((raw) => { raw.pages = { brand: { logo_url: 'https://cdn.acme.example/logo.svg' } } })
  const rendered = createPagesFor(config).render(signedOutView({ brandName: 'x', providerName: 'y' }, '/', false))
  t.match(rendered.csp, /img-src https:\/\/cdn\.acme\.example\/logo\.svg;/)
  t.strictSame(problems((raw) => { raw.pages = { brand: { logo_url: 'http://cdn.acme.example/logo.svg' } } }),
    ['pages.brand.logo_url: must be an https URL such as https://cdn.example.com/logo.svg (or use logo_file)'])
  t.strictSame(problems((raw) => { raw.pages = { brand: { logo_url: "https://x.example/a.svg; script-src 'unsafe-inline'" } } }),
    ['pages.brand.logo_url: must be an https URL such as https://cdn.example.com/logo.svg (or use logo_file)'], 'nothing that would extend the CSP')
})

t.test('pages.brand: bad values are named', async t => {
  t.strictSame(problems((raw) => { raw.pages = { brand: { accent: 'blue' } } }), ['pages.brand.accent: must be a colour written #rrggbb, such as #1f5fbf'])
  t.strictSame(problems((raw) => { raw.pages = { brand: { accent: '#ffcc00' } } }), ['pages.brand.accent: is too light for white button text (contrast 1.5:1, needs 4.5:1); pick a darker shade'])
  t.strictSame(problems((raw, dir) => { writeFileSync(join(dir, 'logo.txt'), 'x'); raw.pages = { brand: { logo_file: 'logo.txt' } } }),
    ['pages.brand.logo_file: must be an image file (.png, .svg, .jpg, .jpeg, .webp, .gif)'])
  t.strictSame(problems((raw, dir) => { writeFileSync(join(dir, 'big.png'), Buffer.alloc(70 * 1024)); raw.pages = { brand: { logo_file: 'big.png' } } }),
    ['pages.brand.logo_file: must be at most 64 KiB (it is inlined into every page)'])
  t.strictSame(problems((raw) => { raw.pages = { sign_in: 'popup' } }), ['pages.sign_in: must be one of: auto, button'])
})

t.test('contrastRatio: WCAG values', async t => {
  t.equal(contrastRatio('#000000', '#ffffff').toFixed(1), '21.0')
  t.equal(contrastRatio('#1f5fbf', '#ffffff') >= 4.5, true)
})
