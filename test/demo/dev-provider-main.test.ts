import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { ensureBuilt, root } from '../helpers/build.js'

/*
 * The development provider's own process (docker/compose.dev.yaml's `provider` service): it lets
 * anyone sign in as anyone, so it must serve on loopback only unless told otherwise. Its listening
 * sockets are read from /proc/net/tcp and tcp6, which list every socket bound on this machine.
 */

const main = join(root, 'dist/demo/dev-provider-main.js')
ensureBuilt('dist/demo/dev-provider-main.js', ['demo'])

/** The local addresses of the TCP sockets listening on `port` (IPv4 dotted, IPv6 as 32 hex digits). */
function listeners (port: number): string[] {
  const found: string[] = []
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try { text = readFileSync(file, 'utf8') } catch { continue }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length < 4 || fields[3] !== '0A') continue
      const [hex, portHex] = (fields[1] ?? '').split(':') as [string, string]
      if (parseInt(portHex, 16) !== port) continue
      found.push(hex.length === 8 ? [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.') : hex)
    }
  }
  return found.sort()
}

const IPV6_LOOPBACK = '00000000000000000000000001000000'
const isLoopback = (address: string): boolean => address.startsWith('127.') || address === IPV6_LOOPBACK

/** Starts the provider on DEV_PROVIDER_PORT 0; `port` is the one it printed in its issuer line (0 when it printed none). */
async function start (t: Test, env: Record<string, string>, args: string[] = []): Promise<{ port: number, out: () => string, child: ChildProcess }> {
  const child = spawn(process.execPath, [main, ...args], {
    env: { PATH: process.env.PATH ?? '', DEV_PROVIDER_PORT: '0', DEV_CLIENT_REDIRECT_URIS: 'http://127.0.0.1:4180/oauth2/callback', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill('SIGKILL') })
  let out = ''
  child.stdout!.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { out += c.toString() })
  // Bounded: 20 s for the process to announce itself or exit.
  for (let i = 0; i < 200 && !out.includes('development provider') && child.exitCode === null; i++) await new Promise((resolve) => setTimeout(resolve, 100))
  const port = Number(/issuer http:\/\/localhost:(\d+)/.exec(out)?.[1] ?? 0)
  return { port, out: () => out, child }
}

t.test('dev provider: without DEV_PROVIDER_HOST it listens on loopback only', async (t) => {
  const { port, out } = await start(t, {})
  t.match(out(), /development provider: issuer http:\/\/localhost:\d+\n/, out())
  t.notMatch(out(), /also reachable/)
  const bound = listeners(port)
  t.ok(bound.length > 0, `listening (${bound.join(', ')})`)
  t.same(bound.filter((a) => !isLoopback(a)), [], 'no listener beyond loopback, none on a wildcard address')
})

t.test('dev provider: DEV_PROVIDER_HOST, or --host, names the addresses it also serves on', async (t) => {
  const viaEnv = await start(t, { DEV_PROVIDER_HOST: '127.0.0.2' })
  t.same(listeners(viaEnv.port), ['127.0.0.1', '127.0.0.2'], viaEnv.out())
  const served = await fetch(`http://127.0.0.2:${viaEnv.port}/.well-known/openid-configuration`)
  t.equal(served.status, 200, 'the relayed address reaches the provider')
  const viaFlag = await start(t, { DEV_PROVIDER_HOST: '0.0.0.0' }, ['--host', '127.0.0.3'])
  t.same(listeners(viaFlag.port), ['127.0.0.1', '127.0.0.3'], 'the flag wins over the environment')
})

t.test('dev provider: an issuer beyond loopback needs the explicit option; a bad value is refused', async (t) => {
  // Refused before it listens: the port is never bound.
  const port = 4191
  const refused = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', DEV_PROVIDER_PORT: String(port), DEV_PROVIDER_ISSUER: `http://192.0.2.10:${port}`, DEV_CLIENT_REDIRECT_URIS: 'http://127.0.0.1:4180/oauth2/callback' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let err = ''
  refused.stderr.on('data', (c: Buffer) => { err += c.toString() })
  const code = await new Promise<number | null>((resolve) => refused.on('exit', resolve))
  t.equal(code, 1)
  t.match(err, /not loopback.*DEV_PROVIDER_HOST/)
  const bad = await start(t, { DEV_PROVIDER_HOST: 'every-interface' })
  await new Promise((resolve) => bad.child.exitCode !== null ? resolve(null) : bad.child.on('exit', resolve))
  t.equal(bad.child.exitCode, 1)
  t.match(bad.out(), /DEV_PROVIDER_HOST must list IP addresses/)
  const zero = await start(t, { DEV_PROVIDER_ISSUER: 'http://localhost:4191' })
  await new Promise((resolve) => zero.child.exitCode !== null ? resolve(null) : zero.child.on('exit', resolve))
  t.equal(zero.child.exitCode, 1)
  t.match(zero.out(), /DEV_PROVIDER_PORT 0 \(a free port\) takes no DEV_PROVIDER_ISSUER/)
})
