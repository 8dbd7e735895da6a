import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DEFAULTS } from '../config/defaults.js'
import { GatewayError, errorInfo, type ErrorCode } from '../errors.js'
import { createPageRenderer, errorView, type PageAction, type PageRenderer, type PageView, type ViewContext } from './pages.js'

/** Marks every response the gateway generates itself, so users can tell it from the upstream's. */
export const generatedHeader = 'x-portcullis-generated'
/** Carries the error code of a gateway-generated error response. */
export const errorHeader = 'x-portcullis-error'

declare module 'fastify' {
  interface FastifyInstance {
    /** The branded page renderer (decorated once in app.ts; a default brand otherwise). */
    portcullisPages?: PageRenderer
  }
}

const pageHeaders = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: under no-referrer browsers send `Origin: null` with the
  // sign-out form's POST, and the cross-site check would refuse our own button.
  'referrer-policy': 'same-origin'
} as const

/** The CSP of a page given as finished HTML (no hash known for its inline style). */
const legacyCsp = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

const defaultRenderer = createPageRenderer(
  { name: DEFAULTS.pages.brand.name, logo: null, logoFile: null, accent: DEFAULTS.pages.brand.accent, support: null },
  'your identity provider')

/** The renderer of the gateway that serves this reply. */
export function pagesOf (server: FastifyInstance): PageRenderer {
  return server.portcullisPages ?? defaultRenderer
}

/** The wording context of the gateway that serves this reply. */
export function viewContext (reply: FastifyReply): ViewContext {
  const pages = pagesOf(reply.server)
  return { brandName: pages.brand.name, providerName: pages.providerName }
}

/** True for a top-level browser navigation (it should see pages and redirects, not JSON). */
export function wantsHtml (request: FastifyRequest): boolean {
  const accept = request.headers.accept
  return typeof accept === 'string' && accept.includes('text/html')
}

/** Sends a page (rendered in the gateway's branded layout) with the gateway's page headers (and `X-Portcullis-Error` when it shows an error). */
export function sendPage (reply: FastifyReply, status: number, page: PageView | string, code?: ErrorCode): FastifyReply {
  if (code !== undefined) reply.header(errorHeader, code)
  const { html, csp } = typeof page === 'string' ? { html: page, csp: legacyCsp } : pagesOf(reply.server).render(page, reply.request.id)
  return reply.code(status).headers(pageHeaders).header('content-security-policy', csp).type('text/html; charset=utf-8').send(html)
}

/**
 * Sends a gateway error: an HTML page to browsers, JSON `{error, message}` to everything else,
 * with `X-Portcullis-Error`. A 5xx never carries internals: only the registry's message.
 * `actions` replace the page's default next step (a link to the start page).
 */
export function sendError (request: FastifyRequest, reply: FastifyReply, err: GatewayError | ErrorCode, extra?: { retryAfterSeconds?: number, actions?: readonly PageAction[], json?: Record<string, unknown> }): FastifyReply {
  const error = typeof err === 'string' ? new GatewayError(err) : err
  const message = error.status >= 500 ? errorInfo(error.code).message : error.message
  reply.header(errorHeader, error.code)
  if (extra?.retryAfterSeconds !== undefined) reply.header('retry-after', String(extra.retryAfterSeconds))
  if (error.status === 503 && extra?.retryAfterSeconds === undefined) reply.header('retry-after', '5')
  // An `api: true` route always answers JSON, whatever the client accepts.
  if (wantsHtml(request) && request.method !== 'HEAD' && request.portcullis?.route?.api !== true) {
    const view = errorView(viewContext(reply), error.code, error.status, {
      ...(extra?.actions === undefined ? {} : { actions: extra.actions }),
      ...(extra?.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: extra.retryAfterSeconds })
    })
    return sendPage(reply, error.status, view)
  }
  return reply.code(error.status).header('cache-control', 'no-store').header('x-content-type-options', 'nosniff').type('application/json; charset=utf-8')
    .send(JSON.stringify({ error: error.code, message, ...extra?.json }))
}
