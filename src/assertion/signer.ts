import { randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import type { Identity } from '../domain/types.js'
import type { Keyring } from './keyring.js'
import { BoundedMap } from '../util/bounded-map.js'

/*
 * Signs the identity assertion sent upstream, and caches it. A signature costs far more than the
 * rest of the gateway's work on a request, and a session's requests to one upstream would all
 * carry the same claims anyway, so the signed token is kept per session, session generation
 * (a refresh may change the groups), audience and key, and reused while more than half of its
 * lifetime is left: an upstream always receives an assertion valid for at least ttl / 2, and a
 * busy session costs one signature per ttl / 2 instead of one per request.
 */

export interface AssertionSubject {
  /** Identifies the session (its store key); a cache key only, never sent. */
  readonly sessionId: string
  /** The session's generation: a refreshed session gets a new assertion. */
  readonly generation: number
  readonly identity: Identity
}

export interface AssertionSignerOptions {
  readonly keyring: Keyring
  /** `iss`: the gateway's public URL. */
  readonly issuer: string
  readonly ttlMs: number
  readonly now: () => number
  /** Most assertions kept; the oldest go first. */
  readonly maxEntries?: number
}

export interface AssertionSigner {
  /** The assertion for `subject` addressed to `audience` (the upstream's origin). */
  assertionFor (subject: AssertionSubject, audience: string): Promise<string>
  /**
   * The assertion {@link AssertionSigner.assertionFor} would return from its cache, when that is
   * known without waiting (a reusable token signed with the key in use now); otherwise null.
   */
  cachedAssertion (subject: AssertionSubject, audience: string): string | null
  /** How many assertions have been signed (not served from the cache). */
  readonly signed: number
}

interface Cached {
  readonly kid: string
  readonly token: string
  /** Expiry in epoch ms. */
  readonly expiresAt: number
}

/** Creates the assertion signer: ES256, `kid` in the header, claims iss/aud/sub/email/groups/iat/exp/jti. */
export function createAssertionSigner (options: AssertionSignerOptions): AssertionSigner {
  const { keyring, issuer, now } = options
  const maxEntries = options.maxEntries ?? 10_000
  // Whole seconds, as JWT times are: exp - iat is exactly the configured lifetime.
  const ttlSeconds = Math.max(1, Math.floor(options.ttlMs / 1000))
  const reuseMs = (ttlSeconds * 1000) / 2
  const cache = new BoundedMap<string, Cached>(maxEntries)
  let signed = 0

  async function sign (subject: AssertionSubject, audience: string, t: number): Promise<Cached> {
    const key = await keyring.signingKey()
    const iat = Math.floor(t / 1000)
    const exp = iat + ttlSeconds
    const { identity } = subject
    const token = await new SignJWT({ email: identity.email, groups: [...identity.groups] })
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(identity.sub)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(key.privateKey)
    signed += 1
    return { kid: key.kid, token, expiresAt: exp * 1000 }
  }

  return {
    cachedAssertion (subject, audience) {
      const hit = cache.get(`${subject.sessionId}\0${subject.generation}\0${audience}`)
      if (hit === undefined || hit.expiresAt - now() <= reuseMs) return null
      return keyring.signingKeyNow()?.kid === hit.kid ? hit.token : null
    },

    async assertionFor (subject, audience) {
      const t = now()
      const cacheKey = `${subject.sessionId}\0${subject.generation}\0${audience}`
      const hit = cache.get(cacheKey)
      if (hit !== undefined && hit.expiresAt - t > reuseMs) {
        // Only a token signed with the key in use now: after a rotation every session moves on.
        const key = await keyring.signingKey()
        if (key.kid === hit.kid) return hit.token
      }
      const fresh = await sign(subject, audience, t)
      cache.set(cacheKey, fresh)
      return fresh.token
    },
    get signed () { return signed }
  }
}
