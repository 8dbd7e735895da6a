import t from 'tap'
import { formatHostPort, isIpOrCidr, isToken, parseHostPort, parseHttpUrl, pathProblem } from '../../src/config/syntax.js'

t.test('syntax: host:port parsing, IPv6 in brackets', async t => {
  t.strictSame(parseHostPort('0.0.0.0:4180'), { host: '0.0.0.0', port: 4180 })
  t.strictSame(parseHostPort('[::1]:4180'), { host: '::1', port: 4180 })
  t.strictSame(parseHostPort('gateway.internal:65535'), { host: 'gateway.internal', port: 65535 })
  for (const bad of ['::1:80', '[1.2.3.4]:80', 'h:65536', 'h:-1', 'h:', 'h', '-bad-:80']) t.equal(parseHostPort(bad), null, bad)
  t.equal(formatHostPort('::1', 80), '[::1]:80')
  t.equal(formatHostPort('localhost', 80), 'localhost:80')
})

t.test('syntax: IPs and CIDRs', async t => {
  for (const ok of ['1.2.3.4', '1.2.3.0/24', '::', '::/0', '2001:db8::/32']) t.ok(isIpOrCidr(ok), ok)
  for (const bad of ['1.2.3.4/', '1.2.3/24', '1.2.3.4/33', '::/129', 'x/8', '']) t.notOk(isIpOrCidr(bad), bad)
})

t.test('syntax: header/cookie tokens', async t => {
  t.ok(isToken('X-Forwarded-User'))
  t.ok(isToken("a!#$%&'*+-.^_`|~9"))
  for (const bad of ['', 'a b', 'a:b', 'a;b', 'a,b', 'é']) t.notOk(isToken(bad), bad)
})

t.test('syntax: http URLs only', async t => {
  t.equal(parseHttpUrl('https://a.example/x')?.href, 'https://a.example/x')
  t.equal(parseHttpUrl('HTTP://A.example')?.host, 'a.example')
  for (const bad of ['ftp://a', 'a.example', 'http://', 'http://[bad']) t.equal(parseHttpUrl(bad), null, bad)
})

t.test('syntax: path problems', async t => {
  t.equal(pathProblem('/'), null)
  t.equal(pathProblem('/api/v1/'), null)
  t.equal(pathProblem('/a..b/c.'), null)
  t.equal(pathProblem('/..'), 'must not contain "." or ".." segments')
  t.equal(pathProblem('/./'), 'must not contain "." or ".." segments')
})
