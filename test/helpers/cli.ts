/**
 * Runs the built gateway as an operator does, `node dist/src/cli.js serve --config FILE`, so
 * signals, reloads and TLS are tested on a real process. Needs the project built first
 * (`npx tsc -p .`, which `npm test` does); a missing or stale build is rebuilt (helpers/build.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { ensureBuilt } from './build.js'

const CLI = fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url))
const live = new Set<ChildProcess>()
process.on('exit', () => { for (const child of live) child.kill('SIGKILL') })

export type LogLine = Record<string, unknown>

/** The addresses a gateway logged as bound, in its `portcullis listening` line. */
export interface Listening {
  /** The main listener, e.g. `http://127.0.0.1:40025` (the port it got for `server.listen` port 0). */
  readonly url: string
  /** The `metrics.listen` address, when set (a worker of `server.workers` > 1 serves none). */
  readonly metrics?: string
  /** The `admin.listen` address, when set. */
  readonly admin?: string
}

export interface GatewayProcess {
  readonly child: ChildProcess
  /** Every JSON line written to stdout so far. */
  readonly lines: LogLine[]
  /** What the gateway logged as bound once it listened: configs in tests use port 0 and read it here. */
  readonly listening: Listening
  /** All of stdout and stderr so far. */
  output (): string
  /** Resolves with the first line (already written or still to come) matching; rejects after `timeoutMs`. */
  waitForLine (predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>
  /** Resolves with the text once `output()` contains it; rejects after `timeoutMs`. */
  waitForText (text: string, timeoutMs?: number): Promise<void>
  /** Resolves with the exit code (null when killed by a signal) when the process ends. */
  readonly exited: Promise<number | null>
  signal (name: NodeJS.Signals): void
  /** Sends SIGTERM and waits for the exit code (SIGKILL after 10 s). */
  stop (): Promise<number | null>
}

/** Writes a config object as YAML into a fresh temporary directory; returns the file's path. */
export function writeConfigFile (raw: Record<string, unknown>, dir = mkdtempSync(join(tmpdir(), 'portcullis-cli-'))): string {
  const file = join(dir, 'portcullis.yaml')
  writeFileSync(file, stringify(raw))
  return file
}

/** Replaces the content of a config file (before a SIGHUP). */
export function rewriteConfigFile (file: string, content: Record<string, unknown> | string): void {
  writeFileSync(file, typeof content === 'string' ? content : stringify(content))
}

/**
 * Starts `portcullis serve --config file` and waits (bounded) until it logs that it listens
 * (`readyText` for a non-JSON log format); `listening` then holds the addresses it logged, so a
 * config can say port 0 and no port has to be picked beforehand. The process is SIGKILLed when
 * the test process exits.
 */
export async function spawnGateway (file: string, options: { readyText?: string, timeoutMs?: number } = {}): Promise<GatewayProcess> {
  ensureBuilt('dist/src/cli.js', ['src'])
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } })
  live.add(child)
  const lines: LogLine[] = []
  let text = ''
  let pending = ''
  const listeners = new Set<() => void>()
  const notify = (): void => { for (const listener of [...listeners]) listener() }
  child.stdout?.on('data', (chunk: Buffer) => {
    const s = chunk.toString('utf8')
    text += s
    pending += s
    const parts = pending.split('\n')
    pending = parts.pop() ?? ''
    for (const part of parts) {
      try { lines.push(JSON.parse(part) as LogLine) } catch { /* not JSON (pretty format) */ }
    }
    notify()
  })
  child.stderr?.on('data', (chunk: Buffer) => { text += chunk.toString('utf8'); notify() })
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => { live.delete(child); notify(); resolve(code) })
  })
  let done = false
  void exited.then(() => { done = true })

  function waitUntil<T> (check: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { listeners.delete(listener); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; output:\n${text}`)) }, timeoutMs)
      const listener = (): void => {
        const found = check()
        if (found !== undefined) {
          clearTimeout(timer)
          listeners.delete(listener)
          resolve(found)
        } else if (done) {
          clearTimeout(timer)
          listeners.delete(listener)
          reject(new Error(`the gateway exited while waiting for ${what}; output:\n${text}`))
        }
      }
      listeners.add(listener)
      listener()
    })
  }

  const gateway: Omit<GatewayProcess, 'listening'> = {
    child,
    lines,
    output: () => text,
    waitForLine: (predicate, timeoutMs = 10_000) => waitUntil(() => lines.find(predicate), 'a log line', timeoutMs),
    waitForText: async (wanted, timeoutMs = 10_000) => { await waitUntil(() => text.includes(wanted) ? true : undefined, JSON.stringify(wanted), timeoutMs) },
    exited,
    signal: (name) => { child.kill(name) },
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      try { return await exited } finally { clearTimeout(timer) }
    }
  }
  const timeoutMs = options.timeoutMs ?? 15_000
  if (options.readyText !== undefined) await gateway.waitForText(options.readyText, timeoutMs)
  else await gateway.waitForLine((l) => l.msg === LISTENING, timeoutMs)
  return Object.assign(gateway, { listening: await listeningLine(gateway, timeoutMs) })
}

const LISTENING = 'portcullis listening'

function listeningFrom (fields: LogLine): Listening {
  if (typeof fields.url !== 'string') throw new Error(`a "${LISTENING}" line without its url: ${JSON.stringify(fields)}`)
  const optional = (name: 'metrics' | 'admin'): Partial<Listening> => typeof fields[name] === 'string' ? { [name]: fields[name] } : {}
  return { url: fields.url, ...optional('metrics'), ...optional('admin') }
}

/** The fields of the first `portcullis listening` line, in the JSON or the pretty log format. */
async function listeningLine (gateway: Omit<GatewayProcess, 'listening'>, timeoutMs: number): Promise<Listening> {
  const json = gateway.lines.find((l) => l.msg === LISTENING)
  if (json !== undefined) return listeningFrom(json)
  // Pretty: `INFO: portcullis listening {"url":...}` (its fields as JSON on the same line).
  const started = Date.now()
  while (Date.now() - started < timeoutMs) {
    const complete = gateway.output().split('\n').slice(0, -1)
    const line = complete.find((l) => l.includes(LISTENING))
    if (line !== undefined) return listeningFrom(JSON.parse(line.slice(line.indexOf('{', line.indexOf(LISTENING)))) as LogLine)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`no complete "${LISTENING}" line within ${timeoutMs} ms:\n${gateway.output()}`)
}
