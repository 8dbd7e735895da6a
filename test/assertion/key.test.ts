import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { calculateJwkThumbprint } from 'jose'
import t from 'tap'
import { createKeySealer, generateSigningKey, loadKeyFile } from '../../src/assertion/key.js'

const dir = mkdtempSync(join(tmpdir(), 'portcullis-assertion-key-'))

function write (name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' })
const pkcs8 = write('p256-pkcs8.pem', p256.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string)
const sec1 = write('p256-sec1.pem', p256.privateKey.export({ format: 'pem', type: 'sec1' }) as string)

t.test('key file: a PEM P-256 private key loads, PKCS#8 or SEC1, named by its RFC 7638 thumbprint', async (t) => {
  const a = await loadKeyFile(pkcs8)
  const b = await loadKeyFile(sec1)
  const { kty, crv, x, y } = p256.publicKey.export({ format: 'jwk' })
  const thumbprint = await calculateJwkThumbprint({ kty: kty!, crv: crv!, x: x!, y: y! }, 'sha256')
  t.equal(a.kid, thumbprint)
  t.equal(b.kid, thumbprint, 'the same key in another encoding has the same kid')
  t.strictSame(a.publicJwk, { kty: 'EC', crv: 'P-256', x, y, kid: thumbprint, alg: 'ES256', use: 'sig' })
  t.equal('d' in a.publicJwk, false, 'no private part is published')
})

t.test('key file: anything but an unencrypted EC P-256 private key is a start-up error naming the key', async (t) => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' })
  const cases: Array<[string, RegExp]> = [
    [join(dir, 'missing.pem'), /cannot be read \(ENOENT\)$/],
    [write('garbage.pem', 'not a key\n'), /is not a PEM private key/],
    [write('rsa.pem', rsa.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string), /is not an EC P-256 private key/],
    [write('p384.pem', p384.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string), /is not an EC P-256 private key/],
    [write('public.pem', p256.publicKey.export({ format: 'pem', type: 'spki' }) as string), /is not a PEM private key/],
    [write('encrypted.pem', p256.privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string), /is not a PEM private key/]
  ]
  for (const [path, why] of cases) {
    const err = await loadKeyFile(path).then(() => null, (e: unknown) => e as { code: string, message: string })
    t.equal(err?.code, 'PCS_CONFIG_INVALID', path)
    t.ok(err?.message.startsWith(`identity.assertion.key_file: ${path} `), `the message names the key and the file: ${err?.message}`)
    t.match(err?.message, why)
  }
})

t.test('sealer: a generated key round-trips under the first secret and opens with any configured secret', async (t) => {
  const key = await generateSigningKey()
  const sealed = createKeySealer(['first-secret-0123456789abcdefghijklmnop']).seal(key)
  const d = key.privateKey.export({ format: 'jwk' }).d!
  t.equal(sealed.includes(d), false, 'the private scalar is not readable in the sealed text')
  t.equal(Buffer.from(sealed, 'base64url').toString('latin1').includes(d), false)

  const rotated = createKeySealer(['second-secret-0123456789abcdefghijklmno', 'first-secret-0123456789abcdefghijklmnop'])
  const opened = await rotated.open(key.kid, sealed)
  t.equal(opened?.kid, key.kid)
  t.strictSame(opened?.publicJwk, key.publicJwk)
  t.equal(opened?.privateKey.export({ format: 'jwk' }).d, d)
})

t.test('sealer: other secrets, another kid or altered bytes open nothing', async (t) => {
  const key = await generateSigningKey()
  const other = await generateSigningKey()
  const sealer = createKeySealer(['first-secret-0123456789abcdefghijklmnop'])
  const sealed = sealer.seal(key)
  t.equal(await createKeySealer(['another-secret-0123456789abcdefghijklmn']).open(key.kid, sealed), null)
  t.equal(await sealer.open(other.kid, sealed), null, 'a sealed key cannot be passed off under another kid')
  const bytes = Buffer.from(sealed, 'base64url')
  bytes[bytes.length - 1]! ^= 1
  t.equal(await sealer.open(key.kid, bytes.toString('base64url')), null)
  t.equal(await sealer.open(key.kid, ''), null)
})

t.test('generated keys are fresh P-256 keys with distinct kids', async (t) => {
  const a = await generateSigningKey()
  const b = await generateSigningKey()
  t.not(a.kid, b.kid)
  t.equal(a.privateKey.asymmetricKeyDetails?.namedCurve, 'prime256v1')
  t.equal(a.publicJwk.crv, 'P-256')
})
