/**
 * Secret redaction for anything that shows the config to a person (the `check` command, start-up
 * logs). Redaction goes by key name, so a secret added to the config later is covered as long as
 * its key says what it is, and by URL shape, so a password inside a connection URL is hidden too.
 */
export const REDACTED = '<redacted>'

/** Key names whose string values are secrets, in file (snake_case) or resolved (camelCase) form. */
const SECRET_KEY = /secret|password|passwd|token|credential|private/i

/**
 * Redacts any config-like tree: string values (and lists of strings) under a secret-sounding key
 * are replaced, and the user info of every URL-shaped string is hidden. Booleans and numbers are
 * kept even under such keys (`pass_access_token: true` is a setting, not a token).
 */
export function redactSecrets (value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map(item => redactSecrets(item, key))
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {}
    for (const [childKey, child] of Object.entries(value)) out[childKey] = redactSecrets(child, childKey)
    return out
  }
  if (typeof value === 'string') return SECRET_KEY.test(key) ? REDACTED : redactUrlPassword(value)
  return value
}

/**
 * Hides the password in `scheme://user:password@host...` (`redis://:pw@host` becomes
 * `redis://:<redacted>@host`); user info without a password is hidden whole, since a bare user
 * part is often a token. The last `@` of the authority counts, as URL parsers do.
 */
export function redactUrlPassword (value: string): string {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(value)
  if (match === null) return value
  const start = match[0].length
  const rest = value.slice(start)
  const authorityEnd = rest.search(/[/?#]/)
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd)
  const at = authority.lastIndexOf('@')
  if (at === -1) return value
  const userinfo = authority.slice(0, at)
  const colon = userinfo.indexOf(':')
  const hidden = colon === -1 ? REDACTED : `${userinfo.slice(0, colon)}:${REDACTED}`
  return value.slice(0, start) + hidden + rest.slice(at)
}
