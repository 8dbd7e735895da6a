import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { lastOf } from '../../scripts/dockerfile.mjs'
import { lintDockerfile, parseDockerfile, readDockerignore, reportProblems, runImageCheck } from '../../scripts/image-check.mjs'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const DOCKERFILE = readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8')

// Replaying the image runs `npm ci` twice and a full compile: minutes, not the suite's default.
t.setTimeout(15 * 60_000)

t.test('Dockerfile: the project image keeps every rule', async (t) => {
  t.strictSame(lintDockerfile(parseDockerfile(DOCKERFILE)), [])
})

t.test('Dockerfile: the final stage runs the gateway CLI as the node user, config from PORTCULLIS_CONFIG', async (t) => {
  const { stages, final } = parseDockerfile(DOCKERFILE)
  t.strictSame(stages.map((s) => [s.name, s.from]), [
    ['build', 'node:20-bookworm-slim'],
    ['demo', 'build'],
    ['runtime', 'node:20-bookworm-slim']
  ])
  t.strictSame(lastOf(final, 'ENTRYPOINT')?.json, ['node', '/app/dist/src/cli.js'])
  t.strictSame(lastOf(final, 'CMD')?.json, ['serve'])
  t.equal(lastOf(final, 'USER')?.args, 'node')
  t.equal(lastOf(final, 'EXPOSE')?.args, '4180')
  const env = Object.assign({}, ...final.instructions.filter((i) => i.keyword === 'ENV').map((i) => i.env))
  t.equal(env.PORTCULLIS_CONFIG, '/etc/portcullis/portcullis.yaml')
  t.equal(env.PORTCULLIS_HEALTH_URL, 'http://127.0.0.1:4180/ping')
  t.equal(env.NODE_ENV, 'production')
  const check = lastOf(final, 'HEALTHCHECK')?.check
  t.equal(check?.json?.[0], 'node', 'the health check needs nothing but node')
  t.match(check?.json?.[2] ?? '', /process\.env\.PORTCULLIS_HEALTH_URL/)
  // Only the compiled gateway is copied from the build stage: no demo, no tests.
  t.strictSame(final.instructions.filter((i) => i.keyword === 'COPY').map((i) => [i.flags.from ?? null, i.args]), [
    [null, 'package.json package-lock.json ./'],
    ['build', '/app/dist/src ./dist/src']
  ])
})

t.test('Dockerfile lint: reports each broken rule', async (t) => {
  const bad = `FROM node AS build
WORKDIR /app
ADD https://example.com/tool.tgz /tmp/
RUN npm ci
FROM node:latest
WORKDIR /app
COPY --from=nowhere /app/dist ./dist
RUN npm ci
USER root
EXPOSE 8080
ENTRYPOINT node dist/src/cli.js
CMD serve
`
  t.strictSame(lintDockerfile(parseDockerfile(bad)), [
    'line 1: FROM node has no tag (it would mean latest)',
    'line 3: ADD fetches a URL (use a checked download in RUN, or COPY)',
    'line 5: FROM node:latest uses the latest tag',
    'line 7: COPY --from=nowhere names no earlier stage',
    'line 11: ENTRYPOINT must use the exec form ["..."]',
    'line 12: CMD must use the exec form ["..."]',
    'final stage 1: USER root is root',
    'final stage 1: does not EXPOSE 4180',
    'final stage 1: no HEALTHCHECK',
    'final stage 1: no "npm ci --omit=dev" (production dependencies only)',
    'final stage 1: "npm ci" installs dev dependencies'
  ])
})

t.test('Dockerfile lint: a final stage without USER runs as root and is refused', async (t) => {
  const text = DOCKERFILE.replace(/^USER node$/gm, '')
  t.strictSame(lintDockerfile(parseDockerfile(text)), ['final stage runtime: no USER (it would run as root)'])
})

