import { randomBytes } from 'node:crypto'
import t from 'tap'
import { open, seal } from '../../src/session/crypto.js'

const key = randomBytes(32)
const aad = 'portcullis:{abc}:session'
const plaintext = Buffer.from('{"hello":"world"}')

t.test('crypto: open returns exactly what seal sealed', async (t) => {
  const sealed = seal(key, aad, plaintext)
  t.same(open(key, aad, sealed), plaintext)
  t.same(open(key, aad, seal(key, aad, Buffer.alloc(0))), Buffer.alloc(0), 'an empty plaintext round-trips')
})

t.test('crypto: the layout is version 1 | 12-byte iv | 16-byte tag | ciphertext, with a fresh iv each time', async (t) => {
  const a = seal(key, aad, plaintext)
  const b = seal(key, aad, plaintext)
  t.equal(a.length, 1 + 12 + 16 + plaintext.length)
  t.equal(a[0], 1)
  t.not(a.subarray(1, 13).toString('hex'), b.subarray(1, 13).toString('hex'), 'ivs differ')
  t.not(a.toString('hex'), b.toString('hex'), 'sealing twice gives different bytes')
  t.equal(a.includes(plaintext), false, 'the plaintext does not appear in the sealed bytes')
})

t.test('crypto: flipping any single byte (version, iv, tag or ciphertext) makes open return null', async (t) => {
  const sealed = seal(key, aad, plaintext)
  const regions: Array<[string, number]> = [['version', 0], ['iv', 1], ['iv end', 12], ['tag', 13], ['tag end', 28], ['ciphertext', 29], ['last byte', sealed.length - 1]]
  for (const [part, index] of regions) {
    const tampered = Buffer.from(sealed)
    tampered[index] = tampered[index]! ^ 0x01
    t.equal(open(key, aad, tampered), null, `tampered ${part} (byte ${index})`)
  }
  t.equal(open(key, aad, Buffer.concat([sealed, Buffer.from([0])])), null, 'appended byte')
  t.equal(open(key, aad, sealed.subarray(0, sealed.length - 1)), null, 'truncated ciphertext')
})

t.test('crypto: a wrong key or a wrong aad makes open return null', async (t) => {
  const sealed = seal(key, aad, plaintext)
  t.equal(open(randomBytes(32), aad, sealed), null, 'wrong key')
  t.equal(open(key, 'portcullis:{other}:session', sealed), null, 'wrong aad')
  t.equal(open(key, '', sealed), null, 'empty aad')
})

t.test('crypto: open returns null, never throws, on short or malformed input', async (t) => {
  t.equal(open(key, aad, Buffer.alloc(0)), null)
  t.equal(open(key, aad, Buffer.from([1])), null)
  t.equal(open(key, aad, Buffer.alloc(28, 1)), null, 'one byte short of a header')
  t.equal(open(key, aad, randomBytes(64)), null)
  t.equal(open(Buffer.alloc(16), aad, seal(key, aad, plaintext)), null, 'a key of the wrong size')
})

t.test('crypto: seal refuses a key that is not 32 bytes', async (t) => {
  t.throws(() => seal(Buffer.alloc(16), aad, plaintext), RangeError)
})
