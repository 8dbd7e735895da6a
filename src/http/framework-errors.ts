import type { AccessOutcome } from '../domain/outcomes.js'
import { randomUUID } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ServerTimeouts } from '../config/types.js'
import { errorInfo, type ErrorCode } from '../errors.js'
import { newRequestState } from './context.js'
import type { RefusedLine } from '../observability/access-log.js'
import { errorHeader, generatedHeader, sendError } from '../render/respond.js'

/*
 * Every answer is the gateway's. Fastify and Node refuse some requests before any hook of ours
 * runs: a URL the router cannot decode (`/%zz`), and at the socket level a request line or header
 * Node's parser rejects, headers that are too large, or a request that took too long. Their
 * default answers echo the path back, lack `nosniff` and the gateway's marker, and leave no access
 * line; these handlers answer them the way every other gateway error is answered.
 */

/** Writes the access line of a request refused before any hook ran (observability/access-log.ts). */
export type SocketErrorLine = (line: RefusedLine) => void

/**
 * Fastify's `frameworkErrors`: a request the router refused (a URL it cannot decode, an
 * over-long parameter). No hook has run for it, so the marker and request id headers and the
 * access line are added here; the body is the gateway's, which never names the path.
 */
export function createFrameworkErrorHandler (line: () => SocketErrorLine | null): (error: Error, request: FastifyRequest, reply: FastifyReply) => void {
  return (_error, request, reply) => {
    if (request.portcullis === null || request.portcullis === undefined) request.portcullis = newRequestState()
    request.portcullis.outcome = 'bad_request'
    reply.header(generatedHeader, 'true').header('x-request-id', request.id)
    reply.raw.once('finish', () => {
      line()?.({ status: reply.statusCode, outcome: 'bad_request', peer: request.socket?.remoteAddress ?? '', method: request.method, requestId: request.id })
    })
    sendError(request, reply, 'PCS_BAD_REQUEST')
  }
}

/**
 * Fastify's `clientErrorHandler`: Node's parser refused the request, or a timeout of
 * `server.timeouts` fired. Answers (when nothing was sent yet on the connection) with the
 * gateway's error body and headers, closes the connection and logs the access line. `line` is
 * read at each call, since the access log is registered after the server exists.
 */
export function createClientErrorHandler (line: () => SocketErrorLine | null): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    // Read before the socket is destroyed, which forgets it.
    const peer = socket.remoteAddress ?? ''
    const [code, outcome]: [ErrorCode, AccessOutcome] = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? ['PCS_REQUEST_TIMEOUT', 'request_timeout']
      : err.code === 'HPE_HEADER_OVERFLOW' ? ['PCS_HEADERS_TOO_LARGE', 'headers_too_large'] : ['PCS_BAD_REQUEST', 'bad_request']
    const { status, message } = errorInfo(code)
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
    if (socket.writable && inFlight?.headersSent !== true) {
      const body = JSON.stringify({ error: code, message })
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
        `content-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `cache-control: no-store\r\nx-content-type-options: nosniff\r\n${generatedHeader}: true\r\n${errorHeader}: ${code}\r\n` +
        `x-request-id: ${randomUUID()}\r\nconnection: close\r\n\r\n${body}`)
    }
    socket.destroy()
    line()?.({ status, outcome, peer })
  }
}

/**
 * Node's server options for `server.timeouts`. The timeouts are checked every quarter of the
 * shorter one (between 250 ms and 5 s), so a connection is closed at most a quarter late.
 */
export function serverTimeouts (t: ServerTimeouts): {
  fastify: { connectionTimeout: number, keepAliveTimeout: number, requestTimeout: number }
  http: { headersTimeout: number, requestTimeout: number, keepAliveTimeout: number, connectionsCheckingInterval: number }
} {
  const check = Math.min(5000, Math.max(250, Math.floor(Math.min(t.headersMs, t.requestMs) / 4)))
  return {
    fastify: { connectionTimeout: t.idleMs, keepAliveTimeout: t.keepAliveMs, requestTimeout: t.requestMs },
    http: { headersTimeout: t.headersMs, requestTimeout: t.requestMs, keepAliveTimeout: t.keepAliveMs, connectionsCheckingInterval: check }
  }
}
