import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import Fastify from 'fastify'
import type { Config } from '../config/types.js'
import { isGatewayError } from '../errors.js'
import type { SessionIndex } from '../session/session-index.js'
import type { AuditLogger } from '../observability/audit.js'
import type { Revoker } from '../session/revoke.js'
import { selectorFrom, sessionView } from './session-view.js'

/*
 * The admin listener (`admin.listen`, off by default): the session listing and revocation of
 * `portcullis sessions` over HTTP, for automation. Its own address, so it can stay on a private
 * interface; every request needs `Authorization: Bearer <token>` with the token of
 * `admin.token_file`, compared in constant time. Plain HTTP: no TLS and no mTLS here (put it
 * behind a proxy that terminates mTLS when it must leave the host).
 *
 *   GET  /sessions[?email=E]                    → 200 {"sessions":[...]}
 *   POST /sessions/revoke  {"email":E} | {"session":REF} | {"all":true}
 *                                               → 200 {"revoked":["<ref>", ...]}
 */

export interface AdminServer {
  readonly url: string
  close (): Promise<void>
}

export interface AdminServerOptions {
  readonly config: Config
  readonly index: SessionIndex
  readonly revoker: Revoker
  readonly logger: AuditLogger
}

/** Starts the admin listener on `config.admin.listen` (which must be set). */
export async function startAdminServer (options: AdminServerOptions): Promise<AdminServer> {
  const { config, index, revoker } = options
  const listen = config.admin.listen!
  const token = readFileSync(config.admin.tokenFile!, 'utf8').trim()
  if (token.length < 16) throw new Error(`admin.token_file ${config.admin.tokenFile}: the token must be at least 16 characters`)
  const expected = createHash('sha256').update(token).digest()

  function authorised (header: string | undefined): boolean {
    const given = typeof header === 'string' && header.startsWith('Bearer ') ? header.slice(7).trim() : ''
    // Hashes of equal length, so the comparison takes the same time whatever was sent.
    return timingSafeEqual(createHash('sha256').update(given).digest(), expected)
  }

  const app = Fastify({ logger: false, bodyLimit: 4096, return503OnClosing: true, forceCloseConnections: true })
  app.addHook('onRequest', async (request, reply) => {
    reply.header('cache-control', 'no-store')
    if (!authorised(request.headers.authorization)) {
      return await reply.code(401).header('www-authenticate', 'Bearer realm="portcullis-admin"').send({ error: 'unauthorized' })
    }
  })
  app.setErrorHandler(async (error: Error & { statusCode?: number }, _request, reply) => {
    if (isGatewayError(error)) return await reply.code(error.status).send({ error: error.code })
    const status = error.statusCode !== undefined && error.statusCode < 500 ? error.statusCode : 500
    return await reply.code(status).send({ error: status < 500 ? 'invalid_request' : 'internal_error' })
  })
  app.setNotFoundHandler(async (_request, reply) => await reply.code(404).send({ error: 'not_found' }))

  app.get('/sessions', async (request) => {
    const email = (request.query as Record<string, unknown>).email
    const sessions = await index.find(typeof email === 'string' ? { email } : { all: true })
    return { sessions: sessions.map(sessionView) }
  })
  app.post('/sessions/revoke', async (request, reply) => {
    const body = request.body
    const selector = typeof body === 'object' && body !== null ? selectorFrom(body as Record<string, unknown>) : null
    if (selector === null) return await reply.code(400).send({ error: 'invalid_request', error_description: 'send exactly one of {"email":E}, {"session":REF} or {"all":true}' })
    const ended = await revoker.revoke(selector, { by: 'admin_api', reason: 'operator', client: request.ip, userAgent: request.headers['user-agent'] ?? null })
    return { revoked: ended.map((s) => s.ref) }
  })

  const url = await app.listen({ host: listen.host, port: listen.port })
  return { url, close: () => app.close() }
}
