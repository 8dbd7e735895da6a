import { readdirSync, readFileSync } from 'node:fs'
import { join, posix, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/*
 * Every arrow points down. The source is a stack of floors (docs/architecture.md); a module may
 * import from its own folder and from any floor below its own, never from its own floor's other
 * units or from a floor above. A unit is a folder of src/ or a file at the top of src/. A new folder
 * or top-level file fails this test until it is given a floor here and in docs/architecture.md.
 */
export const floors: ReadonlyArray<readonly string[]> = [
  ['errors.ts', 'domain', 'util', 'limits'], // ground: the error registry, the domain types and vocabulary, small helpers, abuse limits
  ['config'], // load, validate and describe the configuration
  ['observability'], // logger, log destination, access line, metrics
  ['render'], // the gateway's own pages and error responses
  ['policy', 'groups'], // pure access decisions; a person's groups from the provider's directory APIs
  ['oidc'], // the provider: discovery, sign-in and refresh grants
  ['session'], // the store port and its stores, tickets, sessions, refresh coordination
  ['assertion'], // signed identity assertions and their keys
  ['proxy'], // routes, paths, identity headers, forwarding to upstreams
  ['http'], // the gateway's endpoints and the gate in front of the proxy
  ['ops'], // running the gateway: live routing, reload, instrumentation
  ['app.ts', 'workers.ts'], // composition root; the worker supervisor
  ['cli'], // the commands: check, policy explain, signals of the serve process
  ['main.ts'], // serve
  ['cli.ts'] // the `portcullis` command
]

const src = fileURLToPath(new URL('../../src', import.meta.url))

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

/** The unit of a src-relative path: its first folder, or the file itself at the top. */
function unitOf (file: string): string {
  return file.split('/')[0] as string
}

export function floorOf (unit: string): number | undefined {
  const floor = floors.findIndex((units) => units.includes(unit))
  return floor === -1 ? undefined : floor
}

/** The relative module specifiers of a source text (static, type-only, re-exports and dynamic). */
export function relativeImports (text: string): string[] {
  const found: string[] = []
  for (const match of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s*['"](\.\.?\/[^'"]+)['"]|\bimport\s*\(\s*['"](\.\.?\/[^'"]+)['"]\s*\)|(?:^|\n)\s*import\s*['"](\.\.?\/[^'"]+)['"]/g)) {
    found.push((match[1] ?? match[2] ?? match[3]) as string)
  }
  return found
}

/** Every import that does not point down: `from -> to` with both units' floors. */
export function upwardArrows (files: ReadonlyArray<{ path: string, text: string }>): string[] {
  const wrong: string[] = []
  for (const { path, text } of files) {
    const from = unitOf(path)
    for (const spec of relativeImports(text)) {
      const target = posix.normalize(posix.join(posix.dirname(path), spec)).replace(/\.js$/, '.ts')
      if (target.startsWith('../')) {
        wrong.push(`${path} -> ${spec} (outside src/)`)
        continue
      }
      const to = unitOf(target)
      if (to === from) continue
      const a = floorOf(from)
      const b = floorOf(to)
      if (a === undefined || b === undefined || b >= a) wrong.push(`${path} (floor ${a ?? '?'}) -> ${target} (floor ${b ?? '?'})`)
    }
  }
  return wrong
}

t.test('floors: every unit of src/ has a floor', async (t) => {
  const units = [...new Set(sourceFiles(src).map((file) => unitOf(relative(src, file).split('\\').join('/'))))]
  t.strictSame(units.filter((unit) => floorOf(unit) === undefined), [])
})

t.test('floors: every import in src/ points down a floor or stays in its folder', async (t) => {
  const files = sourceFiles(src).map((file) => ({ path: relative(src, file).split('\\').join('/'), text: readFileSync(file, 'utf8') }))
  t.ok(files.length > 50, 'read the source tree')
  t.strictSame(upwardArrows(files), [])
})

t.test('floors: the check catches an arrow up, sideways, out of src/ and from an unplaced folder', async (t) => {
  t.strictSame(upwardArrows([
    { path: 'proxy/proxy.ts', text: "import { sendError } from '../render/respond.js'\nimport type { X } from './forward.js'" },
    { path: 'session/refresh.ts', text: "import type { Flows } from '../oidc/flows.js'" }
  ]), [], 'down and within a folder are fine')
  t.strictSame(upwardArrows([
    { path: 'render/respond.ts', text: "import type { RequestState } from '../http/context.js'" },
    { path: 'app.ts', text: "export { x } from './workers.js'" },
    { path: 'policy/decide.ts', text: "const m = await import('../../test/x.js')" },
    { path: 'newfolder/a.ts', text: "import '../errors.js'" },
    { path: 'config/load.ts', text: "import type {\n  Logger\n} from '../observability/logger.js'" }
  ]), [
    'render/respond.ts (floor 3) -> http/context.ts (floor 9)',
    'app.ts (floor 11) -> workers.ts (floor 11)',
    'policy/decide.ts -> ../../test/x.js (outside src/)',
    'newfolder/a.ts (floor ?) -> errors.ts (floor 0)',
    'config/load.ts (floor 1) -> observability/logger.ts (floor 2)'
  ])
})
