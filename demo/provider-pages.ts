/**
 * The interaction pages of the development provider: an account chooser (no password) and
 * automatic consent. A grant is created in code with every scope and claim the client asked for,
 * so the flow is authorize -> chooser -> POST the chosen account -> back to the client's callback,
 * and a later `prompt=consent` round trip passes through without a page.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { DevAccount } from './accounts.js'

/** The interaction record the provider library hands out (only the fields used here). */
export interface InteractionDetails {
  readonly uid: string
  readonly prompt: { readonly name: string, readonly details: Record<string, unknown> }
  readonly params: Record<string, unknown>
  readonly grantId?: string
  readonly session?: { readonly accountId?: string }
}

interface GrantModel {
  readonly accountId?: string
  addOIDCScope (scope: string): void
  addOIDCClaims (claims: string[]): void
  addResourceScope (indicator: string, scope: string): void
  save (): Promise<string>
}

/** The part of the provider library's `Provider` the interaction pages call. */
export interface InteractionHost {
  interactionDetails (req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>
  interactionResult (req: IncomingMessage, res: ServerResponse, result: object,
    options?: { mergeWithLastSubmission?: boolean }): Promise<string>
  readonly Grant: {
    new (properties: { accountId: string, clientId: string }): GrantModel
    find (id: string): Promise<GrantModel | undefined>
  }
}

/** Title of the account chooser; tests and the demo's instructions look for it. */
export const SIGN_IN_TITLE = 'Portcullis development sign-in'

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]+)(\/login|\/abort)?$/
const MAX_FORM_BYTES = 8 * 1024

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml (value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/**
 * Serves `/interaction/:uid` (GET: chooser, or automatic consent), `/interaction/:uid/login`
 * (POST: sign in as the chosen account) and `/interaction/:uid/abort` (POST: access_denied).
 * Returns false when the request is not for an interaction page, so the caller passes it on.
 */
export async function handleInteraction (
  host: InteractionHost,
  findAccount: (sub: string) => DevAccount | undefined,
  listAccounts: () => readonly DevAccount[],
  req: IncomingMessage,
  res: ServerResponse
): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://provider.invalid')
  const match = INTERACTION.exec(url.pathname)
  if (match === null) return false
  const [, uid, action] = match
  try {
    if (action === undefined && req.method === 'GET') {
      const details = await host.interactionDetails(req, res)
      if (details.uid !== uid) throw new Error('this sign-in page belongs to another sign-in attempt')
      if (details.prompt.name === 'login') {
        sendPage(res, 200, SIGN_IN_TITLE, chooserBody(uid, details, listAccounts()))
        return true
      }
      // Any other prompt is consent: a development provider grants everything asked for.
      const accountId = details.session?.accountId
      if (accountId === undefined || findAccount(accountId) === undefined) {
        sendPage(res, 400, 'Unknown account', '<p>The signed-in account no longer exists; start again.</p>')
        return true
      }
      const grantId = await grantEverything(host, details, accountId)
      redirect(res, await host.interactionResult(req, res, { consent: { grantId } }))
      return true
    }
    if (action !== undefined && req.method === 'POST') {
      const form = new URLSearchParams(await readForm(req))
      const details = await host.interactionDetails(req, res)
      if (details.uid !== uid) throw new Error('this sign-in page belongs to another sign-in attempt')
      if (action === '/abort') {
        redirect(res, await host.interactionResult(req, res,
          { error: 'access_denied', error_description: 'the user cancelled the sign-in' },
          { mergeWithLastSubmission: false }))
        return true
      }
      const account = findAccount(form.get('account') ?? '')
      if (account === undefined) {
        sendPage(res, 400, 'Unknown account', '<p>Choose one of the listed accounts.</p>')
        return true
      }
      // Login and consent in one result: the provider resumes straight to the client's callback.
      const grantId = await grantEverything(host, details, account.sub)
      redirect(res, await host.interactionResult(req, res,
        { login: { accountId: account.sub }, consent: { grantId } },
        { mergeWithLastSubmission: false }))
      return true
    }
    sendPage(res, 405, 'Method not allowed', '<p>Method not allowed.</p>')
    return true
  } catch (err) {
    // Expired or foreign interaction cookies are the common case: say so plainly.
    const message = err instanceof Error ? err.message : String(err)
    sendPage(res, 400, 'Sign-in cannot continue', `<p>${escapeHtml(message)}</p><p>Go back to the application and start again.</p>`)
    return true
  }
}

