import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { request as httpsRequest } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { startDemoApp } from '../../demo/upstream.js'
import { spawnGateway, writeConfigFile } from '../helpers/cli.js'
import { closedPort } from '../helpers/listen.js'
import { COOKIE_SECRET } from '../fixtures/config/base.js'

/** A self-signed certificate for 127.0.0.1, made with the openssl command line. */
function selfSigned (): { dir: string, cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'))
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'tls.key'), '-out', join(dir, 'tls.crt'), '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'
  ], { stdio: 'ignore' })
  return { dir, cert: join(dir, 'tls.crt') }
}

function httpsGet (url: string, ca: Buffer): Promise<{ status: number, body: string, protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, headers: { accept: 'application/json' } }, (res) => {
      // Read while the socket is attached: it is detached once the response ends.
      const protocol = (res.socket as { getProtocol?: () => string | null }).getProtocol?.() ?? ''
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, protocol }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('TLS: with server.tls the gateway serves HTTPS with the configured certificate and tells the upstream the request came over https', async (t) => {
  const { dir, cert } = selfSigned()
  const app = await startDemoApp()
  t.teardown(() => app.close())
  const closed = await closedPort()
  // Port 0: the gateway logs the port it got. public_url only names the origin users reach.
  const file = writeConfigFile({
    server: { listen: '127.0.0.1:0', public_url: 'https://127.0.0.1', tls: { cert_file: 'tls.crt', key_file: 'tls.key' } },
    provider: { type: 'oidc', issuer: `http://127.0.0.1:${closed}`, client_id: 'tls-test', client_secret: 'tls-test-secret', allow_insecure_issuer: true },
    session: { store: 'memory', cookie: { secrets: [COOKIE_SECRET] } },
    access: { email_domains: ['example.com'] },
    routes: [{ path: '/', upstream: app.url.replace(/\/$/, ''), public: true }]
  }, dir)
  const gateway = await spawnGateway(file)
  t.teardown(async () => { if (gateway.child.exitCode === null) { gateway.signal('SIGKILL'); await gateway.exited } })
  const base = gateway.listening.url
  t.match(base, /^https:\/\/127\.0\.0\.1:[1-9]\d*$/, 'the listening line names the https URL and the port it got')

  const ca = readFileSync(cert)
  const ping = await httpsGet(`${base}/ping`, ca)
  t.equal(ping.status, 200)
  t.equal(ping.body, 'OK')
  t.match(ping.protocol, /^TLSv1\.[23]$/)
  const proxied = await httpsGet(`${base}/hello`, ca)
  t.equal(proxied.status, 200)
  const echoed = JSON.parse(proxied.body) as { headers: Record<string, string> }
  t.equal(echoed.headers['x-forwarded-proto'], 'https')

  await t.rejects(httpsGet(`${base}/ping`, Buffer.from('')), 'a client that does not trust the certificate refuses it')
  const plain = await fetch(`${base.replace(/^https:/, 'http:')}/ping`).then((r) => r.status, () => 'refused')
  t.not(plain, 200, 'plain HTTP is not served on the TLS port')

  gateway.signal('SIGTERM')
  t.equal(await gateway.exited, 0)
})
