import type { FastifyReply, FastifyRequest } from 'fastify'
import { GatewayError, errorInfo, type ErrorCode } from '../errors.js'
import { errorPage } from './pages.js'

/** Marks every response the gateway generates itself, so users can tell it from the upstream's. */
export const generatedHeader = 'x-portcullis-generated'
/** Carries the error code of a gateway-generated error response. */
export const errorHeader = 'x-portcullis-error'

const pageHeaders = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: under no-referrer browsers send `Origin: null` with the
  // sign-out form's POST, and the cross-site check would refuse our own button.
  'referrer-policy': 'same-origin'
} as const

/** True for a top-level browser navigation (it should see pages and redirects, not JSON). */
export function wantsHtml (request: FastifyRequest): boolean {
  const accept = request.headers.accept
  return typeof accept === 'string' && accept.includes('text/html')
}

/** Sends an HTML page with the gateway's page headers (and `X-Portcullis-Error` when it shows an error). */
export function sendPage (reply: FastifyReply, status: number, html: string, code?: ErrorCode): FastifyReply {
  if (code !== undefined) reply.header(errorHeader, code)
  return reply.code(status).headers(pageHeaders).type('text/html; charset=utf-8').send(html)
}

const titles: Partial<Record<number, string>> = {
  400: 'Bad request',
  401: 'Sign-in required',
  403: 'Access denied',
  404: 'Not found',
  405: 'Method not allowed',
  429: 'Too many requests',
  500: 'Something went wrong',
  502: 'Application unreachable',
  503: 'Temporarily unavailable',
  504: 'Application timed out'
}

/**
 * Sends a gateway error: an HTML page to browsers, JSON `{error, message}` to everything else,
 * with `X-Portcullis-Error`. A 5xx never carries internals: only the registry's message.
 */
export function sendError (request: FastifyRequest, reply: FastifyReply, err: GatewayError | ErrorCode, extra?: { retryAfterSeconds?: number, html?: string, json?: Record<string, unknown> }): FastifyReply {
  const error = typeof err === 'string' ? new GatewayError(err) : err
  const message = error.status >= 500 ? errorInfo(error.code).message : error.message
  reply.header(errorHeader, error.code)
  if (extra?.retryAfterSeconds !== undefined) reply.header('retry-after', String(extra.retryAfterSeconds))
  if (error.status === 503 && extra?.retryAfterSeconds === undefined) reply.header('retry-after', '5')
  // An `api: true` route always answers JSON, whatever the client accepts.
  if (wantsHtml(request) && request.method !== 'HEAD' && request.portcullis?.route?.api !== true) {
    return sendPage(reply, error.status, errorPage(titles[error.status] ?? 'Error', message, error.code, extra?.html ?? ''))
  }
  return reply.code(error.status).header('cache-control', 'no-store').header('x-content-type-options', 'nosniff').type('application/json; charset=utf-8')
    .send(JSON.stringify({ error: error.code, message, ...extra?.json }))
}
