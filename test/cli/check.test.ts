import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse, stringify } from 'yaml'
import { runCheck } from '../../src/cli/check.js'
import { baseRaw, CLIENT_SECRET, COOKIE_SECRET, tempDir, type Raw } from '../fixtures/config/base.js'

function run (path: string | undefined, env: NodeJS.ProcessEnv = {}): { code: number, out: string, err: string } {
  let out = ''
  let err = ''
  const code = runCheck(path, env, s => { out += s }, s => { err += s })
  return { code, out, err }
}

function writeConfig (raw: Raw): string {
  const file = join(tempDir(), 'portcullis.yaml')
  writeFileSync(file, stringify(raw))
  return file
}

t.test('check: a valid file exits 0 and prints the effective config as YAML', async t => {
  const file = writeConfig(baseRaw())
  const { code, out, err } = run(file)
  t.equal(code, 0)
  t.equal(err, '')
  t.ok(out.startsWith(`# ${file} is valid. Effective configuration, defaults included, secrets redacted:\n`))
  const printed = parse(out)
  t.equal(printed.server.listen, '0.0.0.0:4180')
  t.equal(printed.session.lifetime, '7d', 'defaults appear, in file terms')
  t.equal(printed.redis.key_prefix, 'portcullis:')
  t.equal(printed.provider.client_secret, '<redacted>')
})

t.test('check: no secret appears anywhere in the output', async t => {
  const secrets = {
    client: CLIENT_SECRET,
    cookie1: COOKIE_SECRET,
    cookie2: 'second-cookie-secret-zyxwvutsrqponmlkjih',
    urlPassword: 'redis-url-password-771',
    redisPassword: 'redis-auth-password-552'
  }
  const raw = baseRaw()
  raw.provider.client_secret = '${CLIENT_SECRET}'
  raw.session.cookie.secrets = [secrets.cookie1, '${COOKIE2}']
  raw.redis = { url: `rediss://default:${secrets.urlPassword}@cache:6380/0`, password: secrets.redisPassword }
  const file = writeConfig(raw)
  const { code, out, err } = run(file, { CLIENT_SECRET: secrets.client, COOKIE2: secrets.cookie2 })
  t.equal(code, 0)
  for (const [name, secret] of Object.entries(secrets)) {
    t.notOk(out.includes(secret), `${name} is not in stdout`)
    t.notOk(err.includes(secret), `${name} is not in stderr`)
  }
  const printed = parse(out)
  t.strictSame(printed.session.cookie.secrets, ['<redacted>', '<redacted>'])
  t.equal(printed.redis.url, 'rediss://default:<redacted>@cache:6380/0')
  t.equal(printed.redis.password, '<redacted>')
})

t.test('check: an invalid file exits 1 and lists every problem, without a stack trace', async t => {
  const raw = baseRaw()
  raw.provider.clent_id = 'x'
  raw.routes[0].upstream = 5
  const file = writeConfig(raw)
  const { code, out, err } = run(file)
  t.equal(code, 1)
  t.equal(out, '')
  t.equal(err, `portcullis: invalid configuration in ${file}:\n  - provider.clent_id: unknown key (did you mean client_id?)\n  - routes[0].upstream: must be a string\n`)
})

t.test('check: problems never echo a secret value', async t => {
  const raw = baseRaw()
  raw.session.cookie.secrets = ['short-but-secret-value']
  const { code, err } = run(writeConfig(raw))
  t.equal(code, 1)
  t.notOk(err.includes('short-but-secret-value'))
})

t.test('check: the file comes from PORTCULLIS_CONFIG when no path is given', async t => {
  const file = writeConfig(baseRaw())
  t.equal(run(undefined, { PORTCULLIS_CONFIG: file }).code, 0)
})

t.test('check: neither a path nor PORTCULLIS_CONFIG exits 1 with a usage hint', async t => {
  t.strictSame(run(undefined, {}), { code: 1, out: '', err: 'portcullis: no config file: pass --config FILE or set PORTCULLIS_CONFIG\n' })
  t.equal(run(undefined, { PORTCULLIS_CONFIG: '' }).code, 1)
})

t.test('check: an unreadable file exits 1 naming the file', async t => {
  const file = join(tempDir(), 'missing.yaml')
  t.strictSame(run(file), { code: 1, out: '', err: `portcullis: invalid configuration in ${file}:\n  - ${file}: cannot be read (no such file)\n` })
})

t.test('cli: serve --help and check --help print help and exit 0', async t => {
  const { execFileSync } = await import('node:child_process')
  const cli = new URL('../../dist/src/cli.js', import.meta.url).pathname
  for (const command of ['serve', 'check']) {
    const out = execFileSync(process.execPath, [cli, command, '--help'], { encoding: 'utf8', env: {} })
    t.match(out, new RegExp(`^Usage: portcullis ${command} \\[--config FILE\\]`), command)
    t.match(out, /PORTCULLIS_CONFIG/)
  }
})
