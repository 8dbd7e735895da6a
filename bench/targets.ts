import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { DEMO_CLIENT_ID, DEMO_CLIENT_SECRET } from '../demo/accounts.js'

/*
 * The processes the benchmark measures, each started as a child process of its own so the load
 * generator never shares an event loop with what it measures.
 */

/** dist/ root (this file runs as dist/bench/targets.js). */
export const distRoot = fileURLToPath(new URL('..', import.meta.url))
/** The path at which the bench upstream echoes the request headers (see upstream-main.ts). */
export const UPSTREAM_ECHO_PATH = '/bench/headers'
export const COOKIE_SECRET = 'bench-cookie-secret-0123456789-abcdefghijklmnop'

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export interface Proc {
  readonly name: string
  readonly url: string
  readonly pid: number
  /** Resident memory of the process and its children (workers), in bytes. */
  rss (): number
  /** CPU time (user + system) used so far by the process and its children, in ms. */
  cpu (): number
  stop (): Promise<void>
}

function children (pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** VmRSS of `pid` plus that of its children, in bytes (0 when gone). */
export function treeRss (pid: number): number {
  let total = 0
  for (const p of [pid, ...children(pid)]) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))
      total += m === null ? 0 : Number(m[1]) * 1024
    } catch { /* exited */ }
  }
  return total
}

/** CPU time (utime + stime) of `pid` and its children so far, in ms. */
export function treeCpu (pid: number): number {
  let ticks = 0
  for (const p of [pid, ...children(pid)]) {
    try {
      // Fields after the command name (which may contain spaces) start at the last ')'.
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch { /* exited */ }
  }
  // Linux reports in clock ticks of 10 ms (USER_HZ = 100) on every mainstream architecture.
  return ticks * 10
}

function waitExit (child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    child.once('exit', () => { clearTimeout(timer); resolve() })
  })
}

async function stopChild (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  await waitExit(child, 15_000)
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL')
    await waitExit(child, 5000)
  }
}

/** Spawns `node script` and resolves with the port from its first `{"listening": port}` line. */
async function spawnListening (name: string, script: string, env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, [join(distRoot, script)], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 10 s: ${output}`)), 10_000)
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      const m = /\{"listening":(\d+)\}/.exec(output)
      if (m !== null) { clearTimeout(timer); resolve(Number(m[1])) }
    })
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited with ${code}: ${output}`)) })
  })
  return { name, url: `http://127.0.0.1:${port}`, pid: child.pid!, rss: () => treeRss(child.pid!), cpu: () => treeCpu(child.pid!), stop: () => stopChild(child) }
}

/** The fast upstream every target forwards to. */
export function startUpstream (): Promise<Proc> {
  return spawnListening('upstream', 'bench/upstream-main.js', {})
}

/** The bare @fastify/http-proxy in front of `upstream`. */
export function startBareProxy (upstream: string): Promise<Proc> {
  return spawnListening('bare proxy', 'bench/bare-proxy-main.js', { UPSTREAM: upstream })
}

async function waitReady (url: string, path: string, alive: () => boolean, what: string, log: () => string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (!alive()) throw new Error(`${what} exited: ${log()}`)
    const res = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(1000) }).catch(() => null)
    await res?.body?.cancel()
    if (res !== null && res.status < 500) return
    await sleep(100)
  }
  throw new Error(`${what} was not ready within 30 s: ${log()}`)
}

export interface PortcullisOptions {
  readonly name: string
  readonly port: number
  readonly issuer: string
  readonly upstream: string
  readonly store: 'redis' | 'memory'
  readonly redisUrl?: string
  readonly workers?: number
  readonly cache?: boolean
  /** Extra node options, e.g. `--cpu-prof`. */
  readonly nodeArgs?: readonly string[]
}

/** Starts `portcullis serve` (the real command) and resolves once `/ready` answers 200. */
export async function startPortcullis (options: PortcullisOptions): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'))
  const url = `http://127.0.0.1:${options.port}`
  const raw = {
    // Sign-ins are measured from one loopback address: the per-client sign-in rate limit is off.
    server: { listen: `127.0.0.1:${options.port}`, public_url: url, workers: options.workers ?? 1, rate_limit: { sign_in: 0 } },
    provider: { type: 'google', issuer: options.issuer, client_id: DEMO_CLIENT_ID, client_secret: DEMO_CLIENT_SECRET, allow_insecure_issuer: true },
    session: { store: options.store, cookie: { secrets: [COOKIE_SECRET], secure: false }, cache: { enabled: options.cache ?? true } },
    ...(options.redisUrl === undefined ? {} : { redis: { url: options.redisUrl } }),
    access: { email_domains: ['example.com'] },
    routes: [{ path: '/', upstream: options.upstream }],
    logging: { level: 'info' }
  }
  const file = join(dir, 'portcullis.yaml')
  writeFileSync(file, stringify(raw))
  // The access log goes to /dev/null: written and serialised as in production, never read.
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), join(distRoot, 'src/cli.js'), 'serve', '--config', file], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-4000) })
  await waitReady(url, '/ready', () => child.exitCode === null, options.name, () => stderr)
  for (let i = 0; i < 100; i++) {
    const res = await fetch(`${url}/ready`).catch(() => null)
    await res?.body?.cancel()
    if (res?.status === 200) break
    await sleep(100)
  }
  return { name: options.name, url, pid: child.pid!, rss: () => treeRss(child.pid!), cpu: () => treeCpu(child.pid!), stop: () => stopChild(child) }
}

/** True when `path` exists and is executable. */
export function executable (path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export const NGINX = '/usr/sbin/nginx'

/** Starts nginx (one worker process, like one gateway process) as a plain `proxy_pass` to `upstream`. */
export async function startNginx (port: number, upstream: string): Promise<Proc> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-nginx-'))
  chmodSync(dir, 0o755)
  const target = new URL(upstream)
  writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log error;
events { worker_connections 4096; }
http {
  access_log /dev/null;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream app { server ${target.host}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`)
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const url = `http://127.0.0.1:${port}`
  await waitReady(url, '/', () => child.exitCode === null, 'nginx', () => stderr)
  return { name: 'nginx', url, pid: child.pid!, rss: () => treeRss(child.pid!), cpu: () => treeCpu(child.pid!), stop: () => stopChild(child) }
}
