import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Ajv } from 'ajv'
import t from 'tap'
import ts from 'typescript'
import { parse, parseAllDocuments } from 'yaml'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from '../../demo/accounts.js'
import { ConfigError, parseConfig } from '../../src/config/load.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DOCKER = join(ROOT, 'docker')
const KUBE = join(DOCKER, 'kubernetes')
const read = (path: string): string => readFileSync(path, 'utf8')
// Compose files share the gateway settings through a `<<` merge key, which compose resolves.
const yaml = (path: string): any => parse(read(path), { merge: true })

const compose = yaml(join(DOCKER, 'compose.yaml'))
const composeDev = yaml(join(DOCKER, 'compose.dev.yaml'))
const kube: any[] = readdirSync(KUBE).filter((f) => f.endsWith('.yaml')).sort()
  .flatMap((f) => parseAllDocuments(read(join(KUBE, f))).map((d) => d.toJS()))
const ofKind = (kind: string): any => {
  const found = kube.filter((d) => d?.kind === kind)
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`)
  return found[0]
}

const tmp = mkdtempSync(join(tmpdir(), 'portcullis-manifests-'))
t.teardown(() => { rmSync(tmp, { recursive: true, force: true }) })

/** Parses a config whose secrets live under `secretsDir`, with them written into a temp folder instead. */
function loadWithSecrets (text: string, secretsDir: string, secrets: Record<string, string>, env: Record<string, string>, name: string) {
  const dir = mkdtempSync(join(tmp, 'secrets-'))
  for (const [file, value] of Object.entries(secrets)) writeFileSync(join(dir, file), value)
  return parseConfig(text.split(secretsDir).join(`${dir}/`), { env, baseDir: DOCKER, sourceName: name })
}

t.test('manifests: every YAML file in docker/ and docker/kubernetes/ parses', async (t) => {
  const files = [DOCKER, KUBE].flatMap((dir) => readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(dir, f)))
  t.ok(files.length >= 10, `found ${files.length} files`)
  for (const file of files) {
    const errors = parseAllDocuments(read(file)).flatMap((d) => d.errors.map((e) => e.message))
    t.strictSame(errors, [], `${file.slice(ROOT.length)} parses`)
  }
})

t.test('compose: two gateway replicas behind the load balancer, Redis with appendonly, the demo upstream', async (t) => {
  t.strictSame(Object.keys(compose.services).sort(), ['lb', 'portcullis-1', 'portcullis-2', 'redis', 'upstream'])
  for (const name of ['portcullis-1', 'portcullis-2']) {
    const s = compose.services[name]
    t.strictSame([s.build.context, s.build.dockerfile, s.build.target], ['..', 'Dockerfile', undefined], `${name} builds the runtime stage`)
    t.strictSame(s.secrets, ['google_client_secret', 'cookie_secret'])
    t.strictSame(s.volumes, ['./portcullis.compose.yaml:/etc/portcullis/portcullis.yaml:ro'])
    t.equal(s.ports, undefined, `${name} is reachable only through the load balancer`)
    t.equal(s.read_only, true)
  }
  t.strictSame(compose.services.lb.ports, ['4180:80'])
  t.strictSame(compose.services.lb.environment, { PORTCULLIS_UPSTREAM_1: 'portcullis-1:4180', PORTCULLIS_UPSTREAM_2: 'portcullis-2:4180' })
  t.strictSame(compose.services.redis.command, ['redis-server', '--appendonly', 'yes'])
  t.strictSame(compose.services.upstream.build.target, 'demo')
  t.strictSame(compose.services.upstream.command, ['/app/dist/demo/upstream-main.js'])
  t.strictSame(compose.secrets, { google_client_secret: { file: './secrets/google_client_secret' }, cookie_secret: { file: './secrets/cookie_secret' } })
})

/** Compose's variable interpolation, `${NAME}` and `${NAME:-default}`, over `env`. */
const interpolate = (value: string, env: Record<string, string>): string =>
  value.replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_, name: string, fallback?: string) => env[name] ?? fallback ?? '')

t.test('compose.dev: adds the development provider as provider.localhost, one issuer for the browser and the gateways', async (t) => {
  t.strictSame(Object.keys(composeDev.services).sort(), ['lb', 'portcullis-1', 'portcullis-2', 'provider.localhost', 'redis', 'upstream'])
  const provider = composeDev.services['provider.localhost']
  t.strictSame([provider.build.target, provider.command], ['demo', ['/app/dist/demo/dev-provider-main.js']])
  for (const env of [{}, { DEV_PORT: '5180', DEV_PROVIDER_PORT: '5191' }] as Array<Record<string, string>>) {
    const issuer = new URL(interpolate(provider.environment.DEV_PROVIDER_ISSUER, env))
    t.equal(issuer.hostname, 'provider.localhost', 'the service\'s own name inside the compose network, this machine in a browser')
    t.strictSame(provider.ports.map((p: string) => interpolate(p, env)), [`${issuer.port}:${issuer.port}`], 'published on the issuer\'s port')
    t.equal(interpolate(provider.environment.DEV_PROVIDER_PORT, env), issuer.port)
    const lbPort = interpolate(composeDev.services.lb.ports[0], env).split(':')[0]
    t.equal(interpolate(provider.environment.DEV_CLIENT_REDIRECT_URIS, env), `http://localhost:${lbPort}/oauth2/callback`)
  }
  for (const name of ['portcullis-1', 'portcullis-2']) {
    const s = composeDev.services[name]
    t.equal(s.network_mode, undefined, `${name} has its own network namespace`)
    t.strictSame(s.environment, { DEV_PORT: '${DEV_PORT:-4180}', DEV_PROVIDER_PORT: '${DEV_PROVIDER_PORT:-4191}' }, `${name} gets the published ports for its config`)
  }
  t.strictSame(composeDev.services.lb.environment, { PORTCULLIS_UPSTREAM_1: 'portcullis-1:4180', PORTCULLIS_UPSTREAM_2: 'portcullis-2:4180' })
})

