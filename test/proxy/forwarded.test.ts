import t from 'tap'
import { createForwarding } from '../../src/proxy/forwarded.js'

const forwarding = createForwarding(['10.0.0.0/8', '192.168.1.1', '2001:db8::/32', '::1', '::ffff:172.16.0.0/108'])

t.test('forwarded: trusted proxies match by CIDR and address, IPv4, IPv6 and IPv4-mapped', async t => {
  const cases: ReadonlyArray<readonly [string, boolean]> = [
    ['10.1.2.3', true],
    ['10.255.255.255', true],
    ['11.0.0.1', false],
    ['::ffff:10.1.2.3', true],
    ['[::ffff:10.1.2.3]', true],
    ['192.168.1.1', true],
    ['192.168.1.2', false],
    ['2001:db8::5', true],
    ['2001:DB8::5', true],
    ['[2001:db8::5]', true],
    ['2001:db9::1', false],
    ['::1', true],
    ['::2', false],
    ['172.16.5.5', true],
    ['172.31.255.255', true],
    ['172.32.0.1', false],
    ['10.1.2.3:8080', true],
    ['garbage', false],
    ['', false],
    ['fe80::1%eth0', false]
  ]
  for (const [ip, trusted] of cases) t.equal(forwarding.isTrusted(ip), trusted, ip)
})

t.test('forwarded: an empty list trusts nobody, not even loopback', async t => {
  const none = createForwarding([])
  t.equal(none.isTrusted('127.0.0.1'), false)
  t.equal(none.isTrusted('::1'), false)
  t.same(none.resolve('127.0.0.1', { host: 'h', 'x-forwarded-for': '1.2.3.4', 'x-forwarded-proto': 'https' }, false),
    { clientIp: '127.0.0.1', xff: '127.0.0.1', proto: 'http', host: 'h', trusted: false })
})

