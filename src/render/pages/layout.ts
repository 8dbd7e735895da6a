/**
 * The one layout every page of the gateway uses: a centred card with the brand on top, a title,
 * what happened, what to do next, and a footer with the support contact and the error reference.
 *
 * Pages load nothing: the stylesheet is inline and allowed by its hash (no `unsafe-inline`), there
 * is no script, a logo file is a `data:` image and a logo URL is allowed by `img-src` for that one
 * URL. Light and dark follow `prefers-color-scheme`; the accent colour was checked at config load
 * against white button text, and links in dark mode use a lightened accent that keeps 4.5:1.
 */
import { createHash } from 'node:crypto'
import type { BrandConfig } from '../../config/types.js'
import { contrastRatio } from '../../config/validate-pages.js'

export function escapeHtml (value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`)
}

export const tones = ['info', 'success', 'warning', 'error'] as const
export type Tone = typeof tones[number]

/** A link shown as a button (navigation, never a form: no form-action hop to another origin). */
export interface PageAction {
  readonly label: string
  readonly href: string
  readonly primary?: boolean
}

/** What a page says; the layout adds the brand, styles and footer. Text fields are plain text. */
export interface PageView {
  readonly title: string
  readonly tone: Tone
  /** Paragraphs of plain text; `**x**` is shown strong (for an account name). */
  readonly paragraphs: readonly string[]
  /** POST forms (sign-out), shown as buttons before the links; the first is the primary one. */
  readonly forms?: ReadonlyArray<{ readonly action: string, readonly label: string }>
  readonly actions?: readonly PageAction[]
  /** The gateway's error code, shown in the footer as a reference. */
  readonly code?: string
  /** Continue automatically (a navigation, not a form submission) to this URL. */
  readonly continueTo?: string
}

export interface RenderedPage {
  readonly html: string
  readonly csp: string
}

export interface PageRenderer {
  readonly brand: BrandConfig
  /** The provider's name as people know it ("Google", or the issuer's host). */
  readonly providerName: string
  render (view: PageView, requestId?: string): RenderedPage
}

const toneMarks: Record<Tone, string> = { info: 'i', success: '✓', warning: '!', error: '×' }

export function createPageRenderer (brand: BrandConfig, providerName: string): PageRenderer {
  const style = stylesheet(brand.accent)
  const styleHash = createHash('sha256').update(style).digest('base64')
  const imgSrc = brand.logo === null ? "'none'" : brand.logo.startsWith('data:') ? 'data:' : brand.logo
  const csp = `default-src 'none'; style-src 'sha256-${styleHash}'; img-src ${imgSrc}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`
  const logo = brand.logo === null ? '' : `<img class="logo" src="${escapeHtml(brand.logo)}" alt="" width="32" height="32">`
  const header = `<header class="brand">${logo}<span class="brand-name">${escapeHtml(brand.name)}</span></header>`
  const support = brand.support === null ? '' : `<p>Need help? Contact ${supportLink(brand.support)}.</p>`

  return {
    brand,
    providerName,
    render (view, requestId) {
      const paragraphs = view.paragraphs.map((p) => `<p>${inline(p)}</p>`).join('')
      const forms = view.forms ?? []
      const form = forms.map((f, i) =>
        `<form method="post" action="${escapeHtml(f.action)}"><button type="submit" class="button ${i === 0 ? 'primary' : 'secondary'}">${escapeHtml(f.label)}</button></form>`).join('')
      const links = (view.actions ?? []).map((a) =>
        `<a class="button ${a.primary === true && forms.length === 0 ? 'primary' : 'secondary'}" href="${escapeHtml(a.href)}">${escapeHtml(a.label)}</a>`).join('')
      const actions = form + links === '' ? '' : `<div class="actions">${form}${links}</div>`
      const reference = [view.code, requestId === undefined ? undefined : `request ${requestId}`].filter((x) => x !== undefined).join(' · ')
      const footer = support + (reference === '' ? '' : `<p class="reference">Reference: <code>${escapeHtml(reference)}</code></p>`)
      const refresh = view.continueTo === undefined ? '' : `<meta http-equiv="refresh" content="0;url=${escapeHtml(view.continueTo)}">`
      const html = '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
        '<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="color-scheme" content="light dark">' +
        '<meta name="robots" content="noindex">' + refresh +
        `<title>${escapeHtml(view.title)} · ${escapeHtml(brand.name)}</title><style>${style}</style></head><body>` +
        `<main class="card tone-${view.tone}" aria-labelledby="title">${header}` +
        `<div class="mark" aria-hidden="true">${toneMarks[view.tone]}</div>` +
        `<h1 id="title">${escapeHtml(view.title)}</h1>${paragraphs}${actions}` +
        (footer === '' ? '' : `<footer>${footer}</footer>`) +
        '</main></body></html>'
      return { html, csp }
    }
  }
}

/** `**text**` becomes strong; everything else is escaped. */
function inline (text: string): string {
  return text.split('**').map((part, i) => i % 2 === 1 ? `<strong>${escapeHtml(part)}</strong>` : escapeHtml(part)).join('')
}

function supportLink (support: string): string {
  if (/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(support)) return `<a href="mailto:${escapeHtml(support)}">${escapeHtml(support)}</a>`
  if (/^https:\/\/\S+$/.test(support)) return `<a href="${escapeHtml(support)}">${escapeHtml(support.replace(/^https:\/\//, ''))}</a>`
  return escapeHtml(support)
}

/** The accent mixed with white until it reads at 4.5:1 on the dark card (links in dark mode). */
function lightened (accent: string, background: string): string {
  for (let step = 0; step <= 20; step++) {
    const mix = (i: number): number => {
      const c = parseInt(accent.slice(1 + 2 * i, 3 + 2 * i), 16)
      return Math.round(c + (255 - c) * step / 20)
    }
    const hex = `#${[0, 1, 2].map((i) => mix(i).toString(16).padStart(2, '0')).join('')}`
    if (contrastRatio(hex, background) >= 4.5) return hex
  }
  return '#ffffff'
}

function stylesheet (accent: string): string {
  const darkCard = '#1c2128'
  return ':root{--bg:#f3f4f6;--card:#fff;--text:#1b1f24;--muted:#4f5761;--line:#d9dde3;' +
    `--accent:${accent};--link:${accent};--on-accent:#fff;--info:#1f5fbf;--success:#1a7f37;--warning:#9a6700;--error:#c62828}` +
    '@media (prefers-color-scheme:dark){:root{--bg:#0f1216;' + `--card:${darkCard};` + '--text:#e6e8eb;--muted:#aab2bc;--line:#363d47;' +
    `--link:${lightened(accent, darkCard)};--info:#6ea8ff;--success:#4ac26b;--warning:#d4a72c;--error:#ff7b72}}` +
    '*{box-sizing:border-box}html{background:var(--bg)}' +
    'body{margin:0;min-height:100vh;display:flex;align-items:flex-start;justify-content:center;padding:8vh 1rem 2rem;' +
    'font:1rem/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--text);background:var(--bg)}' +
    '.card{width:100%;max-width:30rem;background:var(--card);border:1px solid var(--line);border-radius:14px;' +
    'padding:2rem 2rem 1.5rem;box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 24px rgba(0,0,0,.06)}' +
    '.brand{display:flex;align-items:center;gap:.6rem;margin:0 0 1.75rem;font-weight:600;font-size:1.05rem}' +
    '.logo{width:32px;height:32px;object-fit:contain}' +
    '.mark{width:2.5rem;height:2.5rem;border-radius:50%;display:flex;align-items:center;justify-content:center;' +
    'font-weight:700;font-size:1.25rem;color:var(--card);background:var(--info);margin-bottom:1rem}' +
    '.tone-success .mark{background:var(--success)}.tone-warning .mark{background:var(--warning)}.tone-error .mark{background:var(--error)}' +
    'h1{font-size:1.5rem;line-height:1.25;margin:0 0 .75rem}p{margin:0 0 .9rem}' +
    'a{color:var(--link);text-underline-offset:2px}' +
    '.actions{display:flex;flex-wrap:wrap;gap:.75rem;margin:1.5rem 0 .5rem}.actions form{margin:0}' +
    '.button{display:inline-flex;align-items:center;justify-content:center;min-height:2.75rem;padding:.6rem 1.25rem;' +
    'border-radius:8px;font:inherit;font-weight:600;text-decoration:none;cursor:pointer;border:2px solid var(--accent)}' +
    '.button.primary{background:var(--accent);color:var(--on-accent)}' +
    '.button.secondary{background:transparent;color:var(--link);border-color:var(--line)}' +
    '.button:hover{filter:brightness(1.08)}' +
    ':focus-visible{outline:3px solid var(--link);outline-offset:3px}' +
    'footer{margin-top:1.5rem;padding-top:1rem;border-top:1px solid var(--line);color:var(--muted);font-size:.875rem}' +
    'footer p{margin:0 0 .4rem}code{font:.85em ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}' +
    '@media (max-width:30rem){body{padding:1rem .75rem}.card{padding:1.5rem 1.25rem 1rem;border-radius:10px}' +
    '.actions{flex-direction:column}.actions .button,.actions form,.actions form .button{width:100%}}'
}
