import type { FastifyRequest } from 'fastify'
import type { Config, RouteConfig } from '../config/types.js'
import { isGatewayError } from '../errors.js'
import type { Logger } from '../observability/logger.js'
import { keyringKeys } from '../session/keys.js'
import type { SessionStore } from '../session/store.js'
import { createKeySealer, loadKeyFile } from './key.js'
import { createKeyring, type Keyring } from './keyring.js'
import { createAssertionSigner, type AssertionSigner } from './signer.js'

export interface Assertions {
  readonly keyring: Keyring
  readonly signer: AssertionSigner
  /** The gate's `onAllowed` hook: signs the assertion for a signed-in, allowed request. */
  onAllowed (request: FastifyRequest): Promise<void>
}

export interface AssertionsOptions {
  readonly config: Config
  readonly store: SessionStore
  readonly logger: Logger
  readonly now: () => number
}

/**
 * Builds the signed identity assertion from the config: the key (from `key_file`, which must
 * hold an EC P-256 private key or start-up fails naming the key, or generated and shared through
 * the store), the shared keyring, the caching signer, and the hook that puts the assertion on
 * each allowed request for the proxy to send. `aud` is the origin of the route's upstream, so an
 * assertion meant for one application is refused by another that checks its audience.
 */
export async function createAssertions (options: AssertionsOptions): Promise<Assertions> {
  const { config, store, logger, now } = options
  const settings = config.identity.assertion
  const fileKey = settings.keyFile === null ? null : await loadKeyFile(settings.keyFile)
  const keyring = createKeyring({
    store,
    keys: keyringKeys(config.redis.keyPrefix),
    sealer: createKeySealer(config.session.cookie.secrets),
    fileKey,
    ttlMs: settings.ttlMs,
    rotateMs: settings.rotateMs,
    now,
    logger
  })
  const signer = createAssertionSigner({ keyring, issuer: config.server.publicUrl, ttlMs: settings.ttlMs, now })
  const audiences = new Map<RouteConfig, string>(config.routes.map((route) => [route, new URL(route.upstream).origin]))

  return {
    keyring,
    signer,
    async onAllowed (request) {
      const state = request.portcullis
      const audience = state.route === null ? undefined : audiences.get(state.route)
      if (state.session === null || audience === undefined) return
      try {
        state.assertion = await signer.assertionFor({
          sessionId: state.session.ticket.sid,
          generation: state.session.record.generation,
          identity: state.session.record.identity
        }, audience)
      } catch (err) {
        // Fail closed: without an assertion the upstream is not reached.
        if (isGatewayError(err)) state.outcome = 'store_unavailable'
        throw err
      }
    }
  }
}
