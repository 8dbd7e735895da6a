import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { stringify } from 'yaml'
import { baseRaw, COOKIE_SECRET, parseRaw, parseText, problemsOf, rawWithSecretFile, tempDir } from '../fixtures/config/base.js'

t.test('env: ${NAME} is replaced by the variable inside a string', async t => {
  const raw = baseRaw()
  raw.provider.client_id = 'id-${SUFFIX}.apps'
  const config = parseRaw(raw, { SUFFIX: '42' })
  t.equal(config.provider.clientId, 'id-42.apps')
})

t.test('env: ${NAME:-default} uses the default when the variable is unset or empty', async t => {
  const raw = baseRaw()
  raw.server.listen = '${HOST:-127.0.0.1}:${PORT:-4181}'
  t.equal(parseRaw(raw, {}).server.port, 4181)
  t.equal(parseRaw(raw, { HOST: '' }).server.host, '127.0.0.1')
  const set = parseRaw(raw, { HOST: '10.1.2.3', PORT: '9' }).server
  t.strictSame([set.host, set.port], ['10.1.2.3', 9])
})

t.test('env: a default may itself contain colons and slashes', async t => {
  const raw = baseRaw()
  raw.redis.url = '${REDIS_URL:-redis://10.0.0.1:6380/2}'
  t.equal(parseRaw(raw).redis.url, 'redis://10.0.0.1:6380/2')
})

t.test('env: $${ writes a literal ${ and is not substituted', async t => {
  const raw = baseRaw()
  raw.provider.client_id = 'a$${NOT_A_VAR}b'
  t.equal(parseRaw(raw, { NOT_A_VAR: 'x' }).provider.clientId, 'a${NOT_A_VAR}b')
})

t.test('env: an unset variable without default names the variable and the key', async t => {
  const raw = baseRaw()
  raw.provider.client_secret = '${GOOGLE_CLIENT_SECRET}'
  raw.routes[0].upstream = 'http://${UPSTREAM_HOST}:8080'
  t.strictSame(problemsOf(() => parseRaw(raw, {})), [
    'provider.client_secret: environment variable GOOGLE_CLIENT_SECRET is not set',
    'routes[0].upstream: environment variable UPSTREAM_HOST is not set'
  ])
})

t.test('env: a malformed reference is a problem, not silently kept', async t => {
  const raw = baseRaw()
  raw.provider.client_id = 'x${not valid}'
  raw.provider.client_secret = 'y${UNCLOSED'
  t.strictSame(problemsOf(() => parseRaw(raw, {})), [
    'provider.client_id: invalid reference "${not valid}": write ${NAME} or ${NAME:-default}, or $${ for a literal "${"',
    'provider.client_secret: invalid reference "${UNCLOSED": write ${NAME} or ${NAME:-default}, or $${ for a literal "${"'
  ])
})

t.test('env: a boolean key accepts true/false from a variable', async t => {
  const raw = baseRaw()
  raw.session.cookie.secure = '${COOKIE_SECURE:-true}'
  t.equal(parseRaw(raw, { COOKIE_SECURE: 'false' }).session.cookie.secure, false)
  t.equal(parseRaw(raw, {}).session.cookie.secure, true)
  t.strictSame(problemsOf(() => parseRaw(raw, { COOKIE_SECURE: 'yes' })), ['session.cookie.secure: must be true or false'])
})

t.test('env: keys are never substituted, and values read from files are taken literally', async t => {
  const { dir, raw } = rawWithSecretFile('literal-${HOME}\n')
  t.equal(parseRaw(raw, { HOME: '/root' }, dir).provider.clientSecret, 'literal-${HOME}')
})

t.test('_file: reads the sibling key from a file relative to the config directory, trailing newline dropped', async t => {
  const { dir, raw } = rawWithSecretFile('from-file-secret\n', 'secrets/client')
  t.equal(parseRaw(raw, {}, dir).provider.clientSecret, 'from-file-secret')
})

