/**
 * Names and attributes of the gateway's own cookies, in one place so that setting and clearing a
 * cookie always use the same Domain, Path, Secure and SameSite (a clear with other attributes
 * would leave the original cookie in the browser).
 */

import type { CookieSerializeOptions } from '@fastify/cookie'
import type { CookieConfig } from '../config/types.js'

/** Attributes accepted by `reply.setCookie` and `reply.clearCookie`. */
export type CookieAttributes = Pick<CookieSerializeOptions, 'httpOnly' | 'secure' | 'sameSite' | 'domain' | 'path' | 'maxAge'>

/** The session cookie's name. */
export function sessionCookieName (config: CookieConfig): string {
  return config.name
}

/**
 * The base name of the short-lived cookies that bind started sign-ins to the browser. Each pending
 * sign-in has its own cookie, named by {@link pendingLoginCookieName}; the bare base name is the
 * single binding cookie of earlier versions, still cleared when seen.
 * It is scoped to the auth prefix, which `__Host-` forbids (that prefix demands `Path=/`): under a
 * `__Host-` session name it takes `__Secure-` instead, which still demands `Secure`.
 */
export function loginCookieName (config: CookieConfig): string {
  const name = /^__host-/i.test(config.name) ? `__Secure-${config.name.slice('__Host-'.length)}` : config.name
  return `${name}_login`
}

/**
 * Whether a cookie name belongs to the gateway: the session cookie, or any name starting with the
 * sign-in binding cookie's name (one or several binding cookies). An upstream's `Set-Cookie` for
 * one of these is dropped, so an application cannot plant or overwrite the gateway's cookies.
 */
export function gatewayCookieMatcher (config: CookieConfig): (name: string) => boolean {
  const session = sessionCookieName(config)
  const login = loginCookieName(config)
  return (name) => name === session || name.startsWith(login)
}

/** Characters of the sign-in's `state` that name its binding cookie. */
const PENDING_ID_LENGTH = 12

/** The binding cookie of the one pending sign-in with this `state`: `<name>_login_<first 12 chars of state>`. */
export function pendingLoginCookieName (config: CookieConfig, state: string): string {
  return `${loginCookieName(config)}_${state.slice(0, PENDING_ID_LENGTH)}`
}

/** True for the session cookie, a pending sign-in's binding cookie, or the legacy binding cookie. */
export function isGatewayCookie (config: CookieConfig, name: string): boolean {
  const login = loginCookieName(config)
  return name === config.name || name === login || (name.startsWith(`${login}_`) && name.length === login.length + 1 + PENDING_ID_LENGTH)
}

/** Every cookie the gateway owns; none of them is ever passed to an upstream. */
export function gatewayCookieNames (config: CookieConfig): readonly string[] {
  return [config.name, loginCookieName(config)]
}

/**
 * The attributes for setting a gateway cookie: always `HttpOnly`, `Secure` and `SameSite` as
 * configured, `Domain` only when one is configured (host-only otherwise), and `Max-Age` in whole
 * seconds (rounded down, so the browser never keeps the cookie longer than the server would honour
 * it) or none for a browser-session cookie when `maxAgeMs` is null.
 */
export function cookieOptions (config: CookieConfig, maxAgeMs: number | null, path = '/'): CookieAttributes {
  const options: CookieAttributes = { ...baseOptions(config), path }
  if (maxAgeMs !== null) options.maxAge = Math.max(0, Math.floor(maxAgeMs / 1000))
  return options
}

/**
 * The attributes for clearing a gateway cookie: the same Domain, Path, Secure and SameSite it was
 * set with, so the browser recognises it as the same cookie (`clearCookie` adds the expiry).
 */
export function clearCookieOptions (config: CookieConfig, path = '/'): CookieAttributes {
  return { ...baseOptions(config), path }
}

function baseOptions (config: CookieConfig): CookieAttributes {
  const options: CookieAttributes = { httpOnly: true, secure: config.secure, sameSite: config.sameSite }
  if (config.domain !== null) options.domain = config.domain
  return options
}
