import { readFileSync } from 'node:fs'

/*
 * Waiting for the machine to go quiet between two measurements. A target may keep the CPU busy
 * for a moment after its load stops (threads closing connections, a server flushing its state);
 * measuring the next target then would charge it with that work.
 */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Busy and total CPU ticks of the whole machine so far (the `cpu` line of /proc/stat). */
function cpuTicks (): { busy: number, total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!
    const fields = line.trim().split(/\s+/).slice(1).map(Number)
    const total = fields.reduce((a, b) => a + b, 0)
    // idle and iowait
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
    return { busy: total - idle, total }
  } catch {
    return null
  }
}

export interface Quiet {
  /** How long the wait took, in ms. */
  readonly waitedMs: number
  /** Share of the machine's CPU that was busy in the last sample (0 to 1), or null where unknown. */
  readonly busy: number | null
}

/**
 * Resolves once the machine's CPU has been busy less than `threshold` of the time over one
 * `sampleMs` window, or after `maxMs` (whichever comes first). Where /proc/stat cannot be read it
 * waits one sample and returns.
 */
export async function waitForQuiet (options: { threshold?: number, sampleMs?: number, maxMs?: number } = {}): Promise<Quiet> {
  const threshold = options.threshold ?? 0.1
  const sampleMs = options.sampleMs ?? 250
  const maxMs = options.maxMs ?? 10_000
  const started = performance.now()
  let busy: number | null = null
  while (performance.now() - started < maxMs) {
    const before = cpuTicks()
    await sleep(sampleMs)
    const after = cpuTicks()
    if (before === null || after === null || after.total === before.total) return { waitedMs: performance.now() - started, busy: null }
    busy = (after.busy - before.busy) / (after.total - before.total)
    if (busy < threshold) break
  }
  return { waitedMs: performance.now() - started, busy }
}
