/*
 * The statistics of the benchmark: latency histograms, medians over runs, and ratios computed
 * pair by pair (run i of target A against run i of target B, which ran next to each other, so
 * drift in the machine's load affects both sides of each ratio alike).
 */

/**
 * A latency histogram with 1 µs buckets up to 100 ms and 100 µs buckets up to 10 s: constant
 * memory whatever the request count, and percentiles accurate to the bucket.
 */
export class Histogram {
  readonly #fine = new Float64Array(100_000)
  readonly #coarse = new Float64Array(100_000)
  #count = 0
  #over = 0
  #sum = 0
  #max = 0

  /** Records one latency in milliseconds. */
  record (ms: number): void {
    const us = Math.max(0, Math.round(ms * 1000))
    this.#count++
    this.#sum += ms
    if (ms > this.#max) this.#max = ms
    if (us < 100_000) this.#fine[us]!++
    else if (us < 10_000_000) this.#coarse[Math.floor(us / 100)]!++
    else this.#over++
  }

  get count (): number { return this.#count }
  get mean (): number { return this.#count === 0 ? 0 : this.#sum / this.#count }
  get max (): number { return this.#max }

  /** The latency (ms) below which `p` percent of the recorded ones fall (nearest rank). */
  percentile (p: number): number {
    if (this.#count === 0) return 0
    const rank = Math.max(1, Math.ceil((p / 100) * this.#count))
    let seen = 0
    for (let us = 0; us < this.#fine.length; us++) {
      seen += this.#fine[us]!
      if (seen >= rank) return us / 1000
    }
    for (let i = 1000; i < this.#coarse.length; i++) {
      seen += this.#coarse[i]!
      if (seen >= rank) return (i * 100) / 1000
    }
    return this.#max
  }

  /** Adds every latency of `other` (merging per-connection histograms). */
  merge (other: Histogram): void {
    for (let i = 0; i < this.#fine.length; i++) this.#fine[i]! += other.#fine[i]!
    for (let i = 0; i < this.#coarse.length; i++) this.#coarse[i]! += other.#coarse[i]!
    this.#count += other.#count
    this.#over += other.#over
    this.#sum += other.#sum
    this.#max = Math.max(this.#max, other.#max)
  }
}

/** The median; the mean of the two middle values for an even count; NaN for none. */
export function median (values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * The median of the ratios `a[i] / b[i]`, pairing runs of the same round. Rounds where either
 * side is missing or `b[i]` is zero are left out.
 */
export function pairedRatio (a: readonly number[], b: readonly number[]): number {
  const ratios: number[] = []
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]
    const y = b[i]
    if (x === undefined || y === undefined || !Number.isFinite(x) || !Number.isFinite(y) || y === 0) continue
    ratios.push(x / y)
  }
  return median(ratios)
}

/** The median of the differences `a[i] - b[i]`, pairing runs of the same round. */
export function pairedDifference (a: readonly number[], b: readonly number[]): number {
  const diffs: number[] = []
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]
    const y = b[i]
    if (x === undefined || y === undefined || !Number.isFinite(x) || !Number.isFinite(y)) continue
    diffs.push(x - y)
  }
  return median(diffs)
}

/** Formats a number with `digits` decimals, or `-` when it is not a finite number. */
export function fmt (value: number | undefined, digits = 0): string {
  return value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits)
}

/** A plain-text table with columns padded to their widest cell; the first row is the header. */
export function textTable (rows: ReadonlyArray<readonly string[]>): string {
  const widths: number[] = []
  for (const row of rows) row.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length) })
  const line = (row: readonly string[]): string => row.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join('  ')
  const [head, ...body] = rows
  if (head === undefined) return ''
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

/** A Markdown table; the first row is the header, columns after the first are right-aligned. */
export function markdownTable (rows: ReadonlyArray<readonly string[]>): string {
  const [head, ...body] = rows
  if (head === undefined) return ''
  const esc = (cell: string): string => cell.replace(/\|/g, '\\|')
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `| ${head.map((_, i) => i === 0 ? '---' : '---:').join(' | ')} |`,
    ...body.map((row) => `| ${row.map(esc).join(' | ')} |`)
  ].join('\n')
}
