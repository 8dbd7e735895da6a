/**
 * Gateway replicas as real operating-system processes: each one is `node dist/src/cli.js serve
 * --config FILE`, exactly as an operator starts it, with its own event loop, its own Redis
 * connections and its own in-process state, so that what several of them share is only what
 * really is shared (Redis and the provider). Needs a build (`npx tsc -p .`); a stale or missing
 * build fails the test with that instruction rather than testing old code.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import type { RawConfig } from './stack.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const cli = join(root, 'dist', 'src', 'cli.js')

export interface GatewayProcess {
  readonly url: string
  /** Every JSON log line the process wrote so far, parsed. */
  readonly logs: Array<Record<string, unknown>>
  /** Sends SIGTERM and waits (bounded) for the exit code. */
  stop (): Promise<number | null>
}

/** Throws unless every source file under src/ has a compiled file in dist/ at least as new. */
export function assertBuilt (): void {
  const stale: string[] = []
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts')) {
        const built = join(root, 'dist', relative(root, path).replace(/\.ts$/, '.js'))
        let builtAt = 0
        try { builtAt = statSync(built).mtimeMs } catch { /* missing */ }
        if (builtAt < statSync(path).mtimeMs) stale.push(relative(root, path))
      }
    }
  }
  walk(join(root, 'src'))
  if (stale.length > 0) throw new Error(`dist/ is missing or older than ${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''}: run \`npx tsc -p .\` first`)
}

/**
 * Writes `raw` as YAML into a fresh temporary directory, starts a gateway process on it and
 * resolves once its /ready answers 200 (bounded: rejects after 20 s and kills the process).
 */
export async function startGatewayProcess (raw: RawConfig): Promise<GatewayProcess> {
  assertBuilt()
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-replica-'))
  const file = join(dir, 'portcullis.yaml')
  writeFileSync(file, stringify(raw))
  const listen = String(raw.server.listen)
  const url = `http://${listen}`
  const child: ChildProcess = spawn(process.execPath, [cli, 'serve', '--config', file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'test' } })
  const logs: Array<Record<string, unknown>> = []
  let pending = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) {
      if (line.trim() === '') continue
      try { logs.push(JSON.parse(line) as Record<string, unknown>) } catch { logs.push({ text: line }) }
    }
  })
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-4000) })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))

  async function stop (): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    try { return await exited } finally { clearTimeout(timer) }
  }

  const started = Date.now()
  while (Date.now() - started < 20_000) {
    if (child.exitCode !== null) throw new Error(`gateway process exited with ${child.exitCode}: ${stderr}`)
    const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) }).catch(() => null)
    if (res?.status === 200) return { url, logs, stop }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  await stop()
  throw new Error(`gateway process on ${url} was not ready within 20 s: ${stderr}`)
}
