/*
 * The benchmark's upstream, as a process of its own: answers every request at once with a small
 * fixed JSON body, so what the benchmark measures is the path in front of it. One path echoes the
 * request headers, so the bench can check that an authenticating peer passes the identity on.
 */
import { createServer } from 'node:http'
import { UPSTREAM_ECHO_PATH } from './targets.js'

const body = Buffer.from(JSON.stringify({ ok: true, service: 'bench-upstream', padding: 'x'.repeat(64) }))
const server = createServer((req, res) => {
  req.resume()
  if (req.url === UPSTREAM_ECHO_PATH) {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ headers: req.headers }))
    return
  }
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length })
  res.end(body)
})
server.keepAliveTimeout = 72_000
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(`${JSON.stringify({ listening: typeof address === 'object' && address !== null ? address.port : null })}\n`)
})
process.on('SIGTERM', () => { server.closeAllConnections(); server.close(() => process.exit(0)) })
