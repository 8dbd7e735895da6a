/**
 * Collects config problems as `path: message` lines, with paths written the way an operator reads
 * them (`routes[1].upstream`). A problem can also mark its path as settled, so later stages do not
 * report a knock-on error at the same place (an unset variable would otherwise also be "empty").
 */

export type Path = ReadonlyArray<string | number>

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/

/** Formats a key path as `a.b[1].c`; keys that are not plain words are quoted (`claims["https://x/roles"]`). */
export function formatPath (path: Path): string {
  if (path.length === 0) return '(root)'
  let out = ''
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`
    else if (PLAIN_KEY.test(segment)) out += out === '' ? segment : `.${segment}`
    else out += `[${JSON.stringify(segment)}]`
  }
  return out
}

export class Problems {
  readonly #lines: string[] = []
  readonly #settled: string[] = []

  /** Records a problem unless its path is at or under a settled path. */
  add (path: Path, message: string): void {
    const where = formatPath(path)
    if (this.#isSettled(where)) return
    const line = `${where}: ${message}`
    if (!this.#lines.includes(line)) this.#lines.push(line)
  }

  /** Records a problem and settles its path (and everything under it). */
  settle (path: Path, message: string): void {
    this.add(path, message)
    this.#settled.push(formatPath(path))
  }

  /** Settles a path without reporting anything there. */
  settleOnly (path: Path): void {
    this.#settled.push(formatPath(path))
  }

  get lines (): string[] {
    return [...this.#lines]
  }

  get size (): number {
    return this.#lines.length
  }

  #isSettled (where: string): boolean {
    return this.#settled.some(p => where === p || where.startsWith(`${p}.`) || where.startsWith(`${p}[`))
  }
}
