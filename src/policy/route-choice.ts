/**
 * Which route judges a request, whatever the upstream makes of its path.
 *
 * The hazard: the gateway matches routes on the normalised path it forwards, byte for byte, but
 * the application behind it reads that path its own way. A WSGI server decodes `%2F` into a
 * separator (`/admin%2Fsecret` is its `/admin/secret`), Express and ASP.NET route without regard
 * to case (`/ADMIN/secret`), Tomcat, Jetty and Spring drop `;params` (`/admin;x/secret`), IIS drops
 * trailing dots and spaces (`/admin./secret`), and a non-strict router serves `/admin/`'s handler
 * for `/admin`. Judged by the gateway's reading alone, each of those falls under a looser route
 * (say a public `/`) while the upstream serves the handler of a stricter one (`/admin/`).
 *
 * The rule: the route is worked out for every such reading of the path, and
 * - when every reading selects the same route, that route applies and the path is forwarded
 *   unchanged (`/api/projects/group%2Fproject` stays under `/api/`, byte for byte);
 * - when readings disagree, the strictest route any of them selects applies, rules and upstream
 *   ({@link atLeastAsStrict} is the order), and the path is still forwarded unchanged;
 * - when no selected route is at least as strict as all the others (two routes demanding
 *   different things), the request is refused: `ambiguous` (400 `PCS_AMBIGUOUS_PATH`).
 *
 * The common path costs nothing extra: a path with no `%`, no `;` and no segment ending in a dot
 * has only its case and its trailing slash to be read differently, and one allocation-free pass
 * over the case-folded prefixes (computed once by the route table) shows whether that changes the
 * route. Everything else takes the full reading below.
 */
import type { RouteConfig } from '../config/types.js'
import type { RouteEntry, RouteTable } from './routes.js'
import type { CompiledPolicy, CompiledRule } from './decide.js'
import { emailDomain } from '../domain/email.js'

/** The path is refused: readings disagree and no selected route is the strictest. */
export const AMBIGUOUS = Symbol('ambiguous path')
/** The path is refused: some reading of it climbs above the root or has a segment of dots only. */
export const UNREADABLE = Symbol('unreadable path')

export type RouteChoice = RouteConfig | null | typeof AMBIGUOUS | typeof UNREADABLE

/**
 * Who asks. `proxy`: a path no route covers as forwarded is not served (null), and a reading
 * that no route covers is not a route to respect (the gateway would never forward that path).
 * `forward-auth`: no route means the global `access` rule alone, which is itself a candidate
 * (stricter than a public route, looser than any route with rules of its own).
 */
export type ChoiceScope = 'proxy' | 'forward-auth'

/** One reading of a path, for `policy explain`. */
export interface Reading {
  /** How the path was read: `as forwarded`, `percent-decoded, without ;params`, ... */
  readonly how: string
  /** The path as that reading sees it. */
  readonly path: string
  /** The route it selects (null: none). */
  readonly route: RouteConfig | null
}

/**
 * The route that judges `path` (a path produced by `normalisePath`), or null (no route), or
 * {@link AMBIGUOUS} / {@link UNREADABLE} (refuse with 400). Allocation-free for plain paths.
 */
export function chooseRoute (table: RouteTable, policy: CompiledPolicy, path: string, scope: ChoiceScope): RouteChoice {
  const exact = table.match(path)
  if (exact === null && scope === 'proxy') return null
  if (isPlain(path)) {
    const folded = matchFolded(table.entries, path)
    if (folded === exact) return exact
  }
  const readings = readPath(path)
  if (readings === null) return UNREADABLE
  const candidates = new Set<RouteConfig | null>([exact])
  for (const text of readings.keys()) {
    for (const route of routesOf(table.entries, text)) {
      if (route !== null || scope === 'forward-auth') candidates.add(route)
    }
  }
  return strictest(policy, candidates, exact)
}

/**
 * Every reading of `path` and the route each selects, for `policy explain`; null when the path is
 * unreadable. The first reading is the path as forwarded.
 */
export function explainReadings (table: RouteTable, path: string): Reading[] | null {
  const readings = readPath(path)
  if (readings === null) return null
  const out: Reading[] = []
  const seen = new Set<string>()
  const add = (how: string, text: string, route: RouteConfig | null): void => {
    const key = `${text}\u0000${route?.path ?? ''}`
    if (seen.has(key)) return
    seen.add(key)
    out.push({ how, path: text, route })
  }
  add('as forwarded', path, table.match(path))
  for (const [text, how] of readings) {
    const modes: Array<[string, string, RouteConfig | null]> = [
      ['', text, firstCovering(table.entries, text, false, false)],
      ['prefix without its /', text, firstCovering(table.entries, text, false, true)]
    ]
    for (const lower of foldings(text)) {
      modes.push(['case-folded', lower, firstCovering(table.entries, lower, true, false)])
      modes.push(['case-folded, prefix without its /', lower, firstCovering(table.entries, lower, true, true)])
    }
    for (const [mode, read, route] of modes) {
      const label = [how, mode].filter((s) => s !== '').join(', ')
      add(label === '' ? 'as forwarded' : label, read, route)
    }
  }
  return out
}

