import type { FastifyRequest } from 'fastify'
import type { Config, RouteConfig } from '../config/types.js'
import { isGatewayError } from '../errors.js'
import type { Logger } from '../observability/logger.js'
import { keyringKeys } from '../session/keys.js'
import type { SessionStore } from '../session/store.js'
import { createKeySealer, loadKeyFile, type SigningKey } from './key.js'
import { createKeyring, type Keyring } from './keyring.js'
import { createAssertionSigner, type AssertionSigner } from './signer.js'

export interface Assertions {
  readonly keyring: Keyring
  readonly signer: AssertionSigner
  /** The gate's `onAllowed` hook: signs the assertion for a signed-in, allowed request. */
  onAllowed (request: FastifyRequest): Promise<void>
  /**
   * {@link Assertions.onAllowed} without waiting: true when the request needs no assertion or got
   * one from the signer's cache; false when `onAllowed` must run.
   */
  onAllowedNow (request: FastifyRequest): boolean
}

export interface AssertionsOptions {
  readonly config: Config
  /** The key from `key_file`, loaded by {@link loadAssertionKey}; null to generate and share keys. */
  readonly fileKey: SigningKey | null
  readonly store: SessionStore
  readonly logger: Logger
  readonly now: () => number
}

/**
 * Loads `identity.assertion.key_file` when the assertion is enabled and a key file is set, or
 * returns null. A file that does not hold an EC P-256 private key rejects with
 * PCS_CONFIG_INVALID naming the key; the composition root calls this before it opens anything,
 * so a bad key stops start-up without leaving a connection behind.
 */
export async function loadAssertionKey (config: Config): Promise<SigningKey | null> {
  const settings = config.identity.assertion
  return settings.enabled && settings.keyFile !== null ? await loadKeyFile(settings.keyFile) : null
}

/**
 * Builds the signed identity assertion from the config: the key (from `key_file`, or generated
 * and shared through the store), the shared keyring, the caching signer, and the hook that puts the assertion on
 * each allowed request for the proxy to send. `aud` is the origin of the route's upstream, so an
 * assertion meant for one application is refused by another that checks its audience.
 */
export function createAssertions (options: AssertionsOptions): Assertions {
  const { config, store, logger, now, fileKey } = options
  const settings = config.identity.assertion
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
  // By upstream URL, not by route object: a config reload replaces the route objects.
  const audiences = new Map<string, string>()
  const audienceOf = (route: RouteConfig): string => {
    let origin = audiences.get(route.upstream)
    if (origin === undefined) {
      origin = new URL(route.upstream).origin
      audiences.set(route.upstream, origin)
    }
    return origin
  }

  return {
    keyring,
    signer,
    onAllowedNow (request) {
      const state = request.portcullis
      if (state.session === null || state.route === null) return true
      const token = signer.cachedAssertion({
        sessionId: state.session.ticket.sid,
        generation: state.session.record.generation,
        identity: state.session.record.identity
      }, audienceOf(state.route))
      if (token === null) return false
      state.assertion = token
      return true
    },
    async onAllowed (request) {
      const state = request.portcullis
      if (state.session === null || state.route === null) return
      const audience = audienceOf(state.route)
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
