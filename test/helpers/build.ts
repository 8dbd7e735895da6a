import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root. */
export const root = fileURLToPath(new URL('../..', import.meta.url))

function newest (dir: string): number {
  let latest = 0
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : entry.name.endsWith('.ts') ? statSync(join(root, path)).mtimeMs : 0)
  }
  return latest
}

/**
 * Builds dist/ (bounded to 5 minutes) when `output` is missing or older than any source under
 * `sources`, for tests that run the compiled command the way users do.
 */
export function ensureBuilt (output: string, sources: readonly string[]): void {
  const built = join(root, output)
  if (existsSync(built) && statSync(built).mtimeMs >= Math.max(...sources.map(newest))) return
  const result = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit', timeout: 300_000 })
  if (result.status !== 0) throw new Error('the build failed')
}
