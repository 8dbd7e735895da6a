import type { FastifyInstance } from 'fastify'
import type { Config } from '../config/types.js'
import { isGatewayError } from '../errors.js'
import { sendError } from '../render/respond.js'
import type { Keyring } from './keyring.js'

/**
 * How long clients may cache the key set. Short, and well under the time a generated key is
 * published before it signs, so a cache that honours it always holds the next key in time.
 */
export const JWKS_MAX_AGE_SECONDS = 60

/**
 * Registers `GET /jwks.json` under the auth prefix: the public keys that verify the assertion
 * header (every key that signed or will soon sign an assertion not yet expired), public and
 * cacheable for a short time. With the assertion disabled the set is empty.
 */
export function registerJwks (app: FastifyInstance, options: { config: Config, keyring: Keyring | null }): void {
  const { authPrefix } = options.config.server
  app.get(`${authPrefix}/jwks.json`, { config: { gateway: true } }, async (request, reply) => {
    try {
      const keys = options.keyring === null ? [] : await options.keyring.publicKeys()
      return reply
        .header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
        .type('application/jwk-set+json')
        .send(JSON.stringify({ keys }))
    } catch (err) {
      if (isGatewayError(err)) return sendError(request, reply, err)
      throw err
    }
  })
}