t.test('_file: the file path itself may use ${ENV}', async t => {
  const dir = tempDir()
  writeFileSync(join(dir, 'pw'), 'redis-pass\r\n')
  const raw = baseRaw()
  raw.redis.password_file = '${SECRETS_DIR}/pw'
  t.equal(parseRaw(raw, { SECRETS_DIR: dir }).redis.password, 'redis-pass')
})

t.test('_file: secrets_file holds one cookie secret per line', async t => {
  const dir = tempDir()
  const second = 'second-secret-abcdefghijklmnopqrstuvwxyz'
  writeFileSync(join(dir, 'cookie'), `${COOKIE_SECRET}\n${second}\n\n`)
  const raw = baseRaw()
  raw.session.cookie = { secrets_file: join(dir, 'cookie') }
  t.strictSame(parseRaw(raw).session.cookie.secrets, [COOKIE_SECRET, second])
})

t.test('_file: setting both the key and its _file is a problem', async t => {
  const dir = tempDir()
  writeFileSync(join(dir, 's'), 'x')
  const raw = baseRaw()
  raw.provider.client_secret_file = 's'
  t.strictSame(problemsOf(() => parseRaw(raw, {}, dir)), ['provider.client_secret_file: cannot be used together with client_secret'])
})

t.test('_file: an unreadable file is a problem naming the key and the file', async t => {
  const dir = tempDir()
  const raw = baseRaw()
  delete raw.provider.client_secret
  raw.provider.client_secret_file = 'missing'
  writeFileSync(join(dir, 'locked'), 'x')
  chmodSync(join(dir, 'locked'), 0o000)
  raw.redis.password_file = 'locked'
  const problems = problemsOf(() => parseRaw(raw, {}, dir))
  t.equal(problems[0], `provider.client_secret_file: cannot read ${join(dir, 'missing')} (no such file)`)
  // root can read anything; only check the permission message when it applies.
  if (process.getuid?.() !== 0) t.equal(problems[1], `redis.password_file: cannot read ${join(dir, 'locked')} (permission denied)`)
  t.equal(problems.length, process.getuid?.() === 0 ? 1 : 2, 'no knock-on "client_secret is required"')
})

t.test('_file: keys that are file paths by design (tls.cert_file, assertion.key_file) are not read as secrets', async t => {
  const dir = tempDir()
  writeFileSync(join(dir, 'tls.crt'), 'CERT')
  writeFileSync(join(dir, 'tls.key'), 'KEY')
  writeFileSync(join(dir, 'assertion.pem'), 'PEM')
  const raw = baseRaw()
  raw.server.tls = { cert_file: 'tls.crt', key_file: 'tls.key' }
  raw.identity = { assertion: { key_file: 'assertion.pem' } }
  const config = parseRaw(raw, {}, dir)
  t.strictSame(config.server.tls, { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') })
  t.equal(config.identity.assertion.keyFile, join(dir, 'assertion.pem'))
})

t.test('_file: the value must be a file path', async t => {
  const raw = baseRaw()
  delete raw.provider.client_secret
  raw.provider.client_secret_file = ['a', 'b']
  t.strictSame(problemsOf(() => parseRaw(raw)), ['provider.client_secret_file: must be a file path'])
})

t.test('_file: a _file key without a matching key is an unknown key', async t => {
  const raw = baseRaw()
  raw.provider.bogus_file = 'x'
  t.strictSame(problemsOf(() => parseRaw(raw)), ['provider.bogus_file: unknown key'])
})

t.test('env: substitution applies in YAML text as written (quoted or plain scalars)', async t => {
  const text = stringify(baseRaw()).replace(`client_id: client-id-123`, 'client_id: "${ID}"')
  t.equal(parseText(text, { ID: 'quoted-id' }).provider.clientId, 'quoted-id')
})
