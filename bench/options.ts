/*
 * Command-line options of `npm run bench` (`npm run bench -- --quick`).
 */

export interface BenchOptions {
  readonly quick: boolean
  /** Interleaved rounds; every target runs once per round. */
  readonly rounds: number
  readonly durationMs: number
  readonly warmupMs: number
  readonly connections: number
  /** Live-session counts for the growth runs (empty: skip). */
  readonly growth: readonly number[]
  /** Seconds of concurrent sign-ins (0: skip). */
  readonly signInSeconds: number
  readonly signInConcurrency: number
  /** CPU-profile the signed-in path with the cache off and on. */
  readonly profile: boolean
  /** Markdown report path, relative to the repository; null: print only. */
  readonly out: string | null
  /** Only these target keys (null: all). */
  readonly only: readonly string[] | null
}

export const usage = `Usage: npm run bench -- [options]

  --quick              a short run (1 round of 2 s, growth at 1k sessions only, no profile);
                       writes .bench/benchmarks-quick.md instead of docs/benchmarks.md
  --rounds N           interleaved rounds (default 5)
  --duration S         seconds measured per target per round (default 8)
  --connections N      concurrent keep-alive connections (default 50)
  --growth A,B,C       live-session counts (default 1000,10000,100000; 0 to skip)
  --sign-ins S         seconds of concurrent sign-ins (default 10; 0 to skip)
  --no-profile         skip the CPU profiles
  --out FILE           where to write the report (default docs/benchmarks.md; - for none)
  --only K1,K2         measure only these targets (direct, bare, nginx, apache, redis, memory,
                       nocache, forward, workers)
`

/** Parses the options; throws with a message naming the bad option. */
export function parseOptions (argv: readonly string[]): BenchOptions {
  const quick = argv.includes('--quick')
  let rounds = quick ? 1 : 5
  let durationMs = quick ? 2000 : 8000
  let connections = 50
  let growth: number[] = quick ? [1000] : [1000, 10_000, 100_000]
  let signInSeconds = quick ? 2 : 10
  let profile = !quick
  let out: string | null = quick ? '.bench/benchmarks-quick.md' : 'docs/benchmarks.md'
  let only: string[] | null = null
  const number = (flag: string, value: string | undefined, min: number): number => {
    const n = Number(value)
    if (value === undefined || !Number.isFinite(n) || n < min) throw new Error(`${flag} needs a number >= ${min}`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    switch (arg) {
      case '--quick': break
      case '--rounds': rounds = number(arg, argv[++i], 1); break
      case '--duration': durationMs = number(arg, argv[++i], 0.5) * 1000; break
      case '--connections': connections = number(arg, argv[++i], 1); break
      case '--growth': {
        const value = argv[++i] ?? ''
        growth = value === '0' ? [] : value.split(',').map((v) => number(arg, v, 1))
        break
      }
      case '--sign-ins': signInSeconds = number(arg, argv[++i], 0); break
      case '--no-profile': profile = false; break
      case '--profile': profile = true; break
      case '--out': {
        const value = argv[++i]
        if (value === undefined) throw new Error('--out needs a file name')
        out = value === '-' ? null : value
        break
      }
      case '--only': only = (argv[++i] ?? '').split(',').filter(Boolean); break
      default: throw new Error(`unknown option ${arg}`)
    }
  }
  return { quick, rounds, durationMs, warmupMs: quick ? 500 : 1500, connections, growth, signInSeconds, signInConcurrency: 8, profile, out, only }
}
