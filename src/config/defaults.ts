/**
 * Defaults live on the keys in `schema.ts`; `DEFAULTS` is that schema's defaults gathered in the
 * file's own terms, for the few readers outside the config loader. What is kept here is not a
 * key's default but a bound on one, or a value no single key owns.
 */
import { defaultsOf } from './codec.js'
import { ConfigSchema } from './schema.js'
import type { StaticEncode } from '@sinclair/typebox'

type FileDefaults = StaticEncode<typeof ConfigSchema>

const fromSchema = defaultsOf(ConfigSchema) as FileDefaults

export const DEFAULTS = Object.freeze({
  ...fromSchema,
  /**
   * The session cookie's default name; with `secure: true` and no `domain` it takes the `__Host-`
   * prefix (see validate.ts), so it has no single default value under `session.cookie`.
   */
  cookieName: '_portcullis',
  /** Longest `rd` (landing path) a sign-in keeps; a longer one is replaced by `/`. */
  redirectMaxLength: 2048,
  /** Upper bound on `identity.assertion.ttl`: a longer-lived assertion is a bearer token worth stealing. */
  assertionMaxTtl: '5m',
  /** Lower bound on `identity.assertion.rotate`: each new key is announced well before it signs. */
  assertionMinRotate: '1h',
  /** Upper bound on `bearer.clock_skew`. */
  bearerMaxClockSkew: '5m',
  /** Largest `pages.brand.logo_file` (it is inlined into every page). */
  logoMaxBytes: 64 * 1024
})