t.test('compose: every build names a stage of the Dockerfile, every mounted file exists', async (t) => {
  // The stage names (`FROM image AS name`); podman builds each target in test/container/.
  const stages = new Set([...read(join(ROOT, 'Dockerfile')).matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]))
  t.strictSame([...stages], ['build', 'demo', 'runtime'])
  for (const file of [compose, composeDev]) {
    for (const [name, s] of Object.entries<any>(file.services)) {
      if (s.build !== undefined) t.ok(s.build.target === undefined || stages.has(s.build.target), `${name}: target ${s.build.target}`)
      for (const volume of s.volumes ?? []) {
        const source = String(volume).split(':')[0] as string
        if (source.startsWith('./')) t.ok(existsSync(join(DOCKER, source)), `${name}: ${source} exists`)
      }
      if (s.image !== undefined) t.notMatch(s.image, /:latest$|^[^:]+$/, `${name}: ${s.image} has a tag`)
    }
  }
})

t.test('config: docker/portcullis.compose.yaml is a valid config reading the compose secrets', async (t) => {
  const text = read(join(DOCKER, 'portcullis.compose.yaml'))
  const referenced = [...text.matchAll(/\/run\/secrets\/([a-z_]+)/g)].map((m) => m[1]).sort()
  t.strictSame(referenced, Object.keys(compose.secrets).sort(), 'the config reads exactly the secrets compose mounts')
  const secrets = { google_client_secret: 'google-secret-from-file\n', cookie_secret: 'cookie-secret-one-0123456789abcdefghijkl\ncookie-secret-old-0123456789abcdefghijkl\n' }
  const env = { GOOGLE_CLIENT_ID: 'client.apps.googleusercontent.com', ALLOWED_EMAIL_DOMAIN: 'example.com' }
  const config = loadWithSecrets(text, '/run/secrets/', secrets, env, 'portcullis.compose.yaml')
  t.strictSame([config.server.host, config.server.port, config.server.publicUrl], ['0.0.0.0', 4180, 'http://localhost:4180'])
  t.strictSame([config.provider.type, config.provider.issuer, config.provider.clientId, config.provider.clientSecret],
    ['google', 'https://accounts.google.com', env.GOOGLE_CLIENT_ID, 'google-secret-from-file'])
  t.strictSame(config.session.cookie.secrets, ['cookie-secret-one-0123456789abcdefghijkl', 'cookie-secret-old-0123456789abcdefghijkl'])
  t.strictSame([config.session.store, config.redis.url, config.session.cookie.secure], ['redis', 'redis://redis:6379/0', true])
  t.strictSame(config.access.emailDomains, ['example.com'])
  t.strictSame(config.routes.map((r) => r.upstream), [`http://upstream:${compose.services.upstream.environment.PORT}`])

  const insecure = loadWithSecrets(text, '/run/secrets/', secrets, { ...env, COOKIE_SECURE: 'false', PUBLIC_URL: 'http://gateway.test:8080' }, 'portcullis.compose.yaml')
  t.strictSame([insecure.session.cookie.secure, insecure.server.publicUrl], [false, 'http://gateway.test:8080'])
})

