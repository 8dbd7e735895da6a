import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { stringify } from 'yaml'
import { runPolicyCommand } from '../../src/cli/explain.js'
import { baseRaw, tempDir } from '../fixtures/config/base.js'

function writeConfig (): string {
  const raw = baseRaw()
  raw.access = { email_domains: ['example.com'], emails: ['contractor@partner.org'] }
  raw.routes = [
    { path: '/', upstream: 'http://127.0.0.1:8080' },
    { path: '/static/', upstream: 'http://127.0.0.1:8080', public: true },
    { path: '/admin/', upstream: 'http://127.0.0.1:8081', allow: { groups: ['admins'] } },
    { path: '/api/', upstream: 'http://127.0.0.1:9000', api: true, methods: ['GET', 'POST'], allow: { claims: { department: ['engineering'] } } }
  ]
  const file = join(tempDir(), 'portcullis.yaml')
  writeFileSync(file, stringify(raw))
  return file
}

const config = writeConfig()

function run (...args: string[]): { code: number, out: string, err: string } {
  let out = ''
  let err = ''
  const code = runPolicyCommand(['explain', '--config', config, ...args], {}, (s) => { out += s }, (s) => { err += s })
  return { code, out, err }
}

t.test('policy explain: an allowed request prints ALLOW, the deciding rule and the rule also met; exit 0', async (t) => {
  const r = run('--path', '/admin/users?page=2', '--email', 'Alice@Example.com', '--groups', 'staff,admins')
  t.equal(r.code, 0)
  t.equal(r.err, '')
  t.equal(r.out, [
    'ALLOW  GET /admin/users?page=2',
    '  route:      routes[/admin/] -> http://127.0.0.1:8081',
    '  user:       Alice@Example.com; groups: staff, admins; claims: none',
    '  decided by: routes[/admin/].allow.groups: admins',
    '  also met:   access.email_domains: example.com',
    '  answer:     proxied with the identity headers',
    ''
  ].join('\n'))
})

t.test('policy explain: a denied request prints DENY and the rule that refused; exit 1', async (t) => {
  const r = run('--path', '/admin/', '--email', 'bob@example.com', '--groups', 'staff')
  t.equal(r.code, 1)
  t.equal(r.out, [
    'DENY  GET /admin/',
    '  route:      routes[/admin/] -> http://127.0.0.1:8081',
    '  user:       bob@example.com; groups: staff; claims: none',
    '  decided by: routes[/admin/].allow: no rule matched (deny by default)',
    '  answer:     403 Access denied',
    ''
  ].join('\n'))
})

t.test('policy explain: deny by default for an email outside every rule, including look-alikes', async (t) => {
  for (const email of ['mallory@evil.test', 'alice@example.com.', 'alice@ex\u0430mple.com', 'alice@evil.test@example.com']) {
    const r = run('--path', '/', '--email', email)
    t.equal(r.code, 1, email)
    t.match(r.out, /\n {2}decided by: access: no rule matched \(deny by default\)\n/, email)
  }
})

