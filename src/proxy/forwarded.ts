/**
 * Who the client is, and how it reached the gateway. `X-Forwarded-*` headers are believed only
 * when they were handed over by a configured trusted proxy; from anyone else they are client
 * input and ignored, since a client could otherwise choose its own IP (and the address access
 * logs and rate limits see) or make the gateway think a plain-HTTP request came over TLS.
 */

import { BlockList, isIP } from 'node:net'
import { BoundedMap } from '../util/bounded-map.js'

export type Protocol = 'http' | 'https'

export interface ForwardedInfo {
  /** The client's address: the nearest untrusted hop. */
  readonly clientIp: string
  /** The `X-Forwarded-For` value to send upstream: the trusted chain, ending with the peer. */
  readonly xff: string
  /** The scheme the client used. */
  readonly proto: Protocol
  /** The host the client asked for, or undefined when it sent none. */
  readonly host: string | undefined
  /** Whether the direct peer is a trusted proxy (its `X-Forwarded-*` values were believed). */
  readonly trusted: boolean
}

export interface Forwarding {
  /** Whether an address (IPv4, IPv6, IPv4-mapped IPv6, optionally bracketed) is a trusted proxy. */
  isTrusted (ip: string): boolean
  /** Resolves the client's address, scheme and host for one request. */
  resolve (remoteAddress: string, headers: Readonly<Record<string, string | string[] | undefined>>, tlsSocket: boolean): ForwardedInfo
}

/**
 * Creates the forwarding policy for the configured trusted proxies (CIDRs or single addresses,
 * IPv4 or IPv6; an empty list trusts nobody). Throws a TypeError naming the entry when one is not
 * a valid address or CIDR; the config schema is expected to have refused it already.
 *
 * When the direct peer is trusted, `X-Forwarded-For` is walked from the right, skipping trusted
 * hops, to find the client; only that trusted part of the chain (plus the peer) is sent on, so an
 * upstream reading the leftmost entry still gets the real client. `X-Forwarded-Proto` is believed
 * when it says `http` or `https`, and `X-Forwarded-Host` when it is a valid `host[:port]`.
 * Otherwise all three are ignored: the peer is the client, the socket gives the scheme and the
 * `Host` header the host. Addresses are reported in plain form (`::ffff:1.2.3.4` as `1.2.3.4`).
 */
export function createForwarding (trustedProxies: readonly string[]): Forwarding {
  const list = new BlockList()
  for (const entry of trustedProxies) addEntry(list, entry)

  // Asked on every request, mostly about the same few peers: answers are remembered (bounded).
  const known = new BoundedMap<string, boolean>(4096)
  function isTrusted (ip: string): boolean {
    if (trustedProxies.length === 0) return false
    const remembered = known.get(ip)
    if (remembered !== undefined) return remembered
    const address = parseAddress(ip)
    const trusted = address !== null && list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4')
    known.set(ip, trusted)
    return trusted
  }

  // The peer's address in plain form, asked on every request about the same few peers (bounded).
  const peers = new BoundedMap<string, string>(4096)
  function plainPeer (remoteAddress: string): string {
    let peer = peers.get(remoteAddress)
    if (peer === undefined) {
      peer = parseAddress(remoteAddress) ?? remoteAddress
      peers.set(remoteAddress, peer)
    }
    return peer
  }

  function resolve (remoteAddress: string, headers: Readonly<Record<string, string | string[] | undefined>>, tlsSocket: boolean): ForwardedInfo {
    const peer = plainPeer(remoteAddress)
    const socketProto: Protocol = tlsSocket ? 'https' : 'http'
    const hostHeader = single(headers.host)
    if (!isTrusted(peer)) return { clientIp: peer, xff: peer, proto: socketProto, host: hostHeader, trusted: false }

    const hops = (joined(headers['x-forwarded-for']) ?? '').split(',').map(h => h.trim()).filter(h => h !== '')
    const chain = [peer]
    let clientIp = peer
    for (let i = hops.length - 1; i >= 0 && isTrusted(clientIp); i--) {
      // An entry that is not an address ends what can be believed; the last hop reached stands.
      const hop = parseAddress(hops[i] as string)
      if (hop === null) break
      clientIp = hop
      chain.unshift(hop)
    }

    const forwardedProto = firstItem(headers['x-forwarded-proto'])?.toLowerCase()
    const proto: Protocol = forwardedProto === 'http' || forwardedProto === 'https' ? forwardedProto : socketProto
    const forwardedHost = firstItem(headers['x-forwarded-host'])
    const host = forwardedHost !== undefined && validHost(forwardedHost) ? forwardedHost : hostHeader
    return { clientIp, xff: chain.join(', '), proto, host, trusted: true }
  }

  return { isTrusted, resolve }
}

function addEntry (list: BlockList, entry: string): void {
  const slash = entry.indexOf('/')
  const address = parseAddress(slash === -1 ? entry : entry.slice(0, slash))
  if (address === null) throw new TypeError(`trusted proxy is not an IP address or CIDR: ${entry}`)
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4'
  if (slash === -1) {
    list.addAddress(address, family)
    return
  }
  const prefixText = entry.slice(slash + 1)
  let prefix = Number(prefixText)
  // An IPv4-mapped IPv6 CIDR (`::ffff:10.0.0.0/104`) was unmapped above: its prefix counts the
  // 96 mapping bits too.
  if (family === 'ipv4' && isIP(entry.slice(0, slash)) === 6) prefix -= 96
  const max = family === 'ipv6' ? 128 : 32
  if (!/^\d{1,3}$/.test(prefixText) || prefix < 0 || prefix > max) throw new TypeError(`trusted proxy has an invalid prefix length: ${entry}`)
  list.addSubnet(address, prefix, family)
}

/**
 * An address in plain form, or null: accepts `1.2.3.4`, `1.2.3.4:port`, `2001:db8::1`,
 * `[2001:db8::1]` and `[2001:db8::1]:port`, and unmaps `::ffff:1.2.3.4`. Zone ids are refused.
 */
function parseAddress (text: string): string | null {
  let s = text.trim()
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(s)
  if (bracketed !== null) {
    s = bracketed[1] as string
    if (isIP(s) !== 6) return null
  }
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(s)
  if (withPort !== null) s = withPort[1] as string
  if (s.includes('%')) return null
  const family = isIP(s)
  if (family === 0) return null
  if (family === 4) return s
  const lower = s.toLowerCase()
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(lower)
  return mapped !== null ? mapped[1] as string : lower
}

/** `host[:port]`: a DNS-style name or bracketed IPv6, port 1-65535. */
function validHost (value: string): boolean {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?)(?::(\d{1,5}))?$/.exec(value)
  if (match === null) return false
  const name = match[1] as string
  if (name.startsWith('[') && isIP(name.slice(1, -1)) !== 6) return false
  const port = match[2]
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535)
}

function single (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function joined (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value
}

/** The first comma-separated item of a header: the value the client-facing proxy set. */
function firstItem (value: string | string[] | undefined): string | undefined {
  const text = joined(value)
  if (text === undefined) return undefined
  const item = (text.split(',')[0] as string).trim()
  return item === '' ? undefined : item
}
