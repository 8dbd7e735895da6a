import { toFileShape } from '../config/effective.js'
import type { Config } from '../config/types.js'

/** Keys (in file terms) a reload applies while running; a change anywhere else needs a restart. */
export const reloadableKeys: readonly string[] = Object.freeze(['routes', 'access', 'logging.level'])

export interface ReloadPlan {
  /** Reloadable keys whose value changed (e.g. `routes`, `access.emails`, `logging.level`). */
  readonly reloaded: readonly string[]
  /** Other keys whose value changed: reported, not applied, until the process restarts. */
  readonly restartRequired: readonly string[]
  /** The configuration in force after the reload: `running` with only the reloadable keys from `next`. */
  readonly effective: Config
}

function reloadable (path: string): boolean {
  return reloadableKeys.some((key) => path === key || path.startsWith(`${key}.`))
}

/** Every leaf path (`a.b.c`) where the two file-shaped values differ; arrays compare as one leaf. */
function changedPaths (a: unknown, b: unknown, path: string, out: string[]): void {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
  if (isObject(a) && isObject(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      changedPaths(a[key], b[key], path === '' ? key : `${path}.${key}`, out)
    }
    return
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(path)
}

/**
 * Compares the running configuration with a newly loaded one and says what a reload applies and
 * what needs a restart. Only key paths are reported, never values: a changed secret is named,
 * not shown. `effective` keeps everything from `running` except the reloadable keys, so the next
 * reload is compared against what actually runs.
 */
export function planReload (running: Config, next: Config): ReloadPlan {
  const changed: string[] = []
  changedPaths(toFileShape(running), toFileShape(next), '', changed)
  return {
    reloaded: changed.filter(reloadable),
    restartRequired: changed.filter((path) => !reloadable(path)),
    effective: {
      ...running,
      access: next.access,
      routes: next.routes,
      logging: { ...running.logging, level: next.logging.level }
    }
  }
}
