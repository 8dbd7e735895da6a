import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as client from 'openid-client'
import t from 'tap'
import { discoveryFailureReason } from '../../src/oidc/provider.js'
import { closedPort, listenOnLoopback } from '../helpers/listen.js'

/** The reason the gateway logs when discovery of `issuer` fails, from a real discovery attempt. */
async function reasonFor (issuer: string): Promise<string> {
  try {
    await client.discovery(new URL(issuer), 'client', { client_secret: 'secret' }, client.ClientSecretPost('secret'),
      { timeout: 3, execute: issuer.startsWith('http:') ? [client.allowInsecureRequests] : [] })
  } catch (err) {
    return discoveryFailureReason(err, issuer, 3000)
  }
  throw new Error('discovery succeeded')
}

t.test('discovery failure: a refused connection says so, not "fetch failed"', async (t) => {
  const port = await closedPort()
  t.equal(await reasonFor(`http://127.0.0.1:${port}`), `the connection to 127.0.0.1:${port} was refused (nothing listens there)`)
})

t.test('discovery failure: an unknown host name is a DNS failure', async (t) => {
  t.match(await reasonFor('https://no-such-host.invalid'), /^the provider's host name no-such-host\.invalid cannot be resolved \(DNS (ENOTFOUND|EAI_AGAIN|EAI_NONAME|EAI_FAIL)\)$/)
})

t.test('discovery failure: an HTTP error answer names the status', async (t) => {
  const server = createServer((_req, res) => { res.writeHead(404).end('not here') })
  const url = await listenOnLoopback(server)
  t.teardown(() => server.close())
  t.match(await reasonFor(url), /^the provider answered HTTP 404 for http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration$/)
})

t.test('discovery failure: an untrusted certificate is a TLS failure naming the code', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'))
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  const server = createHttpsServer({ key: readFileSync(join(dir, 'k.pem')), cert: readFileSync(join(dir, 'c.pem')) }, (_req, res) => { res.end('{}') })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => server.close())
  const port = (server.address() as { port: number }).port
  t.match(await reasonFor(`https://127.0.0.1:${port}`), /^the TLS connection to 127\.0\.0\.1:\d+ failed: (DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)/)
})
