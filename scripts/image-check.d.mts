// Types of scripts/image-check.mjs, for test/docker/image.test.ts.
export { lintDockerfile, parseDockerfile, readDockerignore } from './dockerfile.mjs'

export interface ProcessEnd {
  readonly code: number | null
  /** The signal that ended it, or 'timeout' when it was still running after 10 s. */
  readonly signal: string | null
  readonly ms: number
}

export interface ImageCheckReport {
  /** Broken Dockerfile rules (empty when all are kept). */
  readonly lint: string[]
  /** The temporary folder (already removed unless `keep`). */
  readonly root: string
  /** Per stage: the steps replayed, and the RUN commands that cannot be replayed outside an image. */
  readonly stages: ReadonlyArray<{ readonly name: string, readonly ran: string[], readonly skipped: string[] }>
  /** The final stage's node_modules against the lockfile. */
  readonly packages: {
    readonly devChecked: number
    readonly devPresent: string[]
    readonly prodMissing: string[]
    readonly topLevel: string[]
  }
  /** Per stage: absolute .js files its ENTRYPOINT/CMD name that the stage lacks. */
  readonly entrypoints: ReadonlyArray<{ readonly stage: string, readonly missing: string[] }>
  /** Non-final stages with an ENTRYPOINT (the demo app): GET / status and how SIGTERM ended them. */
  readonly demos: ReadonlyArray<{ readonly stage: string, readonly argv: string[], readonly status: number, readonly stop: ProcessEnd }>
  /** The final stage run with a memory-store config whose issuer nothing listens on. */
  readonly run: {
    readonly argv: string[]
    readonly pingStatus: number
    readonly readyStatus: number
    readonly healthcheckExit: number | null
    /** The same HEALTHCHECK pointed at a port nothing listens on. */
    readonly healthcheckDownExit: number | null
    readonly stop: ProcessEnd
    readonly output: string
  }
}

export function runImageCheck (options?: { repoRoot?: string, keep?: boolean, log?: (line: string) => void }): Promise<ImageCheckReport>
export function reportProblems (report: ImageCheckReport): string[]
