/**
 * The real container engine of the container tests: podman as root, with the engine settings of
 * scripts/container/containers.conf (runc, open-file limits the machine allows) and builds in
 * chroot isolation. Every command is bounded by a timeout.
 */
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { root } from './build.js'

export const CONTAINERS_CONF = join(root, 'scripts', 'container', 'containers.conf')

const engineEnv = (): NodeJS.ProcessEnv => ({ ...process.env, CONTAINERS_CONF, BUILDAH_ISOLATION: 'chroot' })

export interface CommandResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * Why the container tests cannot run on this machine, or undefined when they can: podman must be
 * installed and the tests must run as root (rootless podman needs set-up this suite does not do).
 */
export function podmanMissing (): string | undefined {
  const probe = spawnSync('podman', ['--version'], { encoding: 'utf8', timeout: 30_000, env: engineEnv() })
  if (probe.error !== undefined || probe.status !== 0) {
    return 'podman is not installed (Debian: apt-get install podman buildah runc catatonit debootstrap; .ci/run installs them)'
  }
  if (process.getuid?.() !== 0) return 'the container tests run podman as root; this test run is not root'
  return undefined
}

/** Runs a program (podman itself, or a script that calls it) with the engine settings; throws on failure unless `allowFail`. */
export async function runEngine (file: string, args: readonly string[], options: { timeoutMs?: number, allowFail?: boolean, cwd?: string, env?: Record<string, string> } = {}): Promise<CommandResult> {
  const timeoutMs = options.timeoutMs ?? 120_000
  const child = spawn(file, args, { cwd: options.cwd ?? root, env: { ...engineEnv(), ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr = (stderr + chunk.toString()).slice(-20_000) })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', (err) => { stderr += `\ncannot run ${file}: ${err.message}`; resolve(null) })
    child.once('close', (status) => { resolve(status) })
  }).finally(() => { clearTimeout(timer) })
  const result = { code, stdout, stderr }
  if (code !== 0 && options.allowFail !== true) {
    throw new Error(`${file} ${args.join(' ')} failed (exit code ${code ?? `none: not started, or killed after ${timeoutMs} ms`}):\n${stderr.slice(-4000)}`)
  }
  return result
}

/** `podman ARGS...` */
export function podman (args: readonly string[], options: { timeoutMs?: number, allowFail?: boolean } = {}): Promise<CommandResult> {
  return runEngine('podman', args, options)
}

/** Removes containers, pods, secrets or volumes by name; names that do not exist are fine. */
export async function removeQuietly (kind: 'container' | 'pod' | 'secret' | 'volume', names: readonly string[]): Promise<void> {
  if (names.length === 0) return
  const args = kind === 'secret' ? ['secret', 'rm', ...names] : [kind, 'rm', '-f', ...(kind === 'volume' ? [] : ['-t', '0']), ...names]
  await podman(args, { allowFail: true, timeoutMs: 60_000 })
}
