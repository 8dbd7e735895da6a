#!/usr/bin/env node
// Proves the container image's steps without a Docker engine: replays the Dockerfile's stages in a
// clean temporary folder (COPY from the build context minus .dockerignore, the npm steps of RUN,
// COPY --from between stages), checks that the final stage holds production dependencies only, then
// runs its ENTRYPOINT + CMD and HEALTHCHECK the way the engine would and stops it with SIGTERM.
//
//   node scripts/image-check.mjs [--keep]     exit 0 when every check passes
import { spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, posix, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { commandsOf, lastOf, lintDockerfile, parseDockerfile, readDockerignore } from './dockerfile.mjs'

export { lintDockerfile, parseDockerfile, readDockerignore } from './dockerfile.mjs'

const NPM_QUIET = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error']
const STEP_TIMEOUT_MS = 6 * 60_000
const START_TIMEOUT_MS = 20_000
const STOP_TIMEOUT_MS = 10_000

/**
 * Replays the Dockerfile at `<repoRoot>/Dockerfile` and runs the result; resolves with a report of
 * what was found (see image-check.d.mts) and rejects when a step cannot run at all (an npm step
 * fails, the gateway never answers). Every wait is bounded. `keep` leaves the temporary folder.
 */
export async function runImageCheck ({ repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..'), keep = false, log = () => {} } = {}) {
  const parsed = parseDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'))
  const lint = lintDockerfile(parsed)
  const ignored = readDockerignore(repoRoot)
  const root = mkdtempSync(join(tmpdir(), 'portcullis-image-'))
  const stages = new Map()
  try {
    for (const stage of parsed.stages) stages.set(stage.name, await replayStage(stage, { repoRoot, root, ignored, stages, log }))
    const final = stages.get(parsed.final.name)
    const packages = checkPackages(final.dir, join(repoRoot, 'package-lock.json'))
    const entrypoints = [...stages.values()].map((s) => ({ stage: s.name, missing: missingEntryFiles(s) }))
    const demos = []
    for (const state of stages.values()) {
      if (state !== final && lastOf(state.stage, 'ENTRYPOINT') !== undefined) {
        log(`running stage ${state.name}`)
        demos.push(await runDemoStage(state))
      }
    }
    log('running the final stage')
    const run = await runFinalStage(final, root, log)
    return { lint, root, stages: [...stages.values()].map(({ name, ran, skipped }) => ({ name, ran, skipped })), packages, entrypoints, demos, run }
  } finally {
    if (!keep) rmSync(root, { recursive: true, force: true })
  }
}

async function replayStage (stage, { repoRoot, root, ignored, stages, log }) {
  const parent = stages.get(stage.from)
  const writes = stage.instructions.some((i) => i.keyword === 'COPY' || i.keyword === 'RUN')
  let dir = join(root, stage.name)
  if (parent !== undefined && !writes) dir = parent.dir
  else if (parent !== undefined) cpSync(parent.dir, dir, { recursive: true })
  else mkdirSync(dir)
  // `base` is the folder of the image that the temporary folder stands for: the first WORKDIR.
  const state = { name: stage.name, dir, base: parent?.base, workdir: parent?.workdir ?? '/', env: { ...(parent?.env ?? {}) }, ran: [], skipped: [], stage }
  const inside = (path) => mapPath(state, path)
  for (const i of stage.instructions) {
    if (i.keyword === 'WORKDIR') {
      state.workdir = posix.resolve(state.workdir, i.args)
      state.base ??= state.workdir
      mkdirSync(inside(state.workdir), { recursive: true })
    } else if (i.keyword === 'ENV') {
      Object.assign(state.env, i.env)
    } else if (i.keyword === 'COPY' || i.keyword === 'ADD') {
      const parts = i.json ?? i.args.split(/\s+/)
      const dest = posix.resolve(state.workdir, parts.at(-1))
      for (const source of parts.slice(0, -1)) {
        if (i.flags.from !== undefined) {
          const from = stages.get(i.flags.from)
          if (from === undefined) throw new Error(`line ${i.line}: COPY --from=${i.flags.from}: no such stage`)
          const src = mapPath(from, posix.resolve(from.workdir, source))
          if (!existsSync(src)) throw new Error(`line ${i.line}: COPY --from=${i.flags.from} ${source}: not found in that stage`)
          copyInto(src, inside(dest), parts.length > 2 || dest.endsWith('/') || parts.at(-1).endsWith('/'), () => false)
        } else {
          const rel = posix.normalize(source)
          if (ignored(rel)) throw new Error(`line ${i.line}: COPY ${source}: excluded by .dockerignore`)
          const src = join(repoRoot, rel)
          if (!existsSync(src)) throw new Error(`line ${i.line}: COPY ${source}: not in the build context`)
          copyInto(src, inside(dest), parts.length > 2 || parts.at(-1).endsWith('/'), (path) => ignored(relative(repoRoot, path).split('\\').join('/')))
        }
      }
      state.ran.push([i.keyword, ...Object.entries(i.flags).map(([k, v]) => `--${k}=${v}`), i.args].join(' '))
    } else if (i.keyword === 'RUN') {
      for (const command of commandsOf(i)) {
        const words = command.split(/\s+/)
        if (words[0] !== 'npm' || !['ci', 'run'].includes(words[1])) {
          state.skipped.push(command)
          continue
        }
        log(`${stage.name}: ${command}`)
        const args = words[1] === 'ci' ? [...words.slice(1), ...NPM_QUIET.filter((f) => !words.includes(f))] : words.slice(1)
        const result = await runBounded('npm', args, { cwd: inside(state.workdir), env: cleanEnv(state.env), timeoutMs: STEP_TIMEOUT_MS })
        if (result.code !== 0) throw new Error(`${stage.name}: "${command}" failed (exit ${result.code}${result.timedOut ? ', timed out' : ''}):\n${result.output.slice(-4000)}`)
        state.ran.push(command)
      }
    }
  }
  return state
}

/** Maps a path inside a stage's filesystem to the temporary folder; only paths under the stage's base. */
function mapPath (state, path) {
  const base = state.base
  if (base === undefined) throw new Error(`stage ${state.name}: a WORKDIR must come before ${path} is used`)
  const rel = posix.relative(base, posix.resolve(state.workdir, path))
  if (rel.startsWith('..')) throw new Error(`stage ${state.name}: ${path} lies outside ${base}, which this check cannot replay`)
  return join(state.dir, rel)
}

function copyInto (src, dest, intoFolder, skip) {
  const target = statSync(src).isDirectory() || !intoFolder ? dest : join(dest, src.split(/[\\/]/).at(-1))
  mkdirSync(dirname(target), { recursive: true })
  cpSync(src, target, { recursive: true, filter: (path) => !skip(path) })
}

/**
 * The lockfile decides what is a dev-only package (`"dev": true`): each must be absent from the
 * final stage, and each production package present.
 */
function checkPackages (dir, lockFile) {
  const lock = JSON.parse(readFileSync(lockFile, 'utf8'))
  const devPresent = []
  const prodMissing = []
  let devChecked = 0
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    if (path === '' || !path.startsWith('node_modules/')) continue
    const present = existsSync(join(dir, path))
    if (entry.dev === true) {
      devChecked++
      if (present) devPresent.push(path)
    } else if (!entry.optional && !entry.devOptional && !present) {
      prodMissing.push(path)
    }
  }
  const topLevel = readdirSync(join(dir, 'node_modules')).filter((n) => !n.startsWith('.'))
  return { devChecked, devPresent, prodMissing, topLevel }
}

/** Absolute files named by a stage's ENTRYPOINT/CMD (e.g. /app/dist/src/cli.js) that it lacks. */
function missingEntryFiles (state) {
  const argv = [...(lastOf(state.stage, 'ENTRYPOINT')?.json ?? []), ...(lastOf(state.stage, 'CMD')?.json ?? [])]
  return argv.filter((a) => a.startsWith('/') && a.endsWith('.js')).filter((a) => !existsSync(mapPath(state, a)))
}

/** Starts a stage's ENTRYPOINT + CMD as the engine would: exec form, no shell, the stage's ENV. */
function startStage (state, env) {
  const argv = [...(lastOf(state.stage, 'ENTRYPOINT')?.json ?? []), ...(lastOf(state.stage, 'CMD')?.json ?? [])].map((a) => a.startsWith('/') ? mapPath(state, a) : a)
  const [command, ...args] = argv
  const child = spawn(command === 'node' ? process.execPath : command, args, { cwd: mapPath(state, state.workdir), env: cleanEnv({ ...state.env, ...env }), stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  const stop = async () => {
    const started = Date.now()
    child.kill('SIGTERM')
    const result = await Promise.race([exited, delay(STOP_TIMEOUT_MS).then(() => ({ code: null, signal: 'timeout' }))])
    return { ...result, ms: Date.now() - started }
  }
  const kill = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') }
  return { argv, exited, output: () => output, stop, kill }
}

/**
 * The demo stage's default command (the demo app of the compose files) must serve and stop on
 * SIGTERM too; it is told to listen on loopback only here.
 */
async function runDemoStage (state) {
  const port = await freePort()
  const run = startStage(state, { PORT: String(port), HOST: '127.0.0.1' })
  try {
    const status = await waitForStatus(`http://127.0.0.1:${port}/`, run.exited, run.output)
    return { stage: state.name, argv: run.argv, status, stop: await run.stop() }
  } finally {
    run.kill()
  }
}

async function runFinalStage (final, root, log) {
  const port = await freePort()
  const deadIssuerPort = await freePort()
  const configFile = join(root, 'portcullis.yaml')
  writeFileSync(configFile, testConfig(port, deadIssuerPort))
  const healthUrl = `http://127.0.0.1:${port}/ping`
  const overrides = { PORTCULLIS_CONFIG: configFile, PORTCULLIS_HEALTH_URL: healthUrl }
  const env = cleanEnv({ ...final.env, ...overrides })
  const gateway = startStage(final, overrides)
  try {
    const pingStatus = await waitForStatus(healthUrl, gateway.exited, gateway.output)
    const readyStatus = (await fetch(`http://127.0.0.1:${port}/ready`, { signal: AbortSignal.timeout(5000) })).status
    const check = lastOf(final.stage, 'HEALTHCHECK').check
    const healthArgv = check.json ?? ['/bin/sh', '-c', check.args]
    const healthTimeoutMs = durationMs(check.flags.timeout ?? '30s')
    const run = (url) => runBounded(healthArgv[0] === 'node' ? process.execPath : healthArgv[0], healthArgv.slice(1), { cwd: root, env: { ...env, PORTCULLIS_HEALTH_URL: url }, timeoutMs: healthTimeoutMs })
    const healthcheck = await run(healthUrl)
    // The same check against a port nothing listens on: proves it can report a dead gateway.
    const healthcheckWhenDown = await run(`http://127.0.0.1:${deadIssuerPort}/ping`)
    log('sending SIGTERM')
    const stop = await gateway.stop()
    return { argv: gateway.argv, pingStatus, readyStatus, healthcheckExit: healthcheck.code, healthcheckDownExit: healthcheckWhenDown.code, stop, output: gateway.output() }
  } finally {
    gateway.kill()
  }
}

function testConfig (port, deadIssuerPort) {
  return `# Written by scripts/image-check.mjs: memory store, and an issuer nothing listens on.
server:
  listen: "127.0.0.1:${port}"
  public_url: "http://127.0.0.1:${port}"
provider:
  type: oidc
  issuer: "http://127.0.0.1:${deadIssuerPort}"
  client_id: image-check
  client_secret: image-check-secret
  allow_insecure_issuer: true
session:
  store: memory
  cookie:
    secrets: ["image-check-cookie-secret-0123456789abcdef"]
    secure: false
access:
  email_domains: [example.com]
routes:
  - path: /
    upstream: "http://127.0.0.1:${deadIssuerPort}"
logging:
  level: warn
`
}

async function waitForStatus (url, exited, output) {
  const deadline = Date.now() + START_TIMEOUT_MS
  let gone = null
  void exited.then((e) => { gone = e })
  while (Date.now() < deadline) {
    if (gone !== null) throw new Error(`the gateway exited (code ${gone.code}, signal ${gone.signal}) before answering ${url}:\n${output().slice(-4000)}`)
    try {
      return (await fetch(url, { signal: AbortSignal.timeout(1000) })).status
    } catch {
      await delay(100)
    }
  }
  throw new Error(`the gateway did not answer ${url} within ${START_TIMEOUT_MS} ms:\n${output().slice(-4000)}`)
}

/** Runs a command with output captured; kills it after `timeoutMs`. */
function runBounded (command, args, { cwd, env, timeoutMs }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    let timedOut = false
    child.stdout.on('data', (d) => { output += d })
    child.stderr.on('data', (d) => { output += d })
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL') }, timeoutMs)
    child.on('error', (err) => { output += String(err) })
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, timedOut, output }) })
  })
}

