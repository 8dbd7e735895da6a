#!/usr/bin/env node
import { readFileSync } from 'node:fs'
import { runCheck } from './cli/check.js'
import { serve } from './main.js'
import { runPolicyCommand } from './cli/explain.js'
import { runSessionsCommand } from './cli/sessions.js'

const usage = `Usage: portcullis <command> [--config FILE]

Commands:
  serve   start the gateway
  check   validate a config file and print it with secrets redacted (exit 0 valid, 1 invalid)
  policy explain --config FILE --path PATH [--method M] [--email E] [--groups A,B] [--claim K=V] [--json]
          print whether a request would be allowed and the rule that decided (exit 0 allow, 1 deny, 2 error)
  sessions list --config FILE [--email E] [--json]
          print the live sessions (all, or one person's): reference, email, created, last seen, expires, client
  sessions revoke --config FILE (--email E | --session REF | --all)
          end sessions on every replica at once (see docs/sessions.md)

The config file is taken from --config FILE, or from the PORTCULLIS_CONFIG environment variable.
Run \`portcullis serve --help\` or \`portcullis check --help\` for a command's options.
`

const commandHelp: Readonly<Record<string, string>> = {
  serve: `Usage: portcullis serve [--config FILE]

Starts the gateway with the config file (YAML). It listens on server.listen, signs people in
with the configured provider, and proxies allowed requests to the routes' upstreams.

Options:
  -c, --config FILE   the config file; default: the PORTCULLIS_CONFIG environment variable
  -h, --help          show this help

Signals: SIGTERM and SIGINT drain in-flight requests and exit 0; SIGHUP reloads routes, access
rules and the log level from the same file. An invalid config lists every problem and exits 1.
See config/portcullis.example.yaml for every key.
`,
  check: `Usage: portcullis check [--config FILE]

Validates a config file without starting anything. Valid: prints the effective configuration
(defaults filled in, secrets redacted) and exits 0. Invalid: lists every problem, one line each
(an unknown key names the nearest known one), and exits 1.

Options:
  -c, --config FILE   the config file; default: the PORTCULLIS_CONFIG environment variable
  -h, --help          show this help
`
}

/** Parses `--config FILE` / `--config=FILE`; returns null when the flag is malformed. */
export function configArgument (args: readonly string[]): string | undefined | null {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    if (arg === '--config' || arg === '-c') return args[i + 1] ?? null
    if (arg.startsWith('--config=')) return arg.slice('--config='.length)
  }
  return undefined
}

async function main (argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === '--version' || command === '-v') {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
    process.stdout.write(`${pkg.version}\n`)
    return 0
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage)
    return command === undefined ? 1 : 0
  }
  const help = commandHelp[command]
  if (help !== undefined && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(help)
    return 0
  }
  if (command === 'policy') return runPolicyCommand(rest, process.env, (s) => process.stdout.write(s), (s) => process.stderr.write(s))
  if (command === 'sessions') return await runSessionsCommand(rest, process.env, (s) => process.stdout.write(s), (s) => process.stderr.write(s))
  const file = configArgument(rest)
  if (file === null) {
    process.stderr.write('portcullis: --config needs a file name\n')
    return 1
  }
  switch (command) {
    case 'check':
      return runCheck(file, process.env, (s) => process.stdout.write(s), (s) => process.stderr.write(s))
    case 'serve': {
      const path = file ?? process.env.PORTCULLIS_CONFIG
      if (path === undefined || path === '') {
        process.stderr.write('portcullis: no config file: pass --config FILE or set PORTCULLIS_CONFIG\n')
        return 1
      }
      return await serve(path)
    }
    default:
      process.stderr.write(`portcullis: unknown command "${command}"\n\n${usage}`)
      return 1
  }
}

main(process.argv.slice(2)).then((code) => {
  if (code !== 0) process.exitCode = code
}, (err: unknown) => {
  process.stderr.write(`portcullis: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exitCode = 1
})