/**
 * The strictness order between two routes: `a` is at least as strict as `b` when every request
 * and identity `a` admits, `b` admits too. Judged on what each demands:
 * 1. methods: `a`'s methods (all, when it lists none; a listed GET includes HEAD) are a subset of `b`'s;
 * 2. sign-in: `b` is public, or neither is;
 * 3. rules: `b` is public, or `b` has no `allow`, or `a` has an `allow` each of whose entries
 *    `b`'s `allow` admits too (an email by `emails` or its domain, a domain by `email_domains` or
 *    `*`, a group by `groups`, a claim value by `claims`).
 * `null` (no route, forward-auth only) demands sign-in and the global rule, nothing more. `api`,
 * the upstream and the other route options do not make a route stricter.
 */
export function atLeastAsStrict (policy: CompiledPolicy, a: RouteConfig | null, b: RouteConfig | null): boolean {
  if (!methodsWithin(a?.methods ?? null, b?.methods ?? null)) return false
  if (b?.public === true) return true
  if (a?.public === true) return false
  const ruleB = b === null ? undefined : policy.routes.get(b)
  if (ruleB === undefined) return true
  const ruleA = a === null ? undefined : policy.routes.get(a)
  return ruleA !== undefined && ruleWithin(ruleA, ruleB)
}

function strictest (policy: CompiledPolicy, candidates: ReadonlySet<RouteConfig | null>, exact: RouteConfig | null): RouteChoice {
  if (candidates.size === 1) return exact
  let found: RouteChoice = AMBIGUOUS
  for (const a of candidates) {
    let dominates = true
    for (const b of candidates) {
      if (a !== b && !atLeastAsStrict(policy, a, b)) { dominates = false; break }
    }
    // Equally strict routes: the one the gateway's own reading picked, else the first found.
    if (dominates && (found === AMBIGUOUS || a === exact)) found = a
  }
  return found
}

function expand (methods: readonly string[]): Set<string> {
  const set = new Set(methods)
  if (set.has('GET')) set.add('HEAD')
  return set
}

function methodsWithin (a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (b === null) return true
  if (a === null) return false
  const within = expand(b)
  for (const m of expand(a)) if (!within.has(m)) return false
  return true
}

/** Whether every identity rule `a` admits is admitted by rule `b` too. */
function ruleWithin (a: CompiledRule, b: CompiledRule): boolean {
  if (a.anyDomain && !b.anyDomain) return false
  for (const email of a.emails) {
    if (!b.emails.has(email) && !b.domains.has(emailDomain(email)) && !b.anyDomain) return false
  }
  for (const domain of a.domains) if (!b.domains.has(domain) && !b.anyDomain) return false
  for (const group of a.groups) if (!b.groups.has(group)) return false
  for (const [name, values] of a.claims) {
    const accepted = b.claims.get(name)
    if (accepted === undefined) return false
    for (const v of values) if (!accepted.has(v)) return false
  }
  return true
}

/** No `%`, no `;`, no segment ending in `.`: only case and the trailing slash can be read differently. */
function isPlain (path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (c === 0x25 || c === 0x3b) return false
    if (c === 0x2e && (i + 1 === path.length || path.charCodeAt(i + 1) === 0x2f)) return false
  }
  return true
}

/**
 * The first route covering an ASCII path compared without case, a prefix `P/` covering `P` too;
 * `undefined` when that route has a case twin (the full reading then decides). No allocation.
 */
function matchFolded (entries: readonly RouteEntry[], path: string): RouteConfig | null | undefined {
  for (const entry of entries) {
    if (coversFoldedAscii(entry.folded, path)) return entry.foldTwin ? undefined : entry.route
  }
  return null
}

function coversFoldedAscii (folded: string, path: string): boolean {
  const slash = folded.endsWith('/')
  const n = folded.length
  // `/admin/` covers `/admin` for a router that ignores the trailing slash.
  const whole = slash && path.length === n - 1
  if (path.length < n && !whole) return false
  const compare = whole ? n - 1 : n
  for (let i = 0; i < compare; i++) {
    let c = path.charCodeAt(i)
    if (c >= 0x41 && c <= 0x5a) c += 0x20
    if (c !== folded.charCodeAt(i)) return false
  }
  if (whole || slash || path.length === n) return true
  return path.charCodeAt(n) === 0x2f
}

/** A path compared case-folded: `text` already lower case. */
function coversWith (entry: RouteEntry, text: string, folded: boolean, loose: boolean): boolean {
  const prefix = folded ? entry.folded : entry.prefix
  if (prefix.endsWith('/')) return text.startsWith(prefix) || (loose && text === prefix.slice(0, -1))
  return text === prefix || (text.startsWith(prefix) && text.charCodeAt(prefix.length) === 0x2f)
}

function firstCoveringEntry (entries: readonly RouteEntry[], text: string, folded: boolean, loose: boolean): RouteEntry | null {
  for (const entry of entries) if (coversWith(entry, text, folded, loose)) return entry
  return null
}