t.test('config: docker/portcullis.compose.yaml names the variable an operator forgot', async (t) => {
  const text = read(join(DOCKER, 'portcullis.compose.yaml'))
  const err = t.throws(() => loadWithSecrets(text, '/run/secrets/', { google_client_secret: 'x', cookie_secret: 'c'.repeat(32) }, {}, 'portcullis.compose.yaml')) as ConfigError
  t.ok(err instanceof ConfigError)
  t.strictSame(err.problems, [
    'provider.client_id: environment variable GOOGLE_CLIENT_ID is not set',
    'access.email_domains[0]: environment variable ALLOWED_EMAIL_DOMAIN is not set'
  ])
})

t.test('config: docker/portcullis.dev.yaml is valid and agrees with the development provider of compose.dev', async (t) => {
  const provider = composeDev.services['provider.localhost'].environment
  for (const env of [{ DEV_PORT: '4180', DEV_PROVIDER_PORT: '4191' }, { DEV_PORT: '5180', DEV_PROVIDER_PORT: '5191' }]) {
    const config = parseConfig(read(join(DOCKER, 'portcullis.dev.yaml')), { env, baseDir: DOCKER, sourceName: 'portcullis.dev.yaml' })
    t.equal(config.server.port, 4180, 'the port the load balancer forwards to')
    t.equal(config.provider.type, 'google')
    t.equal(config.provider.issuer, interpolate(provider.DEV_PROVIDER_ISSUER, env), 'the gateway expects the issuer the provider announces')
    t.equal(config.provider.allowInsecureIssuer, true)
    t.strictSame([config.provider.clientId, config.provider.clientSecret], [DEMO_CLIENT_ID, DEMO_CLIENT_SECRET], 'the provider\'s default client')
    t.equal(interpolate(provider.DEV_CLIENT_REDIRECT_URIS, env), `${config.server.publicUrl}${config.server.authPrefix}/callback`)
    t.equal(config.server.publicUrl, `http://localhost:${interpolate(composeDev.services.lb.ports[0], env).split(':')[0]}`, 'public_url is the load balancer')
    t.strictSame([config.session.store, config.redis.url, config.session.cookie.secure], ['redis', 'redis://redis:6379/0', false])
  }
})

