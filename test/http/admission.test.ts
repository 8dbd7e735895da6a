/**
 * Admission end to end: the real gateway in front of a real HTTP upstream that reads every path
 * the way WSGI, Express, Tomcat, IIS and nginx do and reports which handler each would serve.
 * Routes: `/` public, `/staff/` signed in, `/admin/` group admins. Whatever the spelling, an
 * anonymous request never reaches a staff or admin handler, a non-admin never reaches an admin
 * handler, and a path whose readings agree is forwarded byte for byte.
 */
import { request } from 'node:http'
import t from 'tap'
import { CookieJar } from '../helpers/cookie-jar.js'
import { signIn } from '../helpers/signin.js'
import { startStack, type Stack } from '../helpers/stack.js'
import { startReadingUpstream, strictestHandler, type ReadingUpstream } from '../helpers/upstream-readers.js'

let stack: Stack
let upstream: ReadingUpstream
const cookies = new Map<string, string>()

t.before(async () => {
  upstream = await startReadingUpstream()
  stack = await startStack({
    store: 'memory',
    upstreamUrl: upstream.url,
    configure: (raw) => {
      raw.routes = [
        { path: '/', upstream: upstream.url, public: true },
        { path: '/staff/', upstream: upstream.url },
        { path: '/admin/', upstream: upstream.url, allow: { groups: ['admins'] } }
      ]
    }
  })
  for (const email of ['alice@example.com', 'bob@example.com']) {
    const jar = new CookieJar()
    const result = await signIn({ gatewayUrl: stack.url, jar, email, startPath: '/staff/' })
    if (result.status !== 200) throw new Error(`sign-in as ${email} ended with ${result.status}`)
    cookies.set(email, jar.header(`${stack.url}/`) ?? '')
  }
})
t.teardown(async () => {
  await stack?.close()
  await upstream?.close()
})

/** A request with the path exactly as written (fetch would rewrite `//`, `%2e` and `\`). */
function raw (path: string, email: string | null): Promise<{ status: number, body: string, code: unknown }> {
  const url = new URL(stack.url)
  const headers: Record<string, string> = { accept: 'application/json' }
  if (email !== null) headers.cookie = cookies.get(email) ?? ''
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, headers, timeout: 5000 }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, code: res.headers['x-portcullis-error'] }))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

// The spellings of /admin/secret, and the same tricks on /staff/.
const adminSpellings = ['/admin%2Fsecret', '/admin%2fsecret', '/ADMIN/secret', '/Admin/secret', '/admin;x/secret', '/admin./secret',
  '/admin%2e/secret', '/admin%2E/secret', '//admin/secret', '/%61dmin/secret', '/admin', '/ADMIN', '/admin%20/secret', '/admin.%20./secret',
  '/admin%5Csecret', '/ADMIN%2Fsecret', '/admin;jsessionid=1/secret', '/admin/secret']
const staffSpellings = ['/staff%2Fx', '/STAFF/x', '/staff;x/y', '/staff./x', '//staff/x', '/staff', '/%73taff/x', '/staff/x']

t.test('admission: the upstream serves no admin or staff handler to an anonymous request, whatever the spelling', async (t) => {
  for (const path of [...adminSpellings, ...staffSpellings]) {
    t.not(strictestHandler(path), 'public', `${path} is a protected handler for some reader`)
    const before = upstream.seen.length
    const res = await raw(path, null)
    t.ok(res.status === 401 || res.status === 400, `${path}: ${res.status} ${String(res.code)}`)
    t.equal(upstream.seen.length, before, `${path} never reached the upstream`)
  }
})

t.test('admission: a signed-in non-admin reaches staff handlers but never an admin handler', async (t) => {
  for (const path of adminSpellings) {
    const before = upstream.seen.length
    const res = await raw(path, 'bob@example.com')
    t.ok(res.status === 403 || res.status === 400, `${path}: ${res.status} ${String(res.code)}`)
    t.equal(upstream.seen.length, before, `${path} never reached the upstream`)
  }
  for (const path of staffSpellings) {
    const res = await raw(path, 'bob@example.com')
    t.equal(res.status, 200, `${path}: bob is staff`)
  }
})

t.test('admission: an admin reaches the admin handler under every spelling, forwarded byte for byte', async (t) => {
  for (const path of adminSpellings) {
    const res = await raw(path, 'alice@example.com')
    t.equal(res.status, 200, path)
    const body = JSON.parse(res.body)
    t.equal(body.user, 'alice@example.com')
    // The gateway's only rewrites are its documented normalisation (merged slashes, unreserved escapes decoded).
    t.equal(body.target, path.replace(/^\/\//, '/').replace('%61', 'a').replace('%73', 's').replace(/%2e/gi, '.').replace('%2f', '%2F'), `${path} forwarded unchanged`)
  }
})

t.test('admission: a path whose readings agree passes exactly as today', async (t) => {
  const staff = await raw('/staff/projects/group%2Fproject?x=%2F', 'bob@example.com')
  t.equal(staff.status, 200)
  t.equal(JSON.parse(staff.body).target, '/staff/projects/group%2Fproject?x=%2F', 'encoded slash under one route kept byte for byte')
  const pub = await raw('/docs/a%2Fb;v=1/Read.Me', null)
  t.equal(pub.status, 200)
  t.equal(JSON.parse(pub.body).target, '/docs/a%2Fb;v=1/Read.Me')
  t.equal(JSON.parse(pub.body).user, null)
})

t.test('admission: everything the upstream saw was served to someone the strictest reading admits', async (t) => {
  t.ok(upstream.seen.length > 0)
  for (const entry of upstream.seen) {
    const handlers = Object.values(entry.served)
    if (entry.user === null) t.notOk(handlers.includes('admin') || handlers.includes('staff'), `anonymous: ${entry.target}`)
    if (entry.user === 'bob@example.com') t.notOk(handlers.includes('admin'), `bob: ${entry.target}`)
  }
})
