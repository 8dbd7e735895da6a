/**
 * Durations in the config file: `500ms`, `60s`, `30m`, `24h`, `7d`, or a whole number of seconds.
 * One unit per value keeps the grammar small enough to read at a glance in a YAML file.
 */

const UNITS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
type Unit = keyof typeof UNITS

const PATTERN = /^(\d+)(ms|s|m|h|d)?$/

/**
 * Parses a config duration into milliseconds. A number, or a string of digits without a unit,
 * counts seconds. Returns null for anything else (negative, fractional, unknown unit, too large),
 * so the caller can report the problem with its key path.
 */
export function parseDuration (value: string | number): number | null {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? safe(value * UNITS.s) : null
  }
  const match = PATTERN.exec(value.trim())
  if (match === null) return null
  const amount = Number(match[1])
  const unit = (match[2] ?? 's') as Unit
  return safe(amount * UNITS[unit])
}

/** Formats milliseconds with the largest unit that divides them evenly (`86400000` -> `1d`). */
export function formatDuration (ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    if (ms !== 0 && ms % UNITS[unit] === 0) return `${ms / UNITS[unit]}${unit}`
  }
  return `${ms}ms`
}

function safe (ms: number): number | null {
  return Number.isSafeInteger(ms) ? ms : null
}