/** Creates (or extends) the grant for `accountId` with every scope, claim and resource scope requested. */
async function grantEverything (host: InteractionHost, details: InteractionDetails, accountId: string): Promise<string> {
  const existing = details.grantId === undefined ? undefined : await host.Grant.find(details.grantId)
  const grant = existing !== undefined && existing.accountId === accountId
    ? existing
    : new host.Grant({ accountId, clientId: String(details.params.client_id) })
  const scope = typeof details.params.scope === 'string' ? details.params.scope : 'openid'
  grant.addOIDCScope(scope)
  const claims = details.prompt.details.missingOIDCClaims
  if (Array.isArray(claims)) grant.addOIDCClaims(claims.map(String))
  const resourceScopes = details.prompt.details.missingResourceScopes
  if (resourceScopes !== null && typeof resourceScopes === 'object') {
    for (const [indicator, scopes] of Object.entries(resourceScopes as Record<string, unknown>)) {
      if (Array.isArray(scopes)) grant.addResourceScope(indicator, scopes.join(' '))
    }
  }
  return await grant.save()
}

function chooserBody (uid: string, details: InteractionDetails, accounts: readonly DevAccount[]): string {
  const buttons = accounts.map((a) => `
      <li><button type="submit" name="account" value="${escapeHtml(a.sub)}" data-email="${escapeHtml(a.email)}">
        <strong>${escapeHtml(a.name)}</strong> &lt;${escapeHtml(a.email)}&gt;
        <small>groups: ${escapeHtml(a.groups.length > 0 ? a.groups.join(', ') : '(none)')}</small>
      </button></li>`).join('')
  return `
    <p class="warning">DEVELOPMENT ONLY: this provider signs anyone in as any listed account, without a password.</p>
    <p>Application <code>${escapeHtml(details.params.client_id)}</code> asks for
      <code>${escapeHtml(details.params.scope ?? 'openid')}</code>. Choose the account to sign in as:</p>
    <form method="post" action="/interaction/${escapeHtml(uid)}/login">
      <ul>${buttons}
      </ul>
    </form>
    <form method="post" action="/interaction/${escapeHtml(uid)}/abort">
      <button type="submit" name="abort" value="1">Cancel sign-in</button>
    </form>`
}

/** Writes a small self-contained HTML page (no external assets, nothing cached). */
export function sendPage (res: ServerResponse, status: number, title: string, body: string): void {
  const html = pageHtml(title, body)
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-store',
    'x-frame-options': 'DENY'
  })
  res.end(html)
}

/**
 * The provider's RP-initiated logout confirmation (its `logoutSource`); `form` is the library's
 * hidden form, which both buttons submit.
 */
export async function logoutSource (ctx: { body: unknown }, form: string): Promise<void> {
  ctx.body = pageHtml('Sign out of the development provider?', `${form}
  <p>The application asks to end your session at the development provider too.</p>
  <p><button autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button></p>
  <p><button type="submit" form="op.logoutForm">No, stay signed in</button></p>`)
}

/** Shown when a logout has no post_logout_redirect_uri to return to. */
export async function postLogoutSuccessSource (ctx: { body: unknown }): Promise<void> {
  ctx.body = pageHtml('Signed out of the development provider', '<p>You are signed out. You can close this page.</p>')
}

/** The provider's error page (its `renderError`): the OAuth error and description, escaped. */
export function errorPageHtml (out: Record<string, unknown>): string {
  const rows = Object.entries(out).map(([k, v]) => `<p><strong>${escapeHtml(k)}</strong>: ${escapeHtml(v)}</p>`).join('')
  return pageHtml('Development provider error', rows)
}

function pageHtml (title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(title)}</title>
  <style>
    body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; }
    .warning { background: #fff3cd; border: 2px solid #b58100; padding: .75rem; font-weight: bold; }
    ul { list-style: none; padding: 0; } li { margin: .5rem 0; }
    button { width: 100%; text-align: left; padding: .75rem; font-size: 1rem; cursor: pointer; }
    small { display: block; color: #555; }
  </style>
</head>
<body>
  <h1>${escapeHtml(title)}</h1>
  ${body}
</body>
</html>
`
}

function redirect (res: ServerResponse, location: string): void {
  res.writeHead(303, { location, 'content-length': '0', 'cache-control': 'no-store' })
  res.end()
}

async function readForm (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_FORM_BYTES) throw new Error('the form is too large')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}
