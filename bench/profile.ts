import { readFileSync } from 'node:fs'

/*
 * A summary of a V8 CPU profile (`node --cpu-prof`): where the gateway's samples land, by
 * function (self time) and by component (the gateway's own code, each package, node internals).
 */

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string, readonly url: string, readonly lineNumber: number }
  readonly hitCount?: number
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[]
  readonly startTime: number
  readonly endTime: number
}

export interface ProfileSummary {
  /** Sampled time in ms, idle excluded. */
  readonly busyMs: number
  /** Share of sampled time that was idle (waiting for I/O). */
  readonly idleShare: number
  readonly functions: ReadonlyArray<{ readonly name: string, readonly share: number }>
  readonly components: ReadonlyArray<{ readonly name: string, readonly share: number }>
}

/** The component a frame belongs to: `portcullis` for src/, a package name, `node`, or a V8 marker. */
export function componentOf (url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : 'native'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg !== null) return pkg[1]!
  if (url.startsWith('node:')) return 'node'
  if (/\/dist\/src\//.test(url)) return 'portcullis'
  return 'other'
}

function label (frame: ProfileNode['callFrame']): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
  const url = frame.url
  if (url === '') return name
  const file = url.includes('node_modules/')
    ? url.slice(url.lastIndexOf('node_modules/') + 'node_modules/'.length)
    : url.includes('/dist/') ? url.slice(url.lastIndexOf('/dist/') + '/dist/'.length) : url
  return `${name} (${file}:${frame.lineNumber + 1})`
}

/** Summarises the profile in `file`: the `top` heaviest functions and every component's share. */
export function summariseProfile (file: string, top = 12): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile
  let total = 0
  let idle = 0
  const byFunction = new Map<string, number>()
  const byComponent = new Map<string, number>()
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0
    if (hits === 0) continue
    total += hits
    const name = node.callFrame.functionName
    if (name === '(idle)' || name === '(program)') {
      idle += hits
      continue
    }
    const fn = label(node.callFrame)
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + hits)
    const component = componentOf(node.callFrame.url, name)
    byComponent.set(component, (byComponent.get(component) ?? 0) + hits)
  }
  const busy = total - idle
  const shares = (m: Map<string, number>): Array<{ name: string, share: number }> =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).map(([name, hits]) => ({ name, share: busy === 0 ? 0 : hits / busy }))
  const sampledMs = (profile.endTime - profile.startTime) / 1000
  return {
    busyMs: total === 0 ? 0 : sampledMs * (busy / total),
    idleShare: total === 0 ? 0 : idle / total,
    functions: shares(byFunction).slice(0, top),
    components: shares(byComponent).slice(0, top)
  }
}
