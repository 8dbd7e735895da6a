/**
 * Small parsers for the value formats the config file uses (host:port, origins, CIDRs, header and
 * cookie tokens, route paths). Each returns the parsed value or null / a reason, and never throws,
 * so the validator can collect every problem in one pass.
 */
import { isIP } from 'node:net'

/** RFC 9110 `token`: header names and cookie names. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
/** RFC 3986 path characters, without percent-encoding (refused separately with its own reason). */
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]*$/

export function isToken (value: string): boolean {
  return TOKEN.test(value)
}

export function isHostName (value: string): boolean {
  return HOST_NAME.test(value)
}

/** Parses `host:port` or `[ipv6]:port` (port 0-65535; 0 asks the OS for a free port). */
export function parseHostPort (value: string): { host: string, port: number } | null {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value)
  if (match === null) return null
  const port = Number(match[3])
  if (port > 65535) return null
  if (match[1] !== undefined) return isIP(match[1]) === 6 ? { host: match[1], port } : null
  const host = match[2] as string
  return isIP(host) === 4 || isHostName(host) ? { host, port } : null
}

/** Writes a host and port back as `host:port`, bracketing IPv6. */
export function formatHostPort (host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`
}

/** An IP address or a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
export function isIpOrCidr (value: string): boolean {
  const [address, prefix, extra] = value.split('/')
  if (extra !== undefined || address === undefined) return false
  const family = isIP(address)
  if (family === 0) return false
  if (prefix === undefined) return true
  if (!/^\d{1,3}$/.test(prefix)) return false
  return Number(prefix) <= (family === 4 ? 32 : 128)
}

/** Parses an absolute http(s) URL, or returns null. */
export function parseHttpUrl (value: string): URL | null {
  if (!/^https?:\/\//i.test(value)) return null
  try {
    const url = new URL(value)
    return url.hostname === '' ? null : url
  } catch {
    return null
  }
}

/** Why a route or prefix path is unsafe to match on, or null when it is fine. */
export function pathProblem (value: string): string | null {
  if (!value.startsWith('/')) return 'must start with "/"'
  if (value.includes('\\')) return 'must not contain a backslash'
  if (value.includes('%')) return 'must not contain "%" (write the path unencoded)'
  if (!PATH_CHARS.test(value)) return 'must contain only URL path characters (no spaces, "?" or "#")'
  const segments = value.split('/').slice(1, -1)
  const last = value.split('/').at(-1) ?? ''
  if ([...segments, last].some(s => s === '.' || s === '..')) return 'must not contain "." or ".." segments'
  if (segments.includes('')) return 'must not contain "//"'
  return null
}
