// Types of scripts/dockerfile.mjs, for the TypeScript tests that import it.

export interface Instruction {
  readonly keyword: string
  readonly line: number
  /** Leading `--name=value` options (`--from`, `--interval`…). */
  readonly flags: Readonly<Record<string, string>>
  /** The rest of the instruction as written (continuations joined). */
  readonly args: string
  /** The exec-form array, or null for the shell form. */
  readonly json: readonly string[] | null
  /** ENV only: the pairs it sets. */
  readonly env?: Readonly<Record<string, string>>
  /** HEALTHCHECK only: its CMD, or null for NONE. */
  readonly check?: { readonly flags: Readonly<Record<string, string>>, readonly args: string, readonly json: readonly string[] | null } | null
}

export interface Stage {
  /** The `AS` name, or the stage's index as text. */
  readonly name: string
  /** The base image, or the name of an earlier stage. */
  readonly from: string
  readonly line: number
  readonly instructions: readonly Instruction[]
}

export interface ParsedDockerfile {
  readonly stages: readonly Stage[]
  readonly final: Stage
}

export function parseDockerfile (text: string): ParsedDockerfile
export function instructionsOf (stage: Stage, keyword: string): Instruction[]
export function lastOf (stage: Stage, keyword: string): Instruction | undefined
export function lintDockerfile (parsed: ParsedDockerfile, options?: { port?: number }): string[]
export function commandsOf (instruction: Instruction): string[]
export function readDockerignore (root: string): (path: string) => boolean