t.test('kubernetes: the Deployment runs 2 non-root replicas, read-only, probing /ping and /ready', async (t) => {
  const deployment = ofKind('Deployment')
  const pod = deployment.spec.template.spec
  const [container, ...others] = pod.containers
  t.equal(others.length, 0)
  t.equal(deployment.spec.replicas, 2)
  t.equal(pod.securityContext.runAsNonRoot, true)
  t.equal(pod.securityContext.runAsUser, 1000)
  t.strictSame([container.securityContext.runAsNonRoot, container.securityContext.readOnlyRootFilesystem, container.securityContext.allowPrivilegeEscalation],
    [true, true, false])
  t.strictSame(container.securityContext.capabilities.drop, ['ALL'])
  t.strictSame(container.livenessProbe.httpGet, { path: '/ping', port: 'http' })
  t.strictSame(container.readinessProbe.httpGet, { path: '/ready', port: 'http' })
  t.strictSame(container.ports, [{ name: 'http', containerPort: 4180 }, { name: 'metrics', containerPort: 9090 }])
  const configured = parse(ofKind('ConfigMap').data['portcullis.yaml'])
  t.equal(configured.metrics.listen, '0.0.0.0:9090', 'the metrics port is the config\'s own metrics listener')
  t.equal(deployment.spec.template.metadata.annotations['prometheus.io/port'], '9090')
  t.notOk(ofKind('Service').spec.ports.some((p: any) => p.targetPort === 'metrics'), 'the Service does not expose /metrics')
  t.ok(container.resources.requests.cpu !== undefined && container.resources.requests.memory !== undefined && container.resources.limits.memory !== undefined)
  t.strictSame(container.args, ['serve'])
  const mounts = Object.fromEntries(container.volumeMounts.map((m: any) => [m.name, m.mountPath]))
  const volumes = Object.fromEntries(pod.volumes.map((v: any) => [v.name, v]))
  t.equal(mounts.config, '/etc/portcullis')
  t.equal(volumes.config.configMap.name, ofKind('ConfigMap').metadata.name)
  t.equal(mounts.secrets, '/run/secrets/portcullis')
  t.equal(volumes.secrets.secret.secretName, ofKind('Secret').metadata.name)
  t.ok(pod.terminationGracePeriodSeconds > 15, 'grace outlasts preStop plus the shutdown timeout')
})

t.test('kubernetes: the Service selects the Deployment\'s pods on the named port; kustomize applies every manifest but the Secret template', async (t) => {
  const service = ofKind('Service')
  const deployment = ofKind('Deployment')
  t.strictSame(service.spec.selector, deployment.spec.template.metadata.labels)
  t.strictSame(service.spec.selector, deployment.spec.selector.matchLabels)
  t.equal(service.spec.ports[0].targetPort, 'http')
  const listed = [...ofKind('Kustomization').resources].sort()
  t.strictSame(listed, readdirSync(KUBE).filter((f) => f.endsWith('.yaml') && !['kustomization.yaml', 'secret.yaml'].includes(f)).sort())
  t.notOk(listed.includes('secret.yaml'), 'applying the placeholders would overwrite the real Secret')
})

t.test('kubernetes: the ConfigMap holds a valid config, and the placeholder Secret is refused', async (t) => {
  const text = ofKind('ConfigMap').data['portcullis.yaml'] as string
  const secret = ofKind('Secret')
  const referenced = [...text.matchAll(/\/run\/secrets\/portcullis\/([a-z_]+)/g)].map((m) => m[1]).sort()
  t.strictSame(referenced, Object.keys(secret.stringData).sort(), 'the config reads exactly the Secret\'s keys')
  const real = { google_client_secret: 'real-google-secret', cookie_secret: 'k8s-cookie-secret-0123456789abcdefghijkl', redis_password: 'redis-pass' }
  const config = loadWithSecrets(text, '/run/secrets/portcullis/', real, {}, 'configmap.yaml')
  t.strictSame([config.provider.clientSecret, config.session.cookie.secrets, config.redis.password], ['real-google-secret', [real.cookie_secret], 'redis-pass'])
  t.strictSame([config.server.port, config.session.store, config.session.cookie.secure], [4180, 'redis', true])

  const err = t.throws(() => loadWithSecrets(text, '/run/secrets/portcullis/', secret.stringData, {}, 'configmap.yaml')) as ConfigError
  t.ok(err instanceof ConfigError)
  t.match(err.problems.join('\n'), /session\.cookie\.secrets\[0\]: .*32/, 'a placeholder cookie secret stops the gateway from starting')
})

/**
 * The schema of one API object, from `kubernetes-models` (generated from the official OpenAPI
 * schemas of Kubernetes 1.36): `apps/v1` + `Deployment` is `kubernetes-models/apps/v1/Deployment`,
 * the core group's `v1` is `kubernetes-models/v1/...`. Throws for a kind it does not know.
 */
