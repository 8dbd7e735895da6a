/*
 * DEMO ONLY: the development identity provider as a process of its own, the `provider` service of
 * docker/compose.dev.yaml. Never use it in production: anyone can sign in as any demo account.
 *
 * Environment:
 *   DEV_PROVIDER_PORT             port to listen on (default 4191); 0 takes a free one (then
 *                                 without DEV_PROVIDER_ISSUER), printed in the issuer line
 *   DEV_PROVIDER_ISSUER           issuer URL the browser and the gateway both use
 *                                 (default http://localhost:$DEV_PROVIDER_PORT)
 *   DEV_CLIENT_REDIRECT_URIS      comma-separated redirect URIs of the gateway client (required)
 *   DEV_CLIENT_ID                 default portcullis-demo
 *   DEV_CLIENT_SECRET             default the demo fixture secret
 *   DEV_ACCESS_TOKEN_TTL_SECONDS  default 120, so refreshes show up in the gateway log
 *   DEV_PROVIDER_HOST             where else to serve, beyond loopback (default: nowhere): a
 *                                 comma-separated list of addresses, or 0.0.0.0 (or ::) for
 *                                 every interface address; `--host VALUE` on the command line
 *                                 overrides it. docker/compose.dev.yaml sets 0.0.0.0 so the
 *                                 published port reaches it.
 *
 * Anyone who reaches this provider can sign in as anyone, so it serves only on loopback unless
 * DEV_PROVIDER_HOST says otherwise: an issuer with a non-loopback host needs it too.
 *
 * The issuer is one string for everyone: the browser is sent to it and the gateway calls it, and
 * both compare it with the `iss` of the tokens. The development provider derives its issuer from
 * the host and port it listens on (it has no separate issuer option), so for an issuer such as
 * http://localhost:4191 it listens on loopback, and this entry relays the addresses
 * DEV_PROVIDER_HOST names to it. docker/compose.dev.yaml uses http://provider.localhost:4191
 * instead: the service's own name in the compose network, and this machine in a browser; the
 * provider then listens on the container's address, which DEV_PROVIDER_HOST must allow.
 */
import { setDefaultResultOrder } from 'node:dns'
import { createServer, connect, isIP } from 'node:net'
import type { Server } from 'node:net'
import { networkInterfaces } from 'node:os'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from './accounts.js'
import { startDevProvider } from './provider.js'

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1'])

/**
 * Ports the Fetch standard blocks ("bad ports"): browsers refuse to open them and so does Node's
 * fetch, which the gateway uses for discovery, so a provider there fails in a confusing way. Only
 * those above 1023 are listed, since an unprivileged process cannot listen below that anyway.
 */
const FETCH_BLOCKED_PORTS = new Set([1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080])

interface Settings {
  readonly port: number
  readonly issuer: string
  /** Host name the provider listens on: the issuer's own. */
  readonly host: string
  readonly redirectUris: string[]
  readonly clientId: string
  readonly clientSecret: string
  readonly accessTokenTtlSeconds: number
  /** Addresses to relay to the loopback listener: none, every interface ('all'), or the ones listed. */
  readonly relay: 'none' | 'all' | readonly string[]
}

/** DEV_PROVIDER_HOST, or the value of `--host` when given (it wins). */
function hostOption (env: NodeJS.ProcessEnv, argv: readonly string[]): string | undefined {
  const i = argv.indexOf('--host')
  if (i >= 0) {
    const value = argv[i + 1]
    if (value === undefined || value.startsWith('--')) throw new Error('--host needs a value, e.g. --host 0.0.0.0')
    return value
  }
  const inline = argv.find((a) => a.startsWith('--host='))
  return inline?.slice('--host='.length) ?? env.DEV_PROVIDER_HOST
}

function relayFrom (value: string | undefined): Settings['relay'] {
  if (value === undefined || value.trim() === '') return 'none'
  const list = value.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (list.some((a) => a === '0.0.0.0' || a === '::')) return 'all'
  for (const address of list) {
    if (isIP(address) === 0) throw new Error(`DEV_PROVIDER_HOST must list IP addresses (or be 0.0.0.0 for every interface), got "${address}"`)
  }
  return list
}

