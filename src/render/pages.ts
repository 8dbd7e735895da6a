/**
 * The few HTML pages the gateway itself shows. Every interpolated value is escaped; pages load no
 * scripts and are served with a strict Content-Security-Policy (see `respond.ts`).
 */

import type { ErrorCode } from '../errors.js'

export function escapeHtml (value: string): string {
  return value.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`)
}

const style = 'body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}' +
  'h1{font-size:1.4rem}code{background:#f3f3f3;padding:.1rem .3rem}button,a.button{font:inherit;padding:.4rem 1rem;' +
  'border:1px solid #888;border-radius:4px;background:#f7f7f7;color:#222;text-decoration:none;cursor:pointer}' +
  '.meta{color:#777;font-size:.85rem}'

/** A complete page: title, paragraphs (already escaped HTML), and an optional footer line. */
export function page (title: string, bodyHtml: string, meta?: string): string {
  return '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width,initial-scale=1">' +
    `<title>${escapeHtml(title)}</title><style>${style}</style></head><body>` +
    `<h1>${escapeHtml(title)}</h1>${bodyHtml}` +
    (meta === undefined ? '' : `<p class="meta">${escapeHtml(meta)}</p>`) +
    '</body></html>'
}

/** A sign-out form (POST, so a link or an image cannot sign anyone out). */
export function signOutForm (action: string, label = 'Sign out'): string {
  return `<form method="post" action="${escapeHtml(action)}"><button type="submit">${escapeHtml(label)}</button></form>`
}

export function errorPage (title: string, message: string, code: ErrorCode, extraHtml = ''): string {
  return page(title, `<p>${escapeHtml(message)}</p>${extraHtml}`, `Portcullis · ${code}`)
}

/**
 * The 403 page: who is signed in and how to switch accounts, without revealing the rules. With
 * `link`, sign-out is a link to the sign-out page instead of a form: a forward-auth answer is
 * shown on the application's origin, where a form posting to the gateway would be refused.
 */
export function forbiddenPage (email: string, signOutAction: string, link = false): string {
  const label = 'Sign out and use another account'
  return page('Access denied',
    `<p>You are signed in as <strong>${escapeHtml(email)}</strong>, which is not allowed to use this page.</p>` +
    '<p>If you should have access, ask the owner of this application, or sign in with another account.</p>' +
    (link ? `<p><a class="button" href="${escapeHtml(signOutAction)}">${escapeHtml(label)}</a></p>` : signOutForm(signOutAction, label)),
    'Portcullis · PCS_FORBIDDEN')
}

export function signOutPage (action: string, email: string | null): string {
  const who = email === null ? '<p>You are not signed in.</p>' : `<p>Signed in as <strong>${escapeHtml(email)}</strong>.</p>`
  return page('Sign out', who + signOutForm(action), 'Portcullis')
}
