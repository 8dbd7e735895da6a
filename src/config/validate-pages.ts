/**
 * The `pages` section: how sign-in starts and how the gateway's own pages are branded. A logo file
 * is read once here and inlined as a `data:` URL, so pages load nothing from anywhere; a logo URL
 * must be https and is allowed by the pages' Content-Security-Policy for that one URL only.
 */
import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import { DEFAULTS } from './defaults.js'
import { readableFile } from './fields.js'
import type { Problems } from './problems.js'
import type { RawConfig } from './schema.js'
import type { PagesConfig } from './types.js'
import type { Base } from './validate.js'

const LOGO_TYPES: Readonly<Record<string, string>> = { '.png': 'image/png', '.svg': 'image/svg+xml', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.gif': 'image/gif' }

/** Minimum contrast of white button text on the accent colour (WCAG AA for normal text). */
export const MIN_ACCENT_CONTRAST = 4.5

export function buildPages (raw: RawConfig, base: Base, problems: Problems, baseDir: string): PagesConfig {
  const p = raw.pages
  const b = p.brand
  const path = ['pages', 'brand']

  const accent = (b.accent).toLowerCase()
  if (!/^#[0-9a-f]{6}$/.test(accent)) {
    problems.add([...path, 'accent'], 'must be a colour written #rrggbb, such as #1f5fbf')
  } else if (contrastRatio(accent, '#ffffff') < MIN_ACCENT_CONTRAST) {
    problems.add([...path, 'accent'], `is too light for white button text (contrast ${contrastRatio(accent, '#ffffff').toFixed(1)}:1, needs ${MIN_ACCENT_CONTRAST}:1); pick a darker shade`)
  }

  if (b.logo_file !== undefined && b.logo_url !== undefined) problems.add(path, 'set only one of logo_file or logo_url')
  let logo: string | null = null
  let logoFile: string | null = null
  if (b.logo_file !== undefined) {
    const before = problems.size
    logoFile = readableFile(b.logo_file, baseDir, [...path, 'logo_file'], problems)
    const type = LOGO_TYPES[extname(logoFile).toLowerCase()]
    if (type === undefined) problems.add([...path, 'logo_file'], `must be an image file (${Object.keys(LOGO_TYPES).join(', ')})`)
    else if (problems.size === before) {
      const bytes = readFileSync(logoFile)
      if (bytes.length > DEFAULTS.logoMaxBytes) problems.add([...path, 'logo_file'], `must be at most ${DEFAULTS.logoMaxBytes / 1024} KiB (it is inlined into every page)`)
      else logo = `data:${type};base64,${bytes.toString('base64')}`
    }
  } else if (b.logo_url !== undefined) {
    let url: URL | null = null
    try {
      url = new URL(b.logo_url)
    } catch {}
    // The URL goes into a CSP source list as it is: no characters that would end or split it.
    if (url === null || url.protocol !== 'https:' || url.username !== '' || url.password !== '' || /[\s;,'"]/.test(b.logo_url)) {
      problems.add([...path, 'logo_url'], 'must be an https URL such as https://cdn.example.com/logo.svg (or use logo_file)')
    } else {
      logo = url.href
    }
  }

  const support = b.support?.trim() ?? null
  if (support !== null && support.length > 200) problems.add([...path, 'support'], 'must be at most 200 characters')

  // The brand's logo is settled into one value; `logo_url` is not kept beside it.
  return { ...base.pages, brand: { name: b.name, logo, logoFile, accent, support } }
}

/** WCAG 2 contrast ratio between two `#rrggbb` colours. */
export function contrastRatio (a: string, b: string): number {
  const [la, lb] = [luminance(a), luminance(b)]
  return (Math.max(la, lb) + 0.05) / (Math.min(la, lb) + 0.05)
}

function luminance (hex: string): number {
  const channel = (i: number): number => {
    const c = parseInt(hex.slice(1 + 2 * i, 3 + 2 * i), 16) / 255
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4
  }
  return 0.2126 * channel(0) + 0.7152 * channel(1) + 0.0722 * channel(2)
}
