/**
 * The container image, built and run by a real engine (podman): both Dockerfile targets are built
 * from the repository, the runtime image's contents are checked, and the gateway runs in it the way
 * docker/README.md describes (non-root, read-only root file system, no capabilities, config and
 * secrets mounted as files) for a full sign-in against the development provider and a Redis on the
 * host, its HEALTHCHECK, /ready, /metrics on its own listener, and a graceful `podman stop`. Then
 * the Kubernetes example is played with `podman kube play`.
 *
 * No image registry is reachable here, so the Dockerfile's base image is a local stand-in made by
 * scripts/container/base-image.sh (slow once, cached after). Everything runs on the host network
 * and on loopback ports picked at run time.
 */
import { randomBytes } from 'node:crypto'
import { lookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { Agent, getGlobalDispatcher, setGlobalDispatcher } from 'undici'
import { parse, parseAllDocuments, stringify } from 'yaml'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from '../../demo/accounts.js'
import { startDevProvider, type DevProvider } from '../../demo/provider.js'
import { startDemoApp, type DemoApp } from '../../demo/upstream.js'
import { root } from '../helpers/build.js'
import { CookieJar } from '../helpers/cookie-jar.js'
import { listenOnLoopback } from '../helpers/listen.js'
import { podman, podmanMissing, removeQuietly, runEngine } from '../helpers/podman.js'
import { pickedPort } from '../helpers/listen.js'
import { startRedis, type RedisServer } from '../helpers/redis.js'
import { fetchWithJar, signIn } from '../helpers/signin.js'

const missing = podmanMissing()
if (missing !== undefined) {
  t.plan(0, `container tests skipped: ${missing}`)
} else {
  // The first run on a machine makes the base image (about a minute) and runs `npm ci` twice in
  // the build (a minute or two); later runs reuse both. Far more than tap's per-file default.
  t.setTimeout(20 * 60_000)
  await containerTests()
}

async function containerTests (): Promise<void> {
  const RUNTIME = 'localhost/portcullis:container-test'
  const DEMO = 'localhost/portcullis-demo:container-test'
  const run = randomBytes(4).toString('hex')
  const nodeVersion = readFileSync(join(root, '.node-version'), 'utf8').trim()
  const tmp = mkdtempSync(join(tmpdir(), 'portcullis-container-'))
  // The container's user (uid 1000) must be able to read the mounted files, as docker/README.md says.
  chmodSync(tmp, 0o755)
  const cleanups: Array<() => Promise<unknown>> = []
  t.teardown(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
    rmSync(tmp, { recursive: true, force: true })
  })
  const timings: string[] = []
  const timed = async <T>(label: string, work: () => Promise<T>): Promise<T> => {
    const started = Date.now()
    try {
      return await work()
    } finally {
      timings.push(`${label}: ${((Date.now() - started) / 1000).toFixed(1)} s`)
    }
  }
  t.teardown(() => { report(`container test timings: ${timings.join(', ')}`) })

  // ---- the image ---------------------------------------------------------------------------------

  t.test('base image: a local stand-in exists under the FROM name the Dockerfile uses', async (t) => {
    const made = await timed('base image', () => runEngine('bash', [join(root, 'scripts/container/base-image.sh')], { timeoutMs: 15 * 60_000 }))
    t.equal(made.stdout.trim(), `node:${nodeVersion}-bookworm-slim`, 'the image the Dockerfile builds FROM')
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
    t.match(dockerfile, new RegExp(`^ARG NODE_VERSION=${nodeVersion.replaceAll('.', '\\.')}$`, 'm'), 'the Dockerfile ships the Node of .node-version')
    t.strictSame([...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]), ['node:${NODE_VERSION}-bookworm-slim', 'build', 'node:${NODE_VERSION}-bookworm-slim'])
    const version = await podman(['run', '--rm', '--network', 'host', `node:${nodeVersion}-bookworm-slim`, 'node', '--version'])
    t.equal(version.stdout.trim(), `v${nodeVersion}`)
  })

  t.test('build: podman builds both targets of the repository\'s Dockerfile', async (t) => {
    for (const [target, tag] of [['runtime', RUNTIME], ['demo', DEMO]] as const) {
      const built = await timed(`build ${target}`, () => podman(['build', '--format', 'docker', '--network', 'host', '--target', target, '-t', tag, '.'], { timeoutMs: 15 * 60_000 }))
      t.notMatch(built.stdout + built.stderr, /EBADENGINE/, `${target}: no engine warning from npm`)
      t.equal((await podman(['image', 'exists', tag], { allowFail: true })).code, 0, `${target} built as ${tag}`)
    }
  })

  t.test('runtime image: production dependencies and compiled code only; its size', async (t) => {
    const [image] = JSON.parse((await podman(['image', 'inspect', RUNTIME])).stdout) as any[]
    const config = image.Config
    t.equal(config.User, 'node', 'runs as the unprivileged node user')
    t.strictSame(config.Entrypoint, ['node', '/app/dist/src/cli.js'])
    t.strictSame(config.Cmd, ['serve'])
    t.strictSame(Object.keys(config.ExposedPorts ?? {}).sort(), ['4180/tcp', '9090/tcp'], 'the gateway and its metrics listener')
    const healthcheck = JSON.parse((await podman(['image', 'inspect', '--format', '{{json .HealthCheck}}', RUNTIME])).stdout)
    t.match(healthcheck?.Test?.join(' ') ?? '', /PORTCULLIS_HEALTH_URL/, 'the image has its HEALTHCHECK')

    // Inside the image: what /app holds, every locked package that is (not) installed, any TypeScript.
    const inspect = `
      const fs = require('node:fs'); const path = require('node:path')
      const lock = JSON.parse(fs.readFileSync('/app/package-lock.json', 'utf8')).packages
      const installed = (p) => fs.existsSync(path.join('/app', p, 'package.json'))
      const entries = Object.entries(lock).filter(([p]) => p !== '')
      const walk = (dir) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => e.name === 'node_modules' ? [] : e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)])
      process.stdout.write(JSON.stringify({
        app: fs.readdirSync('/app').sort(), dist: fs.readdirSync('/app/dist').sort(),
        devInstalled: entries.filter(([p, v]) => v.dev === true && installed(p)).map(([p]) => p),
        prodMissing: entries.filter(([p, v]) => v.dev !== true && v.optional !== true && !installed(p)).map(([p]) => p),
        devCount: entries.filter(([, v]) => v.dev === true).length,
        ourFiles: walk('/app').filter((f) => !f.endsWith('.map')),
        typescript: walk('/app').filter((f) => /\\.[cm]?ts$/.test(f))
      }))`
    const seen = JSON.parse((await podman(['run', '--rm', '--network', 'host', '--entrypoint', 'node', RUNTIME, '-e', inspect])).stdout)
    t.strictSame(seen.app, ['dist', 'node_modules', 'package-lock.json', 'package.json'], '/app holds no source, test, demo or config')
    t.strictSame(seen.dist, ['src'], 'only the compiled gateway: no dist/demo, dist/test, dist/bench')
    t.ok(seen.devCount > 50, `the lockfile lists ${seen.devCount} development packages`)
    t.strictSame(seen.devInstalled, [], 'no development package is installed')
    t.strictSame(seen.prodMissing, [], 'every production package is installed')
    t.strictSame(seen.typescript, [], 'no TypeScript source outside node_modules')
    t.strictSame(seen.ourFiles.filter((f: string) => !/^\/app\/(dist\/src\/.*\.(js|json)|package(-lock)?\.json)$/.test(f)), [], 'only compiled JavaScript, the text it reads (JSON) and the manifests')

    const base = JSON.parse((await podman(['image', 'inspect', `node:${nodeVersion}-bookworm-slim`])).stdout)[0]
    const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(0)} MB`
    const size = Number(image.Size)
    t.ok(size > Number(base.Size), 'the image is its base plus the gateway')
    report(`runtime image ${RUNTIME}: ${mb(size)} (base stand-in ${mb(Number(base.Size))}, the gateway and its production dependencies ${mb(size - Number(base.Size))})`)
  })

  t.test('demo image: the demo app runs from the demo target', async (t) => {
    const name = `portcullis-demo-${run}`
    cleanups.push(() => removeQuietly('container', [name]))
    // PORT=0: on the host network the app takes a free port and prints its URL.
    await podman(['run', '-d', '--name', name, '--network', 'host', '-e', 'HOST=127.0.0.1', '-e', 'PORT=0', DEMO, '/app/dist/demo/upstream-main.js'])
    const appUrl = (await loggedLine(name, /demo app listening on (http:\/\/127\.0\.0\.1:\d+)/))[1]
    const res = await waitFor(`${appUrl}/hello`, name, { accept: 'application/json' })
    t.equal(res.status, 200)
    t.equal((await res.json() as any).path, '/hello')
    await podman(['stop', '-t', '10', name])
    t.equal(await exitCode(name), 0, 'the demo app stops on SIGTERM with 0')
  })

  // ---- the gateway in a container ----------------------------------------------------------------

  t.test('gateway: non-root, read-only, no capabilities; sign-in, health check, /ready, /metrics, graceful stop', async (t) => {
    // The provider sends the browser back to public_url, and the health check is given the URL:
    // the gateway's port is picked. metrics.listen takes port 0, read from the gateway's log.
    const port = await pickedPort()
    const url = `http://127.0.0.1:${port}`
    const { redis, app } = await services()
    const provider = await startProvider(url)

    // A slow upstream: it answers only when the test says so, to hold a request in flight.
    let arrived!: () => void
    const slowArrived = new Promise<void>((resolve) => { arrived = resolve })
    let release!: () => void
    const released = new Promise<void>((resolve) => { release = resolve })
    const slow = createServer((req, res) => {
      req.resume()
      arrived()
      void released.then(() => { res.end('finished after the stop began') })
    })
    const slowUrl = await listenOnLoopback(slow)
    cleanups.push(() => new Promise((resolve) => { slow.closeAllConnections(); slow.close(resolve) }))

    // As docker/README.md: the config file at /etc/portcullis/portcullis.yaml, each secret a file
    // under /run/secrets read by a *_file key, both mounted read-only and readable by uid 1000.
    const dir = join(tmp, 'gateway')
    mkdirSync(join(dir, 'secrets'), { recursive: true, mode: 0o755 })
    writeFileSync(join(dir, 'secrets', 'client_secret'), DEMO_CLIENT_SECRET, { mode: 0o644 })
    writeFileSync(join(dir, 'secrets', 'cookie_secret'), `${randomBytes(48).toString('base64')}\n`, { mode: 0o644 })
    writeFileSync(join(dir, 'portcullis.yaml'), stringify({
      server: { listen: `127.0.0.1:${port}`, public_url: url },
      provider: {
        type: 'google',
        issuer: provider.issuer,
        client_id: DEMO_CLIENT_ID,
        client_secret_file: '/run/secrets/client_secret',
        allow_insecure_issuer: true
      },
      session: { store: 'redis', cookie: { secrets_file: '/run/secrets/cookie_secret', secure: false } },
      redis: { url: redis.url },
      access: { email_domains: ['example.com'] },
      routes: [
        { path: '/slow/', upstream: slowUrl },
        { path: '/', upstream: app.url.replace(/\/$/, '') }
      ],
      metrics: { listen: '127.0.0.1:0' },
      logging: { level: 'info', format: 'json' }
    }), { mode: 0o644 })

    const name = `portcullis-gateway-${run}`
    cleanups.push(() => removeQuietly('container', [name]))
    await podman(['run', '-d', '--name', name, '--network', 'host',
      '--read-only', '--tmpfs', '/tmp', '--cap-drop=ALL', '--security-opt', 'no-new-privileges',
      '-v', `${join(dir, 'portcullis.yaml')}:/etc/portcullis/portcullis.yaml:ro`,
      '-v', `${join(dir, 'secrets')}:/run/secrets:ro`,
      '-e', `PORTCULLIS_HEALTH_URL=${url}/ping`,
      RUNTIME])
    const ready = await waitFor(`${url}/ready`, name)
    t.equal(ready.status, 200, '/ready: Redis and the provider are reachable from the container')
    t.match(await ready.json(), { ready: true })
    const metricsUrl = JSON.parse((await loggedLine(name, /^\{.*"msg":"portcullis listening".*\}$/m))[0]).metrics as string
    t.match(metricsUrl, /^http:\/\/127\.0\.0\.1:[1-9]\d*$/, 'the metrics listener is logged with the port it got')

    t.test('it runs as uid 1000 with no capability, on a read-only root file system', async (t) => {
      t.equal((await podman(['exec', name, 'id', '-u'])).stdout.trim(), '1000')
      const status = (await podman(['exec', name, 'cat', '/proc/1/status'])).stdout
      for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
        t.match(status, new RegExp(`^${set}:\\s+0{16}$`, 'm'), `${set} is empty`)
      }
      t.match(status, /^NoNewPrivs:\s+1$/m)
      const write = await podman(['exec', name, 'sh', '-c', 'touch /app/written'], { allowFail: true })
      t.not(write.code, 0)
      t.match(write.stderr + write.stdout, /Read-only file system/)
      const [inspected] = JSON.parse((await podman(['container', 'inspect', name])).stdout) as any[]
      t.equal(inspected.HostConfig.ReadonlyRootfs, true)
    })

    const jar = new CookieJar()
    t.test('a full sign-in through the container reaches the app with the identity', async (t) => {
      const result = await signIn({ gatewayUrl: url, jar, email: 'alice@example.com', startPath: '/through/the/container' })
      t.equal(result.status, 200)
      t.equal(result.landedPath, '/through/the/container')
      const seen = await fetchWithJar(`${url}/whoami`, jar, { headers: { accept: 'application/json' } })
      t.equal(seen.status, 200)
      t.equal((await seen.json() as any).headers['x-forwarded-email'], 'alice@example.com')
    })

    t.test('the HEALTHCHECK reports healthy; /metrics answers on its own listener only', async (t) => {
      const check = await podman(['healthcheck', 'run', name], { allowFail: true })
      t.equal(check.code, 0, `podman healthcheck run: ${check.stdout}${check.stderr.replace(/^.*systemd.*$/gm, '').trim()}`)
      const [inspected] = JSON.parse((await podman(['container', 'inspect', name])).stdout) as any[]
      t.equal(inspected.State.Health?.Status ?? inspected.State.Healthcheck?.Status, 'healthy')
      t.equal((await fetch(`${url}/metrics`)).status, 404, 'not on the public listener')
      const metrics = await fetch(`${metricsUrl}/metrics`)
      t.equal(metrics.status, 200)
      t.match(await metrics.text(), /^# HELP /m)
    })

    t.test('podman stop: SIGTERM lets the in-flight request finish, and the gateway exits 0', async (t) => {
      const inFlight = fetchWithJar(`${url}/slow/report`, jar, { signal: AbortSignal.timeout(60_000) })
      await slowArrived
      const stopping = podman(['stop', '-t', '30', name], { timeoutMs: 60_000 })
      // The upstream answers only once the gateway is draining: /ready turns 503, or the listener is closed.
      for (let i = 0; i < 200; i++) {
        const probe = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2000) }).catch(() => null)
        if (probe === null || probe.status === 503) break
        await sleep(50)
      }
      release()
      const response = await inFlight
      t.equal(response.status, 200)
      t.equal(await response.text(), 'finished after the stop began')
      await stopping
      t.equal(await exitCode(name), 0)
      const logs = await podman(['logs', name])
      t.notMatch(logs.stdout + logs.stderr, /"level":(50|60)|"level":"(error|fatal)"/, 'no error in the gateway log')
    })
  })

  // ---- the Kubernetes example --------------------------------------------------------------------

  t.test('kubernetes: podman kube play runs the Deployment with its ConfigMap and Secret, and it answers /ready', async (t) => {
    const kube = join(root, 'docker', 'kubernetes')
    const docs = (file: string): any[] => parseAllDocuments(readFileSync(join(kube, file), 'utf8')).map((d) => d.toJS())
    const [configMap] = docs('configmap.yaml')
    const [secret] = docs('secret.yaml')
    const [deployment] = docs('deployment.yaml')
    // Picked ports (helpers/listen.ts): the probes and the provider's callback name the gateway's,
    // and the gateway's config the Redis pod's, before anything in the pods listens. metrics.listen
    // takes port 0, read from the gateway's log.
    const port = await pickedPort()
    const redisPort = await pickedPort()
    const url = `http://127.0.0.1:${port}`
    const { app } = await services()

    // podman 4.3 ignores a Secret's stringData and writes its data values without base64-decoding
    // them, so the values go in `data` as they should appear in the files (all in the base64
    // alphabet, so the Secret is valid for Kubernetes too).
    const values: Record<string, string> = {
      google_client_secret: randomBytes(24).toString('hex'),
      cookie_secret: randomBytes(48).toString('hex'),
      redis_password: randomBytes(16).toString('hex')
    }
    const provider = await startProvider(url, values.google_client_secret)

    // The example's config with this machine's addresses: loopback ports (pods share the host
    // network here), the development provider for Google, a Redis pod on a free port. Every other
    // key, and the *_file paths of the Secret's mount, stay as the example has them.
    const config = parse(configMap.data['portcullis.yaml'])
    t.match(config.redis, { password_file: '/run/secrets/portcullis/redis_password' })
    t.match(config.metrics, { listen: '0.0.0.0:9090' }, 'the example serves /metrics on its own port')
    config.server = { ...config.server, listen: `127.0.0.1:${port}`, public_url: url }
    config.provider = { ...config.provider, issuer: provider.issuer, client_id: DEMO_CLIENT_ID, allow_insecure_issuer: true }
    config.session.cookie.secure = false
    config.redis.url = `redis://127.0.0.1:${redisPort}/0`
    config.metrics.listen = '127.0.0.1:0'
    config.routes = [{ path: '/', upstream: app.url.replace(/\/$/, '') }]
    configMap.data['portcullis.yaml'] = stringify(config)

    t.strictSame(Object.keys(values).sort(), Object.keys(secret.stringData).sort(), 'the Secret template\'s keys')
    delete secret.stringData
    secret.data = values

    // On the host network two replicas would want the same port, and podman refuses port
    // declarations there: one replica, probes on the port number.
    const pod = deployment.spec.template.spec
    const container = pod.containers[0]
    t.equal(deployment.spec.replicas, 2)
    deployment.spec.replicas = 1
    delete container.ports
    container.livenessProbe.httpGet.port = port
    container.readinessProbe.httpGet.port = port
    await podman(['tag', RUNTIME, container.image])

    const redisPod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `portcullis-redis-${run}` },
      spec: {
        containers: [{
          name: 'redis',
          image: 'localhost/portcullis-local/redis:bookworm',
          command: ['redis-server', '--bind', '127.0.0.1', '--port', String(redisPort), '--requirepass', values.redis_password, '--save', '', '--appendonly', 'no']
        }]
      }
    }
    const played = join(tmp, 'kube.yaml')
    const redisFile = join(tmp, 'redis.yaml')
    writeFileSync(played, [configMap, secret, deployment].map((d) => stringify(d)).join('---\n'))
    writeFileSync(redisFile, stringify(redisPod))
    const volumes = pod.volumes.map((v: any) => v.name as string)
    const clean = async (): Promise<void> => {
      await podman(['kube', 'down', played], { allowFail: true, timeoutMs: 120_000 })
      await podman(['kube', 'down', redisFile], { allowFail: true, timeoutMs: 120_000 })
      await removeQuietly('secret', [secret.metadata.name])
      await removeQuietly('volume', [configMap.metadata.name, secret.metadata.name, ...volumes])
    }
    await clean()
    cleanups.push(clean)

    await timed('kube play', async () => {
      await podman(['kube', 'play', '--network', 'host', redisFile], { timeoutMs: 120_000 })
      await podman(['kube', 'play', '--network', 'host', played], { timeoutMs: 120_000 })
    })
    const gatewayContainer = `${deployment.metadata.name}-pod-0-${container.name}`
    const ready = await waitFor(`${url}/ready`, gatewayContainer)
    t.equal(ready.status, 200, '/ready: the played pod reaches its Redis (with the Secret\'s password) and the provider')
    t.equal((await podman(['exec', gatewayContainer, 'id', '-u'])).stdout.trim(), '1000', 'runAsUser 1000')
    const files = (await podman(['exec', gatewayContainer, 'ls', '/etc/portcullis', '/run/secrets/portcullis'])).stdout
    t.match(files, /portcullis\.yaml/)
    t.match(files, /cookie_secret[\s\S]*google_client_secret[\s\S]*redis_password/)
    const jar = new CookieJar()
    const result = await signIn({ gatewayUrl: url, jar, email: 'bob@example.com' })
    t.equal(result.status, 200, 'a sign-in through the played pod')
    const metricsUrl = JSON.parse((await loggedLine(gatewayContainer, /^\{.*"msg":"portcullis listening".*\}$/m))[0]).metrics as string
    t.equal((await fetch(`${metricsUrl}/metrics`)).status, 200, '/metrics on the metrics port')
  })

  // ---- the compose example -----------------------------------------------------------------------

  t.test('compose: podman-compose brings up compose.dev.yaml; one sign-in through the load balancer, both replicas serve it', async (t) => {
    const project = `portcullis-ctest-${run}`
    // Published ports of the compose file, given to it before it starts (helpers/listen.ts).
    const devPort = await pickedPort()
    const providerPort = await pickedPort()
    const env = { DEV_PORT: String(devPort), DEV_PROVIDER_PORT: String(providerPort) }
    // The images the compose file names: the gateway and demo images built above (so compose builds
    // nothing), and for the load balancer and Redis the local stand-ins of the official images.
    await podman(['tag', RUNTIME, 'localhost/portcullis:local'])
    await podman(['tag', DEMO, 'localhost/portcullis-demo:local'])
    const override = join(tmp, 'compose.local.yaml')
    writeFileSync(override, stringify({
      services: {
        lb: { image: 'localhost/portcullis-local/nginx:bookworm' },
        redis: { image: 'localhost/portcullis-local/redis:bookworm' }
      }
    }))
    const compose = (...args: string[]): Promise<unknown> => runEngine('podman-compose', ['-p', project, '-f', 'compose.dev.yaml', '-f', override, ...args],
      { cwd: join(root, 'docker'), timeoutMs: 300_000, env })
    const down = async (): Promise<void> => {
      await runEngine('podman-compose', ['-p', project, '-f', 'compose.dev.yaml', '-f', override, 'down'], { cwd: join(root, 'docker'), timeoutMs: 300_000, env, allowFail: true })
      await removeQuietly('volume', [`${project}_redis-data`])
      await podman(['network', 'rm', `${project}_default`], { allowFail: true })
    }
    cleanups.push(down)
    await timed('compose up', () => compose('up', '-d'))

    // The browser's view: *.localhost is this machine (as browsers resolve it), where compose
    // published the load balancer and the provider.
    const previous = getGlobalDispatcher()
    setGlobalDispatcher(new Agent({ connect: { lookup: localhostLookup } }))
    t.teardown(() => { setGlobalDispatcher(previous) })
    const url = `http://localhost:${devPort}`
    const replicas = ['portcullis-1', 'portcullis-2'].map((name) => `${project}_${name}_1`)
    // podman-compose 1.0.3 starts a service without waiting for its depends_on health condition,
    // so the test waits the way compose would: each replica's HEALTHCHECK passes (bounded).
    for (const replica of replicas) {
      let healthy = false
      for (let i = 0; i < 60 && !healthy; i++) {
        healthy = (await podman(['healthcheck', 'run', replica], { allowFail: true })).code === 0
        if (!healthy) await sleep(500)
      }
      t.ok(healthy, `${replica} is healthy`)
    }
    const ready = await waitFor(`${url}/ready`, `${project}_lb_1`)
    t.equal(ready.status, 200, '/ready through the load balancer')

    const jar = new CookieJar()
    const result = await signIn({ gatewayUrl: url, jar, email: 'alice@example.com', startPath: '/via/compose' })
    t.equal(result.status, 200)
    t.equal(result.landedPath, '/via/compose')
    t.match(result.callbackUrl, `${url}/oauth2/callback`)
    // Round-robin: the signed-in user's requests reach both replicas, which share the session in
    // Redis. (A replica the load balancer saw refuse connections while starting is skipped for
    // 5 s, so this asks for at most 12 s.)
    const served = new Map<string, boolean>(replicas.map((r) => [r, false]))
    for (let i = 0; i < 48 && [...served.values()].includes(false); i++) {
      const seen = await fetchWithJar(`${url}/replica-check/${i}`, jar, { headers: { accept: 'application/json' } })
      t.equal(seen.status, 200)
      t.equal((await seen.json() as any).headers['x-forwarded-email'], 'alice@example.com')
      for (const replica of replicas) {
        if (served.get(replica) === true) continue
        const logs = await podman(['logs', replica])
        served.set(replica, /"path":"\/replica-check\/\d+"[^\n]*"status":200/.test(logs.stdout))
      }
      await sleep(250)
    }
    for (const [replica, did] of served) t.ok(did, `${replica} served the signed-in user`)
    t.equal((await fetch(`${url}/metrics`)).status, 404, '/metrics is not on the load balancer')
  })

  // ---- helpers -----------------------------------------------------------------------------------

  async function startProvider (gatewayUrl: string, clientSecret = DEMO_CLIENT_SECRET): Promise<DevProvider> {
    const provider = await startDevProvider({ clients: [{ client_id: DEMO_CLIENT_ID, client_secret: clientSecret, redirect_uris: [`${gatewayUrl}/oauth2/callback`] }] })
    cleanups.push(() => provider.close())
    return provider
  }

  /** A Redis and the demo app on the host's loopback, shared by the tests that need them. */
  let hostServices: Promise<{ redis: RedisServer, app: DemoApp }> | undefined
  function services (): Promise<{ redis: RedisServer, app: DemoApp }> {
    hostServices ??= (async () => {
      const redis = await startRedis()
      cleanups.push(() => redis.stop())
      const app = await startDemoApp({ host: '127.0.0.1', port: 0 })
      cleanups.push(() => app.close())
      return { redis, app }
    })()
    return hostServices
  }

  /** GETs `url` until it answers (bounded: 60 s); fails early with the container's log when it exits. */
  /** The first match of `pattern` in the container's log, waited for (bounded, 60 s). */
  async function loggedLine (container: string, pattern: RegExp): Promise<RegExpExecArray> {
    for (let i = 0; i < 240; i++) {
      const logs = await podman(['logs', container], { allowFail: true })
      const found = pattern.exec(logs.stdout + logs.stderr)
      if (found !== null) return found
      await sleep(250)
    }
    throw new Error(`${container} did not log ${String(pattern)} within 60 s`)
  }

  async function waitFor (url: string, container: string, headers: Record<string, string> = {}): Promise<Response> {
    let last: Response | null = null
    for (let i = 0; i < 240; i++) {
      await last?.body?.cancel()
      last = await fetch(url, { headers, signal: AbortSignal.timeout(2000) }).catch(() => null)
      if (last?.status === 200) return last
      const state = await podman(['container', 'inspect', '--format', '{{.State.Status}}', container], { allowFail: true })
      if (state.code === 0 && state.stdout.trim() === 'exited') {
        const logs = await podman(['logs', container], { allowFail: true })
        throw new Error(`${container} exited:\n${logs.stdout}${logs.stderr}`)
      }
      await sleep(250)
    }
    if (last !== null) return last
    throw new Error(`${url} did not answer within 60 s`)
  }

  async function exitCode (container: string): Promise<number> {
    const out = await podman(['container', 'inspect', '--format', '{{.State.ExitCode}}', container])
    return Number(out.stdout.trim())
  }
}

/** DNS as a browser sees it: `localhost` and every `*.localhost` name is this machine (RFC 6761). */
function localhostLookup (hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
    if (options.all === true) callback(null, [{ address: '127.0.0.1', family: 4 }])
    else callback(null, '127.0.0.1', 4)
    return
  }
  lookup(hostname, options, callback as any)
}

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Writes a line both to the TAP output and to the terminal running the suite. */
function report (line: string): void {
  t.comment(line)
  process.stderr.write(`${line}\n`)
}