t.test('forwarded: an invalid trusted proxy entry is refused at creation', async t => {
  for (const entry of ['not-an-ip', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/', '10.0.0.0/8x', '::/129', 'fe80::1%eth0', '::ffff:10.0.0.0/95']) {
    t.throws(() => createForwarding([entry]), TypeError, entry)
  }
  t.equal(createForwarding(['0.0.0.0/0']).isTrusted('203.0.113.1'), true)
})

t.test('forwarded: from an untrusted peer every X-Forwarded-* header is ignored', async t => {
  const headers = {
    host: 'apps.example.com',
    'x-forwarded-for': '1.1.1.1',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'evil.com'
  }
  t.same(forwarding.resolve('203.0.113.7', headers, false),
    { clientIp: '203.0.113.7', xff: '203.0.113.7', proto: 'http', host: 'apps.example.com', trusted: false })
  t.same(forwarding.resolve('203.0.113.7', { ...headers, 'x-forwarded-proto': 'http' }, true),
    { clientIp: '203.0.113.7', xff: '203.0.113.7', proto: 'https', host: 'apps.example.com', trusted: false })
  t.same(forwarding.resolve('::ffff:203.0.113.7', headers, false),
    { clientIp: '203.0.113.7', xff: '203.0.113.7', proto: 'http', host: 'apps.example.com', trusted: false })
  t.same(forwarding.resolve('2001:db9::7', {}, false),
    { clientIp: '2001:db9::7', xff: '2001:db9::7', proto: 'http', host: undefined, trusted: false })
})

t.test('forwarded: from a trusted peer the client is the nearest untrusted hop', async t => {
  const cases: ReadonlyArray<readonly [string | string[] | undefined, string, string]> = [
    [undefined, '10.0.0.1', '10.0.0.1'],
    ['198.51.100.4', '198.51.100.4', '198.51.100.4, 10.0.0.1'],
    ['spoof, 6.6.6.6, 198.51.100.4, 10.0.0.2', '198.51.100.4', '198.51.100.4, 10.0.0.2, 10.0.0.1'],
    ['10.0.0.3, 10.0.0.2', '10.0.0.3', '10.0.0.3, 10.0.0.2, 10.0.0.1'],
    ['unknown', '10.0.0.1', '10.0.0.1'],
    ['198.51.100.4, garbage, 10.0.0.2', '10.0.0.2', '10.0.0.2, 10.0.0.1'],
    ['[2606:4700::1]:443', '2606:4700::1', '2606:4700::1, 10.0.0.1'],
    ['198.51.100.4:5555', '198.51.100.4', '198.51.100.4, 10.0.0.1'],
    ['::ffff:198.51.100.4', '198.51.100.4', '198.51.100.4, 10.0.0.1'],
    [['198.51.100.4', '10.0.0.2'], '198.51.100.4', '198.51.100.4, 10.0.0.2, 10.0.0.1'],
    [' , 198.51.100.4 ,, ', '198.51.100.4', '198.51.100.4, 10.0.0.1'],
    ['', '10.0.0.1', '10.0.0.1']
  ]
  for (const [xff, clientIp, sent] of cases) {
    const info = forwarding.resolve('10.0.0.1', { host: 'h', 'x-forwarded-for': xff }, false)
    t.same([info.clientIp, info.xff], [clientIp, sent], JSON.stringify(xff))
  }
})

t.test('forwarded: IPv6 and IPv4-mapped trusted peers', async t => {
  const v6 = forwarding.resolve('::1', { 'x-forwarded-for': '2001:db9::7' }, false)
  t.same([v6.clientIp, v6.xff], ['2001:db9::7', '2001:db9::7, ::1'])
  const mapped = forwarding.resolve('::ffff:10.0.0.1', { 'x-forwarded-for': '198.51.100.4' }, false)
  t.same([mapped.clientIp, mapped.xff], ['198.51.100.4', '198.51.100.4, 10.0.0.1'])
})

t.test('forwarded: from a trusted peer X-Forwarded-Proto is believed only as http or https', async t => {
  const cases: ReadonlyArray<readonly [string | undefined, boolean, string]> = [
    ['https', false, 'https'],
    ['HTTPS', false, 'https'],
    ['http', true, 'http'],
    ['https, http', false, 'https'],
    ['ftp', false, 'http'],
    ['ftp', true, 'https'],
    ['', true, 'https'],
    [undefined, false, 'http'],
    [undefined, true, 'https']
  ]
  for (const [xfp, tls, proto] of cases) {
    t.equal(forwarding.resolve('10.0.0.1', { 'x-forwarded-proto': xfp }, tls).proto, proto, `${String(xfp)} over ${tls ? 'tls' : 'tcp'}`)
  }
})

t.test('forwarded: from a trusted peer X-Forwarded-Host is believed only as a valid host[:port]', async t => {
  const cases: ReadonlyArray<readonly [string | undefined, string | undefined]> = [
    ['apps.example.com', 'apps.example.com'],
    ['apps.example.com:8443', 'apps.example.com:8443'],
    ['[2001:db8::1]:443', '[2001:db8::1]:443'],
    ['127.0.0.1', '127.0.0.1'],
    ['a.com, b.com', 'a.com'],
    ['evil.com/path', 'origin.example'],
    ['evil.com@x', 'origin.example'],
    ['a b', 'origin.example'],
    ['x:99999', 'origin.example'],
    ['x:0', 'origin.example'],
    ['-bad.com', 'origin.example'],
    ['[zz]', 'origin.example'],
    ['', 'origin.example'],
    [undefined, 'origin.example']
  ]
  for (const [xfh, host] of cases) {
    t.equal(forwarding.resolve('10.0.0.1', { host: 'origin.example', 'x-forwarded-host': xfh }, false).host, host, String(xfh))
  }
  t.equal(forwarding.resolve('10.0.0.1', {}, false).host, undefined)
})