async function apiSchema (apiVersion: string, kind: string): Promise<{ validate: (doc: unknown) => void }> {
  const mod = await import(`kubernetes-models/${apiVersion}/${kind}`)
  const Model = mod[kind]
  if (Model === undefined) throw new Error(`no schema for ${apiVersion} ${kind}`)
  return { validate: (doc) => { new Model(doc).validate() } }
}

/** The kinds podman plays in test/container/container.test.ts; the others are only schema-validated. */
const PLAYED = ['ConfigMap', 'Deployment', 'Secret']

/**
 * Kustomize's Kustomization is not an API object, so no API schema holds it: these are the fields of
 * kustomize's `kustomize.config.k8s.io/v1beta1` Kustomization; any other field is refused, and the
 * fields this example uses are checked for type.
 */
const KUSTOMIZATION_FIELDS = ['apiVersion', 'kind', 'metadata', 'resources', 'components', 'namespace', 'namePrefix', 'nameSuffix',
  'commonLabels', 'labels', 'commonAnnotations', 'images', 'replicas', 'patches', 'patchesStrategicMerge', 'patchesJson6902',
  'configMapGenerator', 'secretGenerator', 'generatorOptions', 'generators', 'transformers', 'validators', 'replacements',
  'vars', 'crds', 'openapi', 'buildMetadata', 'helmCharts', 'helmGlobals', 'sortOptions', 'bases']
const validateKustomization = new Ajv({ allErrors: true, strict: false }).compile({
  type: 'object',
  required: ['apiVersion', 'kind'],
  additionalProperties: false,
  properties: {
    ...Object.fromEntries(KUSTOMIZATION_FIELDS.map((f) => [f, {}])),
    apiVersion: { const: 'kustomize.config.k8s.io/v1beta1' },
    kind: { const: 'Kustomization' },
    resources: { type: 'array', items: { type: 'string', minLength: 1 } },
    namespace: { type: 'string' }
  }
})

/**
 * Unknown fields, which the OpenAPI schemas let through (as `kubectl apply --validate=strict` and
 * the API server's strict field validation do not): each object is type-checked as an object
 * literal of its kind's interface from `kubernetes-models`, whose excess-property check names every
 * field the kind does not have, at any depth. Returns one list of problems per object, in order.
 */
function unknownFields (docs: any[]): string[][] {
  const file = join(ROOT, 'test', 'docker', 'manifest-fields.check.ts')
  const lines = docs.map((doc, i) => doc?.kind === 'Kustomization'
    ? ''
    : `import type { I${doc.kind} as T${i} } from 'kubernetes-models/${doc.apiVersion}/${doc.kind}'; export const d${i}: T${i} = ${JSON.stringify(doc)}`)
  const text = lines.join('\n')
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2023, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true, noEmit: true, skipLibCheck: true, types: [], lib: ['lib.es2023.d.ts']
  }
  const host = ts.createCompilerHost(options)
  const { getSourceFile, fileExists, readFile } = host
  host.getSourceFile = (name, language, ...rest) => name === file ? ts.createSourceFile(name, text, language) : getSourceFile.call(host, name, language, ...rest)
  host.fileExists = (name) => name === file || fileExists.call(host, name)
  host.readFile = (name) => name === file ? text : readFile.call(host, name)
  const found: string[][] = docs.map(() => [])
  for (const d of ts.getPreEmitDiagnostics(ts.createProgram([file], options, host))) {
    const line = d.file !== undefined && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line : 0
    found[line]?.push(ts.flattenDiagnosticMessageText(d.messageText, ' '))
  }
  return found
}