t.test('Dockerfile parser: continuations, comments, flags, ENV forms and HEALTHCHECK NONE', async (t) => {
  const parsed = parseDockerfile(`# syntax=docker/dockerfile:1
FROM debian:12-slim@sha256:0123abcd
ENV A=1 B="two words" \\
    # a comment inside a continuation
    C='3'
ENV LEGACY some value
HEALTHCHECK NONE
RUN ["npm", "ci", "--omit=dev"]
`)
  const [stage] = parsed.stages
  t.equal(stage?.name, '0')
  t.strictSame(stage?.instructions.map((i) => [i.keyword, i.line]), [['FROM', 2], ['ENV', 3], ['ENV', 6], ['HEALTHCHECK', 7], ['RUN', 8]])
  t.strictSame(stage?.instructions[1]?.env, { A: '1', B: 'two words', C: '3' })
  t.strictSame(stage?.instructions[2]?.env, { LEGACY: 'some value' })
  t.equal(stage?.instructions[3]?.check, null)
  t.strictSame(stage?.instructions[4]?.json, ['npm', 'ci', '--omit=dev'])
  t.throws(() => parseDockerfile('FROM node:20\nFETCH x\n'), /line 2: unknown instruction FETCH/)
})

t.test('.dockerignore: keeps the sources the Dockerfile copies and leaves out local state', async (t) => {
  const ignored = readDockerignore(ROOT)
  for (const kept of ['package.json', 'package-lock.json', 'tsconfig.json', 'src/cli.ts', 'demo/upstream-main.ts']) t.equal(ignored(kept), false, `${kept} is sent`)
  for (const left of ['node_modules', 'node_modules/fastify/package.json', 'dist/src/cli.js', '.git/HEAD', '.tap/report', 'coverage/x', 'test/docker/image.test.ts', 'docker/secrets/cookie_secret', '.env', 'README.md']) {
    t.equal(ignored(left), true, `${left} is left out`)
  }
})

t.test('image: the build and runtime stages replayed in a clean folder give a gateway that serves, checks its health and stops on SIGTERM', async (t) => {
  const report = await runImageCheck({ repoRoot: ROOT })
  t.strictSame(report.stages.map((s) => [s.name, s.ran, s.skipped]), [
    ['build', ['COPY package.json package-lock.json ./', 'npm ci --no-audit --no-fund', 'COPY tsconfig.json ./', 'COPY src ./src', 'COPY demo ./demo', 'npm run build'], []],
    ['demo', [], []],
    ['runtime', ['COPY package.json package-lock.json ./', 'npm ci --omit=dev --no-audit --no-fund', 'COPY --from=build /app/dist/src ./dist/src'], ['npm cache clean --force']]
  ])
  t.strictSame(report.packages.devPresent, [], 'no dev-only package reaches the image')
  t.ok(report.packages.devChecked > 100, `the lockfile's dev-only packages were checked (${report.packages.devChecked})`)
  for (const name of ['tap', 'typescript', 'oidc-provider', 'playwright-core']) t.notOk(report.packages.topLevel.includes(name), `${name} is not installed`)
  for (const name of ['fastify', 'ioredis', 'openid-client', 'pino', 'yaml']) t.ok(report.packages.topLevel.includes(name), `${name} is installed`)
  t.strictSame(report.packages.prodMissing, [])
  t.strictSame(report.entrypoints, [{ stage: 'build', missing: [] }, { stage: 'demo', missing: [] }, { stage: 'runtime', missing: [] }])
  t.strictSame(report.demos.map((d) => [d.stage, d.status, d.stop.code]), [['demo', 200, 0]], 'the demo app serves and stops on SIGTERM')
  t.equal(report.run.pingStatus, 200, '/ping answers while the provider is unreachable')
  t.equal(report.run.readyStatus, 503, '/ready refuses while the provider is unreachable')
  t.equal(report.run.healthcheckExit, 0, 'HEALTHCHECK passes against the running gateway')
  t.equal(report.run.healthcheckDownExit, 1, 'HEALTHCHECK fails against a port nothing listens on')
  t.strictSame([report.run.stop.code, report.run.stop.signal], [0, null], 'SIGTERM ends the gateway with exit code 0')
  t.ok(report.run.stop.ms < 10_000, `it stopped within 10 s (${report.run.stop.ms} ms)`)
  t.strictSame(reportProblems(report), [])
})