t.test('policy explain: public route, nobody signed in, refused method, no route', async (t) => {
  const pub = run('--path', '/static/app.css')
  t.equal(pub.code, 0)
  t.match(pub.out, /^ALLOW {2}GET \/static\/app.css\n {2}route: {6}routes\[\/static\/\] -> http:\/\/127.0.0.1:8080\n {2}user: {7}not signed in\n {2}decided by: routes\[\/static\/\].public\n/)
  const anon = run('--path', '/admin/')
  t.equal(anon.code, 1)
  t.match(anon.out, /decided by: not signed in\n {2}answer: {5}sign-in \(302 for a browser, 401 otherwise\)\n$/)
  const method = run('--path', '/api/things', '--method', 'delete', '--email', 'eve@example.com', '--claim', 'department=engineering')
  t.equal(method.code, 1)
  t.match(method.out, /^DENY {2}DELETE \/api\/things\n/)
  t.match(method.out, /decided by: routes\[\/api\/\].methods: DELETE not listed\n {2}answer: {5}405 Method Not Allowed\n$/)
  const claim = run('--path', '/api/things', '--method', 'POST', '--email', 'eve@example.com', '--claim', 'department=sales', '--claim', 'department=engineering')
  t.equal(claim.code, 0)
  t.match(claim.out, /user: {7}eve@example.com; groups: none; claims: department=sales\|engineering\n {2}decided by: routes\[\/api\/\].allow.claims.department: engineering\n/)
  const outside = run('--path', '/oauth2/start', '--email', 'alice@example.com')
  t.equal(outside.code, 1)
  t.match(outside.out, /decided by: server.auth_prefix: \/oauth2 is the gateway's own\n {2}answer: {5}404 \(never proxied\)\n$/)
  const bad = run('--path', '/../admin/', '--email', 'alice@example.com')
  t.equal(bad.code, 1)
  t.match(bad.out, /decided by: the path cannot be normalised safely\n {2}answer: {5}400 Bad Request\n$/)
})

t.test('policy explain --forward-auth: a refused method is a 403 (auth_request knows no 405)', async (t) => {
  const r = run('--path', '/api/x', '--method', 'PUT', '--email', 'eve@example.com', '--forward-auth')
  t.equal(r.code, 1)
  t.match(r.out, /^DENY {2}PUT \/api\/x {2}\(forward-auth\)\n[\s\S]* {2}answer: {5}403\n$/)
})

t.test('policy explain --json: one JSON object with the decision, the rule and the route', async (t) => {
  const r = run('--path', '/admin/', '--email', 'alice@example.com', '--groups', 'admins', '--json')
  t.equal(r.code, 0)
  t.strictSame(JSON.parse(r.out), {
    mode: 'proxy',
    method: 'GET',
    path: '/admin/',
    identity: { email: 'alice@example.com', groups: ['admins'], groupsFrom: 'claim: the "groups" claim of the id token or userinfo, read at sign-in and every refresh', claims: {} },
    decision: 'allow',
    outcome: 'allowed',
    rule: 'routes[/admin/].allow.groups: admins',
    matched: ['access.email_domains: example.com', 'routes[/admin/].allow.groups: admins'],
    answer: 'proxied with the identity headers',
    route: { path: '/admin/', upstream: 'http://127.0.0.1:8081' },
    readings: [{ how: 'as forwarded', path: '/admin/', route: '/admin/' }]
  })
  t.ok(r.out.endsWith('}\n') && r.out.split('\n').length === 2, 'exactly one line')
})

t.test('policy explain: a path upstreams read as a stricter route shows the readings and is judged by the strictest', async (t) => {
  const r = run('--path', '/admin%2Fusers', '--email', 'bob@example.com', '--groups', 'staff')
  t.equal(r.code, 1)
  const lines = r.out.split('\n')
  t.equal(lines[0], 'DENY  GET /admin%2Fusers')
  t.equal(lines[1], '  route:      routes[/admin/] -> http://127.0.0.1:8081')
  t.ok(lines.includes('  reading:    /admin%2Fusers  (as forwarded) -> routes[/]'), r.out)
  t.ok(lines.includes('  reading:    /admin/users  (percent-decoded (UTF-8)) -> routes[/admin/]'), r.out)
  t.ok(lines.includes('  rule:       readings disagree: the strictest route decides'), r.out)
  t.ok(lines.includes('  decided by: routes[/admin/].allow: no rule matched (deny by default)'), r.out)

  for (const path of ['/ADMIN/users', '/Admin/users', '/admin;x/users', '/admin./users', '/admin%2e/users', '//admin/users', '/%61dmin/users', '/admin']) {
    const json = JSON.parse(run('--path', path, '--json').out)
    t.equal(json.route?.path, '/admin/', `${path} is judged by /admin/`)
  }
  const json = JSON.parse(run('--path', '/STATIC/app.css', '--json').out)
  t.equal(json.route.path, '/', 'a reading under a looser route leaves the stricter one in charge')
  t.equal(json.outcome, 'sign_in_required')
})

t.test('policy explain: usage and config errors exit 2 on stderr with nothing on stdout', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--path', '/'].slice(0, 0), /--path is required/],
    [['--path', 'admin'], /--path must start with "\/"/],
    [['--path', '/', '--bogus'], /unknown option "--bogus"/],
    [['--path', '/', '--email'], /--email needs a value/],
    [['--path', '/', '--groups', 'a'], /--groups and --claim describe a signed-in user: add --email/],
    [['--path', '/', '--email', 'a@example.com', '--claim', 'novalue'], /--claim must be NAME=VALUE/],
    [['--path', '/', '--method', 'GE T'], /--method must be an HTTP method/]
  ]
  for (const [args, message] of cases) {
    const r = run(...args)
    t.equal(r.code, 2, args.join(' '))
    t.equal(r.out, '')
    t.match(r.err, message)
  }
  let err = ''
  t.equal(runPolicyCommand(['explain', '--path', '/'], {}, () => {}, (s) => { err += s }), 2)
  t.match(err, /no config file/)
  err = ''
  t.equal(runPolicyCommand(['explain', '--config', join(tempDir(), 'missing.yaml'), '--path', '/'], {}, () => {}, (s) => { err += s }), 2)
  t.match(err, /^portcullis: invalid configuration in .*missing\.yaml:\n {2}- .*cannot be read/)
  const broken = join(tempDir(), 'broken.yaml')
  writeFileSync(broken, stringify({ ...baseRaw(), access: {} }))
  err = ''
  t.equal(runPolicyCommand(['explain', '--config', broken, '--path', '/'], {}, () => {}, (s) => { err += s }), 2)
  t.match(err, /- access: at least one rule is required/)
  err = ''
  t.equal(runPolicyCommand(['explian'], {}, () => {}, (s) => { err += s }), 2)
  t.match(err, /unknown subcommand "explian"/)
  let out = ''
  t.equal(runPolicyCommand(['explain', '--help'], {}, (s) => { out += s }, () => {}), 0)
  t.match(out, /^Usage: portcullis policy explain/)
})

