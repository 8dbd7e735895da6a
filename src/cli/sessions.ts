import type { Config } from '../config/types.js'
import { isGatewayError } from '../errors.js'
import { selectorFrom, sessionView } from '../ops/session-view.js'
import { createSessionEvents } from '../session/events.js'
import { eventsChannel } from '../session/keys.js'
import { createRedisStore } from '../session/redis-store.js'
import { createRevoker } from '../session/revoke.js'
import { createSessionIndex, type SessionSelector } from '../session/session-index.js'
import type { SessionStore } from '../session/store.js'
import { loadOrReport } from './check.js'

/*
 * `portcullis sessions list|revoke`: the operator's view of the sessions in the shared store.
 *
 *   portcullis sessions list   --config FILE [--email E] [--json]
 *   portcullis sessions revoke --config FILE (--email E | --session REF | --all)
 *
 * It reads the store the gateways use (Redis; a memory store lives inside one gateway process and
 * is reached through the admin endpoint instead), opens the listing data with the key derived
 * from the cookie secrets, and announces every revocation on the session events, so each replica
 * drops the session from its cache and closes its WebSockets at once.
 */

const usage = `Usage:
  portcullis sessions list   --config FILE [--email E] [--json]
  portcullis sessions revoke --config FILE (--email E | --session REF | --all)
`

type Write = (s: string) => void

/** Parses `--name value`, `--name=value` and bare flags; null on anything unknown. */
function parseFlags (args: readonly string[]): Record<string, string | true> | null {
  const known = new Set(['config', 'email', 'session', 'all', 'json'])
  const out: Record<string, string | true> = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    const m = /^--([a-z]+)(?:=(.*))?$/.exec(arg) ?? (arg === '-c' ? [arg, 'config', undefined] : null)
    if (m === null || !known.has(m[1]!)) return null
    const name = m[1]!
    if (name === 'all' || name === 'json') out[name] = true
    else if (m[2] !== undefined) out[name] = m[2]
    else if (args[i + 1] !== undefined) out[name] = args[++i]!
    else return null
  }
  return out
}

/** Runs `portcullis sessions ...`; returns the exit code (0 done, 1 failed, 2 usage). */
export async function runSessionsCommand (args: readonly string[], env: NodeJS.ProcessEnv, out: Write, err: Write): Promise<number> {
  const [action, ...rest] = args
  const flags = parseFlags(rest)
  if ((action !== 'list' && action !== 'revoke') || flags === null) {
    err(usage)
    return 2
  }
  const file = typeof flags.config === 'string' ? flags.config : env.PORTCULLIS_CONFIG
  if (file === undefined || file === '') {
    err('portcullis: no config file: pass --config FILE or set PORTCULLIS_CONFIG\n')
    return 2
  }
  const config = loadOrReport(file, env, err)
  if (config === null) return 1
  if (config.session.store !== 'redis') {
    err('portcullis: session.store is memory: its sessions live inside the gateway process; use the admin endpoint (admin.listen)\n')
    return 1
  }
  let selector: SessionSelector | null
  if (action === 'list') {
    selector = typeof flags.email === 'string' ? { email: flags.email } : flags.session === undefined && flags.all === undefined ? { all: true } : null
  } else {
    selector = selectorFrom({ email: flags.email, session: flags.session, all: flags.all })
  }
  if (selector === null) {
    err(`portcullis: ${action === 'revoke' ? 'revoke needs exactly one of --email E, --session REF (16 hex characters) or --all' : 'list takes only --email E'}\n${usage}`)
    return 2
  }
  const store = createRedisStore(config.redis)
  try {
    return await runWithStore(config, store, action, selector, flags.json === true, out)
  } catch (error) {
    if (!isGatewayError(error)) throw error
    err(`portcullis: the session store is unavailable (${error.code})\n`)
    return 1
  } finally {
    await store.close()
  }
}

async function runWithStore (config: Config, store: SessionStore, action: 'list' | 'revoke', selector: SessionSelector, json: boolean, out: Write): Promise<number> {
  const prefix = config.redis.keyPrefix
  const index = createSessionIndex({ store, keyPrefix: prefix, secrets: config.session.cookie.secrets, idleTimeoutMs: config.session.idleTimeoutMs })
  if (action === 'list') {
    const views = (await index.find(selector)).map(sessionView)
    if (json) out(`${JSON.stringify(views)}\n`)
    else out(table(views))
    return 0
  }
  // Audit lines go to stdout as JSON, like the gateway's.
  const logger = { info: (obj: object, msg: string) => out(`${JSON.stringify({ level: 30, time: Date.now(), ...obj, msg })}\n`) }
  const events = createSessionEvents(store, eventsChannel(prefix))
  const revoker = createRevoker({ store, index, events, keyPrefix: prefix, logger })
  const ended = await revoker.revoke(selector, { by: 'cli', reason: 'operator', client: 'local', userAgent: `portcullis-cli/${process.pid}` })
  out(`revoked ${ended.length} session${ended.length === 1 ? '' : 's'}${ended.length === 0 ? '' : `: ${ended.map((s) => s.ref).join(' ')}`}\n`)
  return 0
}

/** The listing as aligned columns, one session a line. */
function table (views: ReadonlyArray<Record<string, string | null>>): string {
  if (views.length === 0) return 'no live sessions\n'
  const columns = ['session', 'email', 'created', 'last_seen', 'expires', 'client', 'user_agent']
  const rows = [columns, ...views.map((v) => columns.map((c) => (v[c] ?? '-').replace(/[\x00-\x1f\x7f]/g, '?')))]
  const widths = columns.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i]!)).join('  ')).join('\n') + '\n'
}
