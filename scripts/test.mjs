#!/usr/bin/env node
// The whole test suite: type-check and build, check the system programs the tests use, run tap.
import { spawnSync } from 'node:child_process'
import { accessSync, constants } from 'node:fs'

function onPath (name) {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/sbin', '/usr/local/bin'])) {
    try {
      accessSync(`${dir}/${name}`, constants.X_OK)
      return true
    } catch {}
  }
  return false
}

const needed = [
  ['redis-server', 'redis-server', 'sessions, refresh and fault tests run against a real Redis'],
  ['chromium', 'chromium', 'the browser sign-in test drives a real Chromium'],
  ['nginx', 'nginx-light', 'forward-auth is tested behind a real nginx auth_request']
]
const missing = needed.filter(([bin]) => !onPath(bin))
if (missing.length > 0) {
  process.stderr.write('The test suite needs programs that are not installed:\n')
  for (const [bin, pkg, why] of missing) process.stderr.write(`  - ${bin} (Debian package ${pkg}): ${why}\n`)
  process.stderr.write(`Install them with:\n  sudo apt-get update && sudo apt-get install -y ${missing.map(([, pkg]) => pkg).join(' ')}\n`)
  process.exit(1)
}

const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit' }).status ?? 1
if (run('npx', ['tsc', '-p', 'tsconfig.json']) !== 0) {
  process.stderr.write('Type check failed.\n')
  process.exit(1)
}
process.exit(run('npx', ['tap', ...process.argv.slice(2)]))