function firstCovering (entries: readonly RouteEntry[], text: string, folded: boolean, loose: boolean): RouteConfig | null {
  return firstCoveringEntry(entries, text, folded, loose)?.route ?? null
}

/**
 * The routes one reading selects, under each way of matching it: exact or case-folded, with the
 * trailing slash of a prefix required or not. A case-folded match on a prefix that another route
 * folds to as well selects both (which one a case-insensitive server serves is its own choice).
 */
function routesOf (entries: readonly RouteEntry[], text: string): Array<RouteConfig | null> {
  const out = [firstCovering(entries, text, false, false), firstCovering(entries, text, false, true)]
  for (const lower of foldings(text)) {
    for (const loose of [false, true]) {
      const hit = firstCoveringEntry(entries, lower, true, loose)
      if (hit === null) { out.push(null); continue }
      out.push(hit.route)
      if (hit.foldTwin) for (const e of entries) if (e.folded === hit.folded) out.push(e.route)
    }
  }
  return out
}

/** Lower case, and upper-then-lower case (`ſ` upper-cases to `S`), without repeats. */
function foldings (text: string): string[] {
  const lower = text.toLowerCase()
  const round = text.toUpperCase().toLowerCase()
  return round === lower ? [lower] : [lower, round]
}

/**
 * Every reading of a normalised path (the text it reads as, and how), or null when one of them is
 * unreadable. Each reading is one combination of: `;params` cut from every segment before
 * decoding; percent-decoded once (`%2F` and `%5C` become separators, bytes read as UTF-8 or as
 * Latin-1); `;params` (and NUL) cut after decoding; trailing dots and spaces dropped from every
 * segment. Every reading then merges slashes and resolves `.` and `..`. Only the combinations
 * that can differ are made: no `;` means no cut, no escaped byte above 0x7F means Latin-1 reads
 * as UTF-8 does, no segment ending in a dot or space means nothing to drop.
 */
function readPath (path: string): Map<string, string> | null {
  const out = new Map<string, string>()
  const decodings: Array<'utf8' | 'latin1' | null> = [null]
  if (path.includes('%')) decodings.push('utf8')
  if (/%[89A-F][0-9A-F]/.test(path)) decodings.push('latin1')
  const cutBefore = path.includes(';') ? [false, true] : [false]
  const cutAfter = /;|%3B|%00/.test(path) ? [false, true] : [false]
  for (const decode of decodings) {
    for (const before of cutBefore) {
      for (const after of decode === null ? [false] : cutAfter) {
        let text = before ? cutParams(path, /;/) : path
        if (decode !== null) text = percentDecode(text, decode).replaceAll('\\', '/')
        if (after) text = cutParams(text, /[;\u0000]/)
        for (const trailing of /[. ](\/|$)/.test(text) ? [false, true] : [false]) {
          const resolved = resolve(text, trailing)
          if (resolved === null) return null
          if (!out.has(resolved)) {
            const how = [before ? 'without ;params' : '', decode === null ? '' : `percent-decoded (${decode === 'utf8' ? 'UTF-8' : 'Latin-1'})`,
              after ? 'then without ;params' : '', trailing ? 'without trailing dots and spaces' : '']
            out.set(resolved, how.filter((s) => s !== '').join(', '))
          }
        }
      }
    }
  }
  return out
}

function cutParams (text: string, end: RegExp): string {
  return text.split('/').map((segment) => segment.split(end)[0] ?? '').join('/')
}

/** Decodes every escape once (the path is normalised: escapes are valid and upper case). */
function percentDecode (text: string, encoding: 'utf8' | 'latin1'): string {
  if (encoding === 'utf8') {
    try {
      return decodeURIComponent(text)
    } catch {
      // Not valid UTF-8: as a lenient reader does, the bad bytes become U+FFFD.
    }
  }
  const bytes = Buffer.from(text.replace(/%([0-9A-F]{2})/g, (_all, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1')
  return bytes.toString(encoding)
}

/**
 * Merges slashes and resolves dot segments, dropping trailing dots and spaces first when asked.
 * Null for a reading that climbs above the root, or a segment of dots (and spaces) only that is
 * not `.` or `..`: servers disagree on what those mean, so no route can be chosen for them.
 */
function resolve (text: string, trailing: boolean): string | null {
  const segments = text.split('/')
  const output: string[] = []
  for (let i = 1; i < segments.length; i++) {
    let segment = segments[i] as string
    const last = i === segments.length - 1
    const end = segment.charCodeAt(segment.length - 1)
    if ((end === 0x2e || end === 0x20) && segment !== '.' && segment !== '..') {
      if (/^[. ]*\.[. ]*$/.test(segment)) return null
      if (trailing) segment = segment.replace(/[. ]+$/, '')
    }
    if (segment === '' && !last) continue
    if (segment === '.' || segment === '..') {
      if (segment === '..' && output.pop() === undefined) return null
      if (last) output.push('')
      continue
    }
    output.push(segment)
  }
  return '/' + output.join('/')
}