function settingsFrom (env: NodeJS.ProcessEnv, argv: readonly string[]): Settings {
  const port = Number(env.DEV_PROVIDER_PORT ?? 4191)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`DEV_PROVIDER_PORT must be a port number, got "${env.DEV_PROVIDER_PORT}"`)
  if (FETCH_BLOCKED_PORTS.has(port)) throw new Error(`DEV_PROVIDER_PORT ${port} is a port that browsers and fetch refuse to connect to; pick another`)
  // Port 0: the issuer is known once the provider listens, so it cannot be given beforehand.
  if (port === 0 && env.DEV_PROVIDER_ISSUER !== undefined) throw new Error('DEV_PROVIDER_PORT 0 (a free port) takes no DEV_PROVIDER_ISSUER: the issuer is http://localhost:<the port it got>')
  const issuer = (env.DEV_PROVIDER_ISSUER ?? `http://localhost:${port}`).replace(/\/+$/, '')
  const url = new URL(issuer)
  if (url.protocol !== 'http:' || url.pathname !== '/' || url.search !== '' || (port !== 0 && url.port !== String(port))) {
    throw new Error(`DEV_PROVIDER_ISSUER must be http://HOST:${port} (the provider serves plain http at the root, on the port it listens on), got "${issuer}"`)
  }
  const redirectUris = (env.DEV_CLIENT_REDIRECT_URIS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (redirectUris.length === 0) throw new Error('DEV_CLIENT_REDIRECT_URIS must list the gateway callback URL(s), e.g. http://localhost:4180/oauth2/callback')
  const ttl = Number(env.DEV_ACCESS_TOKEN_TTL_SECONDS ?? 120)
  if (!Number.isInteger(ttl) || ttl <= 0) throw new Error(`DEV_ACCESS_TOKEN_TTL_SECONDS must be a positive whole number, got "${env.DEV_ACCESS_TOKEN_TTL_SECONDS}"`)
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1')
  const relay = relayFrom(hostOption(env, argv))
  if (!LOOPBACK_NAMES.has(host) && relay === 'none') {
    throw new Error(`DEV_PROVIDER_ISSUER names ${host}, which is not loopback: anyone who reaches this provider can sign in as anyone, so it serves beyond loopback only when DEV_PROVIDER_HOST (or --host) says so`)
  }
  return {
    port,
    issuer,
    host,
    relay,
    redirectUris,
    clientId: env.DEV_CLIENT_ID ?? DEMO_CLIENT_ID,
    clientSecret: env.DEV_CLIENT_SECRET ?? DEMO_CLIENT_SECRET,
    accessTokenTtlSeconds: ttl
  }
}

/**
 * Listens on `port` of the given addresses, or of every non-loopback interface address for
 * 'all', and pipes each connection to `target:port`. A wildcard listener is not possible: it
 * would collide with the provider's own loopback listener on the same port. Link-local IPv6
 * addresses are skipped (they need a scope).
 */
async function relayInterfaces (port: number, target: string, relay: 'all' | readonly string[]): Promise<Server[]> {
  const addresses = relay !== 'all'
    ? relay
    : Object.values(networkInterfaces()).flat()
      .filter((a) => a !== undefined && !a.internal && !(a.family === 'IPv6' && a.address.startsWith('fe80')))
      .map((a) => a!.address)
  const servers: Server[] = []
  for (const address of addresses) {
    const server = createServer((client) => {
      const upstream = connect({ host: target, port })
      client.pipe(upstream).pipe(client)
      const drop = (): void => { client.destroy(); upstream.destroy() }
      client.on('error', drop)
      upstream.on('error', drop)
    })
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, address, () => { resolve() })
      })
      servers.push(server)
    } catch (err) {
      process.stderr.write(`development provider: not relaying ${address}:${port} (${err instanceof Error ? err.message : String(err)})\n`)
    }
  }
  return servers
}

async function main (): Promise<void> {
  const settings = settingsFrom(process.env, process.argv.slice(2))
  const loopback = LOOPBACK_NAMES.has(settings.host)
  // "localhost" must mean 127.0.0.1 here: a container may list ::1 in /etc/hosts without having it.
  if (loopback) setDefaultResultOrder('ipv4first')
  const provider = await startDevProvider({
    host: settings.host,
    port: settings.port,
    clients: [{ client_id: settings.clientId, client_secret: settings.clientSecret, redirect_uris: settings.redirectUris }],
    accessTokenTtlSeconds: settings.accessTokenTtlSeconds
  })
  if (settings.port !== 0 && provider.issuer !== settings.issuer) {
    await provider.close()
    throw new Error(`the provider came up as ${provider.issuer}, not ${settings.issuer}`)
  }
  // The relays serve the port the provider got (the same number as DEV_PROVIDER_PORT unless that is 0).
  const port = Number(new URL(provider.issuer).port)
  const relays = loopback && settings.relay !== 'none' ? await relayInterfaces(port, settings.host === '::1' ? '::1' : '127.0.0.1', settings.relay) : []
  const where = relays.map((r) => { const a = r.address(); return typeof a === 'object' && a !== null ? a.address : '' }).join(', ')
  process.stdout.write(`development provider: issuer ${provider.issuer}${relays.length > 0 ? `, also reachable on ${where}` : ''}\n` +
    `  client ${settings.clientId}, redirect URIs ${settings.redirectUris.join(', ')}\n`)

  // PID 1 in a container: without these handlers SIGTERM would be ignored until the kill timeout.
  const stop = (): void => {
    for (const relay of relays) relay.close()
    void provider.close().then(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

main().catch((err: unknown) => {
  process.stderr.write(`development provider failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
