// Reading a Dockerfile and a .dockerignore without a Docker engine: the parser and the rules that
// scripts/image-check.mjs and test/docker/image.test.ts apply to the project's image.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const KNOWN = new Set(['FROM', 'WORKDIR', 'COPY', 'ADD', 'RUN', 'ENV', 'ARG', 'LABEL', 'EXPOSE', 'USER',
  'HEALTHCHECK', 'ENTRYPOINT', 'CMD', 'STOPSIGNAL', 'VOLUME', 'SHELL', 'ONBUILD'])

/**
 * Parses Dockerfile text into stages of instructions. Each instruction has `keyword` (upper case),
 * `flags` (leading `--name=value` options), `args` (the rest as text), `json` (the exec-form array,
 * or null for shell form) and `line`. HEALTHCHECK also gets `check` (`{ flags, json, args }` of its
 * CMD, or null for NONE); ENV gets `env` (the pairs it sets). Throws on an unknown instruction.
 */
export function parseDockerfile (text) {
  const stages = []
  let current = null
  for (const { line, body } of logicalLines(text)) {
    const match = /^([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(body)
    if (match === null) throw new Error(`Dockerfile line ${line}: cannot read "${body}"`)
    const keyword = match[1].toUpperCase()
    if (!KNOWN.has(keyword)) throw new Error(`Dockerfile line ${line}: unknown instruction ${keyword}`)
    const instruction = { keyword, line, ...splitFlags((match[2] ?? '').trim()) }
    if (keyword === 'FROM') {
      const [image, as, name] = instruction.args.split(/\s+/)
      current = { name: as?.toUpperCase() === 'AS' ? name : String(stages.length), from: image, line, instructions: [] }
      stages.push(current)
    } else if (current === null) {
      if (keyword !== 'ARG') throw new Error(`Dockerfile line ${line}: ${keyword} before the first FROM`)
      continue
    }
    if (keyword === 'ENV') instruction.env = parseEnv(instruction.args, line)
    if (keyword === 'HEALTHCHECK') instruction.check = parseHealthcheck(instruction)
    current.instructions.push(instruction)
  }
  if (stages.length === 0) throw new Error('Dockerfile has no FROM')
  return { stages, final: stages[stages.length - 1] }
}

/** Joins `\` continuations and drops comments and blank lines, keeping the first line number. */
function logicalLines (text) {
  const out = []
  let pending = null
  text.split(/\r?\n/).forEach((raw, i) => {
    const trimmed = raw.trim()
    if (trimmed.startsWith('#') || (trimmed === '' && pending === null)) return
    const continued = trimmed.endsWith('\\')
    const part = continued ? trimmed.slice(0, -1).trim() : trimmed
    pending = pending === null ? { line: i + 1, body: part } : { line: pending.line, body: `${pending.body} ${part}`.trim() }
    if (!continued) {
      out.push(pending)
      pending = null
    }
  })
  if (pending !== null) out.push(pending)
  return out
}

function splitFlags (rest) {
  const flags = {}
  let args = rest
  for (;;) {
    const flag = /^--([a-z-]+)(?:=(\S*))?(?:\s+|$)/.exec(args)
    if (flag === null) break
    flags[flag[1]] = flag[2] ?? 'true'
    args = args.slice(flag[0].length)
  }
  return { flags, args, json: execForm(args) }
}

function execForm (args) {
  if (!args.startsWith('[')) return null
  try {
    const value = JSON.parse(args)
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : null
  } catch {
    return null
  }
}

function parseEnv (args, line) {
  const tokens = args.match(/(?:[^\s"']+|"(?:\\.|[^"\\])*"|'[^']*')+/g) ?? []
  if (tokens.length > 0 && !tokens[0].includes('=')) return { [tokens[0]]: unquote(args.slice(tokens[0].length).trim()) }
  const env = {}
  for (const token of tokens) {
    const eq = token.indexOf('=')
    if (eq <= 0) throw new Error(`Dockerfile line ${line}: ENV expects KEY=VALUE, got "${token}"`)
    env[token.slice(0, eq)] = unquote(token.slice(eq + 1))
  }
  return env
}

function unquote (value) {
  if (/^"[\s\S]*"$/.test(value)) return value.slice(1, -1).replace(/\\(.)/g, '$1')
  if (/^'[\s\S]*'$/.test(value)) return value.slice(1, -1)
  return value
}

function parseHealthcheck (instruction) {
  if (/^NONE$/i.test(instruction.args)) return null
  const cmd = /^CMD\s+([\s\S]*)$/i.exec(instruction.args)
  if (cmd === null) throw new Error(`Dockerfile line ${instruction.line}: HEALTHCHECK needs CMD or NONE`)
  return { flags: instruction.flags, args: cmd[1], json: execForm(cmd[1]) }
}

/** The instructions of `stage` with this keyword, in order. */
export function instructionsOf (stage, keyword) {
  return stage.instructions.filter((i) => i.keyword === keyword)
}

/** The last instruction of `stage` with this keyword, or undefined. */
export function lastOf (stage, keyword) {
  return instructionsOf(stage, keyword).at(-1)
}

/**
 * The rules the project's image must follow; returns one line per broken rule (empty: all kept).
 * Base images carry an explicit tag other than `latest`; no ADD fetches a URL; ENTRYPOINT and CMD
 * use the exec form (so the process is PID 1 and gets SIGTERM); and the final stage runs as a user
 * other than root, exposes `port`, has a HEALTHCHECK, and installs production dependencies only.
 */
export function lintDockerfile (parsed, { port = 4180 } = {}) {
  const problems = []
  const names = new Set()
  for (const stage of parsed.stages) {
    const image = stage.from
    if (!names.has(image) && image !== 'scratch') {
      const tag = /^[^@]*?(?::([^/:@]+))?(@sha256:[0-9a-f]+)?$/.exec(image)
      if (tag === null || (tag[1] === undefined && tag[2] === undefined)) problems.push(`line ${stage.line}: FROM ${image} has no tag (it would mean latest)`)
      else if (tag[1] === 'latest') problems.push(`line ${stage.line}: FROM ${image} uses the latest tag`)
    }
    names.add(stage.name)
    for (const i of stage.instructions) {
      if (i.keyword === 'ADD' && /(^|\s)(https?|git):\/\//i.test(i.args)) problems.push(`line ${i.line}: ADD fetches a URL (use a checked download in RUN, or COPY)`)
      if ((i.keyword === 'ENTRYPOINT' || i.keyword === 'CMD') && i.json === null) problems.push(`line ${i.line}: ${i.keyword} must use the exec form ["..."]`)
      if (i.keyword === 'COPY' && i.flags.from !== undefined && !names.has(i.flags.from)) problems.push(`line ${i.line}: COPY --from=${i.flags.from} names no earlier stage`)
    }
  }
  const final = parsed.final
  const where = `final stage ${final.name}`
  const user = lastOf(final, 'USER')?.args.split(':')[0]
  if (user === undefined) problems.push(`${where}: no USER (it would run as root)`)
  else if (user === 'root' || user === '0') problems.push(`${where}: USER ${user} is root`)
  if (!instructionsOf(final, 'EXPOSE').some((i) => i.args.split(/\s+/).some((p) => p.split('/')[0] === String(port)))) {
    problems.push(`${where}: does not EXPOSE ${port}`)
  }
  const health = lastOf(final, 'HEALTHCHECK')
  if (health === undefined || health.check === null) problems.push(`${where}: no HEALTHCHECK`)
  if (lastOf(final, 'ENTRYPOINT') === undefined) problems.push(`${where}: no ENTRYPOINT`)
  const installs = instructionsOf(final, 'RUN').flatMap((i) => commandsOf(i)).filter((c) => /^npm\s+(ci|install|i)\b/.test(c))
  if (!installs.some((c) => /^npm\s+ci\b/.test(c) && /\s--omit=dev\b/.test(c))) problems.push(`${where}: no "npm ci --omit=dev" (production dependencies only)`)
  for (const c of installs) {
    if (!/\s--omit=dev\b/.test(c)) problems.push(`${where}: "${c}" installs dev dependencies`)
  }
  return problems
}

/** The `&&`/`;`-separated commands of a RUN instruction (shell or exec form). */
export function commandsOf (instruction) {
  const text = instruction.json !== null ? instruction.json.join(' ') : instruction.args
  return text.split(/&&|;/).map((c) => c.trim()).filter((c) => c !== '')
}

/**
 * Reads `<root>/.dockerignore` and returns `ignored(path)`, which tells whether a path relative to
 * the build context is left out of it: a pattern matches the path or one of its parent folders,
 * `*` and `?` stop at `/`, `**` crosses folders, and the last matching pattern wins (`!` re-includes).
 */
export function readDockerignore (root) {
  let text = ''
  try {
    text = readFileSync(join(root, '.dockerignore'), 'utf8')
  } catch (err) {
    if (err.code !== 'ENOENT') throw err
  }
  const rules = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => {
    const negate = l.startsWith('!')
    const pattern = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '')
    return { negate, regex: globRegex(pattern) }
  })
  return (path) => {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.')
    let ignored = false
    for (let n = 1; n <= parts.length; n++) {
      const prefix = parts.slice(0, n).join('/')
      for (const rule of rules) if (rule.regex.test(prefix)) ignored = !rule.negate
      if (ignored) return true
    }
    return ignored
  }
}

function globRegex (pattern) {
  let out = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]
    if (c === '*' && pattern[i + 1] === '*') {
      // "**/" may also match no folder at all.
      out += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*'
      i += pattern[i + 2] === '/' ? 2 : 1
    } else if (c === '*') out += '[^/]*'
    else if (c === '?') out += '[^/]'
    else out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${out}$`)
}