/** A build runs with the stage's ENV and little else: none of the caller's Node options or npm lifecycle variables. */
function cleanEnv (stageEnv) {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy', 'npm_config_cache', 'npm_config_registry', 'NPM_CONFIG_REGISTRY']
  const env = {}
  for (const name of keep) if (process.env[name] !== undefined) env[name] = process.env[name]
  return { ...env, ...stageEnv }
}

function durationMs (text) {
  const m = /^(\d+)(ms|s|m)?$/.exec(text)
  if (m === null) throw new Error(`cannot read duration "${text}"`)
  return Number(m[1]) * ({ ms: 1, s: 1000, m: 60_000 }[m[2] ?? 's'])
}

function delay (ms) {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

function freePort () {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** The verdict on a report: one line per failed expectation (empty: the image is sound). */
export function reportProblems (report) {
  const problems = [...report.lint]
  if (report.packages.devPresent.length > 0) problems.push(`dev-only packages in the final stage: ${report.packages.devPresent.join(', ')}`)
  if (report.packages.prodMissing.length > 0) problems.push(`production packages missing from the final stage: ${report.packages.prodMissing.join(', ')}`)
  for (const e of report.entrypoints) if (e.missing.length > 0) problems.push(`stage ${e.stage}: ENTRYPOINT/CMD files missing: ${e.missing.join(', ')}`)
  for (const d of report.demos) {
    if (d.status !== 200) problems.push(`stage ${d.stage}: ${d.argv.join(' ')} answered ${d.status}, expected 200`)
    if (d.stop.code !== 0) problems.push(`stage ${d.stage}: after SIGTERM exited with code ${d.stop.code}, signal ${d.stop.signal}, expected 0`)
  }
  const { run } = report
  if (run.pingStatus !== 200) problems.push(`/ping answered ${run.pingStatus}, expected 200`)
  if (run.readyStatus !== 503) problems.push(`/ready answered ${run.readyStatus} with the provider unreachable, expected 503`)
  if (run.healthcheckExit !== 0) problems.push(`HEALTHCHECK exited ${run.healthcheckExit} against a live gateway, expected 0`)
  if (run.healthcheckDownExit === 0) problems.push('HEALTHCHECK exited 0 against a dead port')
  if (run.stop.code !== 0) problems.push(`after SIGTERM the gateway exited with code ${run.stop.code}, signal ${run.stop.signal}, expected code 0 within ${STOP_TIMEOUT_MS} ms`)
  return problems
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const keep = process.argv.includes('--keep')
  runImageCheck({ keep, log: (s) => process.stderr.write(`image-check: ${s}\n`) }).then((report) => {
    const problems = reportProblems(report)
    for (const s of report.stages) process.stdout.write(`stage ${s.name}: ran ${s.ran.length} steps${s.skipped.length > 0 ? `, skipped (not replayable here): ${s.skipped.join('; ')}` : ''}\n`)
    process.stdout.write(`final stage: ${report.packages.topLevel.length} top-level packages, ${report.packages.devChecked} dev-only packages absent: ${report.packages.devPresent.length === 0}\n`)
    for (const d of report.demos) process.stdout.write(`stage ${d.stage}: ${d.argv.join(' ')} -> GET / ${d.status}, SIGTERM exit ${d.stop.code}\n`)
    process.stdout.write(`run: ${report.run.argv.join(' ')} -> /ping ${report.run.pingStatus}, /ready ${report.run.readyStatus}, HEALTHCHECK exit ${report.run.healthcheckExit}, SIGTERM exit ${report.run.stop.code} in ${report.run.stop.ms} ms\n`)
    if (keep) process.stdout.write(`kept ${report.root}\n`)
    for (const p of problems) process.stdout.write(`PROBLEM: ${p}\n`)
    process.stdout.write(problems.length === 0 ? 'image check passed\n' : 'image check FAILED\n')
    process.exitCode = problems.length === 0 ? 0 : 1
  }, (err) => {
    process.stderr.write(`image check FAILED: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exitCode = 1
  })
}
