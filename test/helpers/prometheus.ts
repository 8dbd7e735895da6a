/**
 * A small reader for the Prometheus text format, enough to assert metric values exactly:
 * `sample(text, name, labels)` finds the one sample with exactly those labels.
 */

export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/** Every sample line of a Prometheus text exposition (comments skipped). */
export function parseSamples (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line)
    if (match === null) throw new Error(`not a Prometheus sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const l of (match[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, '$1')
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) })
  }
  return samples
}

/** The value of the sample `name` whose labels are exactly `labels`, or undefined. */
export function sample (text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = JSON.stringify(Object.entries(labels).sort())
  return parseSamples(text).find((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === wanted)?.value
}

/** Every distinct value label `label` takes across samples named `name`. */
export function labelValues (text: string, name: string, label: string): string[] {
  return [...new Set(parseSamples(text).filter((s) => s.name === name && label in s.labels).map((s) => s.labels[label] as string))].sort()
}