t.test('policy explain: PORTCULLIS_CONFIG stands in for --config', async (t) => {
  let out = ''
  t.equal(runPolicyCommand(['explain', '--path', '/', '--email', 'a@example.com'], { PORTCULLIS_CONFIG: config }, (s) => { out += s }, () => {}), 0)
  t.match(out, /^ALLOW/)
})

t.test('policy explain: the portcullis command wires it with the documented exit codes', async (t) => {
  const cli = fileURLToPath(new URL('../../src/cli.ts', import.meta.url))
  const loader = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))
  const exec = (...args: string[]): { status: number | null, stdout: string, stderr: string } =>
    spawnSync(process.execPath, [...loader, cli, 'policy', 'explain', '--config', config, ...args], { encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '', TS_NODE_TRANSPILE_ONLY: '1' } })
  const allow = exec('--path', '/', '--email', 'alice@example.com')
  t.equal(allow.status, 0, allow.stderr)
  t.match(allow.stdout, /^ALLOW {2}GET \/\n/)
  const deny = exec('--path', '/', '--email', 'mallory@evil.test', '--json')
  t.equal(deny.status, 1)
  t.equal(JSON.parse(deny.stdout).rule, 'access: no rule matched (deny by default)')
  const usage = exec('--method', 'GET')
  t.equal(usage.status, 2)
  t.match(usage.stderr, /--path is required/)
})

t.test('policy explain: with Workspace groups, the output says which API the groups come from and how long they hold', async (t) => {
  const raw = baseRaw()
  raw.provider.groups = { source: 'cloud_identity', max_age: '30m' }
  raw.routes = [{ path: '/', upstream: 'http://127.0.0.1:8081', allow: { groups: ['admins@example.com'] } }]
  const file = join(tempDir(), 'groups.yaml')
  writeFileSync(file, stringify(raw))
  let out = ''
  t.equal(runPolicyCommand(['explain', '--config', file, '--path', '/', '--email', 'alice@example.com', '--groups', 'admins@example.com'], {}, (s) => { out += s }, () => {}), 0)
  t.match(out, /\n {2}groups via: --groups here; at run time cloud_identity: Cloud Identity searchTransitiveGroups with the user's own token \(direct and nested groups, by email address\), fetched at sign-in and every refresh, believed 30m/)
  t.match(out, /decided by: routes\[\/\]\.allow\.groups: admins@example\.com/)
})
