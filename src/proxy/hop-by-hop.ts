/**
 * Headers that describe one connection and are never forwarded in either direction
 * (RFC 9110 7.6.1), plus `expect`, which the gateway answers itself.
 */
export const hopByHop: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'http2-settings', 'expect'])

/**
 * The lower-case names a `Connection` header lists besides `keep-alive` and `close` (hop-by-hop
 * too, whatever they are), or null when it lists none: the common case costs no allocation.
 */
export function connectionListed (value: string | string[] | undefined): string[] | null {
  if (value === undefined) return null
  if (typeof value === 'string') {
    const lower = value.toLowerCase()
    if (lower === 'keep-alive' || lower === 'close') return null
  }
  const names = (Array.isArray(value) ? value.join(',') : value).split(',').map((name) => name.trim().toLowerCase()).filter((name) => name !== '' && name !== 'keep-alive' && name !== 'close')
  return names.length === 0 ? null : names
}
