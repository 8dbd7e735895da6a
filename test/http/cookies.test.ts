import t from 'tap'
import fastifyCookie from '@fastify/cookie'
import Fastify from 'fastify'
import type { CookieConfig } from '../../src/config/types.js'
import { clearCookieOptions, cookieOptions, gatewayCookieMatcher, gatewayCookieNames, loginCookieName } from '../../src/http/cookies.js'
import { foreignCookies } from '../../src/proxy/forward.js'

const base: CookieConfig = { name: '_portcullis', secrets: ['x'.repeat(32)], secure: true, sameSite: 'lax', domain: null }

t.test('cookies: the session cookie is the configured name, the login cookie adds _login', async t => {
  t.equal(gatewayCookieNames(base)[0], '_portcullis')
  t.equal(loginCookieName(base), '_portcullis_login')
  t.same(gatewayCookieNames({ ...base, name: '__Host-gw' }), ['__Host-gw', '__Secure-gw_login'], 'the binding cookie is scoped to the auth prefix, which __Host- forbids')
})

t.test('cookies: the gateway\'s cookies are the session name and every name starting with the binding cookie\'s', async t => {
  const own = gatewayCookieMatcher({ ...base, name: '__Host-gw' })
  for (const name of ['__Host-gw', '__Secure-gw_login', '__Secure-gw_login_2', '__Secure-gw_loginx']) t.equal(own(name), true, name)
  for (const name of ['__Host-gw2', 'gw', '__host-gw', '__Secure-gw', 'app', '']) t.equal(own(name), false, name)
  t.same(foreignCookies(['__Host-gw=x; Path=/', 'app=1', ' __Secure-gw_login =y', 'noequals', '=v'], own), ['app=1', 'noequals', '=v'])
  t.same(foreignCookies('__Host-gw=x', own), [])
})

t.test('cookies: set options are HttpOnly with Secure and SameSite as configured and Max-Age in seconds', async t => {
  t.same(cookieOptions(base, 7 * 24 * 3600 * 1000), { httpOnly: true, secure: true, sameSite: 'lax', path: '/', maxAge: 604800 })
  t.same(cookieOptions({ ...base, secure: false, sameSite: 'strict' }, 1999, '/oauth2'),
    { httpOnly: true, secure: false, sameSite: 'strict', path: '/oauth2', maxAge: 1 })
  t.same(cookieOptions({ ...base, sameSite: 'none' }, -5), { httpOnly: true, secure: true, sameSite: 'none', path: '/', maxAge: 0 })
})

t.test('cookies: a null lifetime gives a browser-session cookie without Max-Age', async t => {
  t.same(cookieOptions(base, null), { httpOnly: true, secure: true, sameSite: 'lax', path: '/' })
})

t.test('cookies: Domain is set only when configured', async t => {
  t.equal('domain' in cookieOptions(base, null), false)
  t.equal(cookieOptions({ ...base, domain: 'example.com' }, null).domain, 'example.com')
})

t.test('cookies: clear options repeat the attributes the cookie was set with', async t => {
  const config = { ...base, domain: 'example.com', sameSite: 'strict' as const }
  t.same(clearCookieOptions(config), { httpOnly: true, secure: true, sameSite: 'strict', domain: 'example.com', path: '/' })
  t.same(clearCookieOptions(config, '/oauth2'), { httpOnly: true, secure: true, sameSite: 'strict', domain: 'example.com', path: '/oauth2' })
  const { maxAge: _maxAge, ...set } = cookieOptions(config, 60_000)
  t.same(clearCookieOptions(config), set)
})

t.test('cookies: @fastify/cookie turns the options into the exact Set-Cookie attributes', async t => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(fastifyCookie)
  const config = { ...base, domain: 'example.com' }
  app.get('/set', async (_req, reply) => reply.setCookie(config.name, 'ticket', cookieOptions(config, 3_600_500)).send('ok'))
  app.get('/clear', async (_req, reply) => reply.clearCookie(config.name, clearCookieOptions(config)).send('ok'))
  const set = await app.inject('/set')
  t.equal(set.headers['set-cookie'], '_portcullis=ticket; Max-Age=3600; Domain=example.com; Path=/; HttpOnly; Secure; SameSite=Lax')
  const clear = await app.inject('/clear')
  t.equal(clear.headers['set-cookie'], '_portcullis=; Max-Age=0; Domain=example.com; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure; SameSite=Lax')
})