/** The problems of each manifest object, in order: [] for an object its schema accepts. */
async function problems (docs: any[]): Promise<string[][]> {
  const fields = unknownFields(docs)
  return await Promise.all(docs.map(async (doc, i) => {
    if (doc?.kind === 'Kustomization') {
      return validateKustomization(doc) ? [] : (validateKustomization.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`)
    }
    try {
      (await apiSchema(doc.apiVersion, doc.kind)).validate(doc)
      return fields[i] ?? []
    } catch (err) {
      return [(err as Error).message, ...fields[i] ?? []]
    }
  }))
}

t.test('kubernetes: every manifest object validates against the Kubernetes 1.36 API schemas (played and unplayed kinds alike)', async (t) => {
  const kinds = kube.map((d) => d.kind).sort()
  t.strictSame(kinds, ['ConfigMap', 'Deployment', 'Kustomization', 'PodDisruptionBudget', 'Secret', 'Service'],
    'a new kind here gets its schema from kubernetes-models; docker/README.md and docs/operations.md list the kinds')
  const found = await problems(kube)
  kube.forEach((doc, i) => {
    t.strictSame(found[i], [], `${doc.kind} ${doc.metadata?.name ?? ''} (${PLAYED.includes(doc.kind) ? 'also played by podman' : 'schema only'})`)
  })
  t.ok(kube.filter((d) => d.kind === 'Kustomization').every((k) => k.resources.every((f: string) => existsSync(join(KUBE, f)))),
    'every resource the kustomization lists exists')
})

t.test('kubernetes: the schema validation refuses broken copies of the manifests', async (t) => {
  const broken = (kind: string, edit: (doc: any) => void): any => {
    const doc = structuredClone(ofKind(kind))
    edit(doc)
    return doc
  }
  const pod = (d: any): any => d.spec.template.spec
  const cases: Array<[string, any, RegExp]> = [
    ['a Service port as a string', broken('Service', (d) => { d.spec.ports[0].port = '80' }), /ports\/0\/port must be integer/],
    ['a Service port protocol Kubernetes does not know', broken('Service', (d) => { d.spec.ports[0].protocol = 'XTP' }), /protocol must be equal to one of the allowed values/],
    ['an unknown field in a Service port', broken('Service', (d) => { d.spec.ports[0].targetport = 'http' }), /'"targetport"' does not exist in type 'IServicePort'/],
    ['a Deployment without its selector', broken('Deployment', (d) => { delete d.spec.selector }), /spec must have required property selector/],
    ['a container without a name', broken('Deployment', (d) => { delete pod(d).containers[0].name }), /containers\/0 must have required property name/],
    ['a misspelt field deep in the pod template', broken('Deployment', (d) => { pod(d).containers[0].securityContext.readOnlyRootFileSystem = true }), /'"readOnlyRootFileSystem"' does not exist in type 'ISecurityContext'/],
    ['a field at the wrong level', broken('Deployment', (d) => { pod(d).readOnlyRootFilesystem = true }), /'"readOnlyRootFilesystem"' does not exist in type 'IPodSpec'/],
    ['a probe port as a boolean', broken('Deployment', (d) => { pod(d).containers[0].readinessProbe.httpGet.port = true }), /httpGet\/port/],
    ['a memory limit that is no quantity', broken('Deployment', (d) => { pod(d).containers[0].resources.limits.memory = 'lots' }), /memory must match format "quantity"/],
    ['replicas as a string', broken('Deployment', (d) => { d.spec.replicas = 'two' }), /replicas must be integer/],
    ['a ConfigMap value that is not a string', broken('ConfigMap', (d) => { d.data['portcullis.yaml'] = { server: {} } }), /must be string/],
    ['a Secret value that is not a string', broken('Secret', (d) => { d.stringData.cookie_secret = 42 }), /must be string/],
    ['a PodDisruptionBudget selector that is a string', broken('PodDisruptionBudget', (d) => { d.spec.selector = 'app=portcullis' }), /selector must be object/],
    ['an unknown field in the metadata', broken('PodDisruptionBudget', (d) => { d.metadata.label = d.metadata.labels }), /'"label"' does not exist in type 'IObjectMeta'/],
    ['a kustomization field kustomize does not know', broken('Kustomization', (d) => { d.resource = d.resources }), /must NOT have additional properties/],
    ['a kustomization resource that is not a path', broken('Kustomization', (d) => { d.resources.push(7) }), /resources\/4 must be string/]
  ]
  const found = await problems(cases.map(([, doc]) => doc))
  cases.forEach(([name, , expected], i) => { t.match(found[i]?.join('\n'), expected, name) })
  await t.rejects(apiSchema('example.com/v1', 'Widget'), 'a kind without a schema is an error, never a pass')
})
