import { createHmac } from 'node:crypto'
import t from 'tap'
import { createTicketCodec, newOpaqueToken, newTicket } from '../../src/session/ticket.js'

const oldSecret = 'o'.repeat(32)
const newSecret = 'n'.repeat(32)

/** Replaces the character at `index` with another base64url character. */
function flip (value: string, index: number): string {
  const c = value[index] === 'A' ? 'B' : 'A'
  return value.slice(0, index) + c + value.slice(index + 1)
}

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** The last character of a 22-character sid with one of its 4 unused bits set: it decodes to the same bytes. */
function nonCanonical (sid: string): string {
  return alphabet[alphabet.indexOf(sid[21]!) | 1]!
}

t.test('ticket: newTicket draws a 16-byte sid and a 32-byte key, different every time', async (t) => {
  const a = newTicket()
  const b = newTicket()
  t.match(a.sid, /^[A-Za-z0-9_-]{22}$/)
  t.equal(Buffer.from(a.sid, 'base64url').length, 16)
  t.equal(a.key.length, 32)
  t.not(a.sid, b.sid)
  t.not(a.key.toString('hex'), b.key.toString('hex'))
})

t.test('ticket: decode(encode(ticket)) gives the same sid and key', async (t) => {
  const codec = createTicketCodec([newSecret])
  const ticket = newTicket()
  const value = codec.encode(ticket)
  t.match(value, /^v1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43}$/)
  const back = codec.decode(value)
  t.equal(back?.sid, ticket.sid)
  t.same(back?.key, ticket.key)
})

t.test('ticket: a ticket with the session expiry encodes as v2, and the expiry is signed like the rest', async (t) => {
  const codec = createTicketCodec([newSecret])
  const ticket = newTicket(1_900_000_000_123)
  const value = codec.encode(ticket)
  t.match(value, /^v2\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\.1900000000123\.[A-Za-z0-9_-]{43}$/)
  const back = codec.decode(value)
  t.equal(back?.sid, ticket.sid)
  t.same(back?.key, ticket.key)
  t.equal(back?.expiresAt, 1_900_000_000_123)
  const [v, sid, key, exp, mac] = value.split('.') as [string, string, string, string, string]
  t.equal(codec.decode(`${v}.${sid}.${key}.${Number(exp) + 1}.${mac}`), null, 'a changed expiry')
  t.equal(codec.decode(`${v}.${sid}.${key}.0${exp}.${mac}`), null, 'a leading zero (another spelling)')
  t.equal(codec.decode(`v1.${sid}.${key}.${mac}`), null, 'the expiry dropped')
  t.equal(codec.decode(`${v}.${sid}.${key}.99999999999999999.${mac}`), null, 'beyond a safe integer')
  t.equal(codec.decode(codec.encode(newTicket()))?.expiresAt, undefined, 'a v1 ticket carries none')
  t.throws(() => codec.encode({ ...ticket, expiresAt: 1.5 }), RangeError)
})

t.test('ticket: rotation — the first secret signs, every secret verifies', async (t) => {
  const before = createTicketCodec([oldSecret])
  const during = createTicketCodec([newSecret, oldSecret])
  const after = createTicketCodec([newSecret])
  const ticket = newTicket()
  const oldCookie = before.encode(ticket)
  t.equal(during.decode(oldCookie)?.sid, ticket.sid, 'a cookie signed with the old secret still verifies')
  const newCookie = during.encode(ticket)
  t.not(newCookie, oldCookie, 'new cookies are signed with the new secret')
  t.equal(after.decode(newCookie)?.sid, ticket.sid)
  t.equal(before.decode(newCookie), null, 'the old secret alone does not verify the new signature')
  t.equal(after.decode(oldCookie), null, 'once the old secret is dropped its cookies are refused')
})

t.test('ticket: a changed sid, key, mac or version is refused', async (t) => {
  const codec = createTicketCodec([newSecret])
  const value = codec.encode(newTicket())
  const [v, sid, key, mac] = value.split('.') as [string, string, string, string]
  t.equal(codec.decode(`${v}.${flip(sid, 0)}.${key}.${mac}`), null, 'sid')
  t.equal(codec.decode(`${v}.${sid}.${flip(key, 5)}.${mac}`), null, 'key')
  t.equal(codec.decode(`${v}.${sid}.${key}.${flip(mac, 10)}`), null, 'mac')
  t.equal(codec.decode(`v2.${sid}.${key}.${mac}`), null, 'version')
  const other = createTicketCodec(['x'.repeat(32)]).encode(newTicket())
  t.equal(codec.decode(other), null, 'signed with an unknown secret')
  // A MAC over the same payload but without the ticket label: another use of the same secret.
  const payload = `${v}.${sid}.${key}`
  const unlabelled = createHmac('sha256', newSecret).update(payload).digest('base64url')
  t.equal(codec.decode(`${payload}.${unlabelled}`), null, 'a signature made for another purpose')
})

t.test('ticket: garbage, empty, oversized and wrongly sized values are refused', async (t) => {
  const codec = createTicketCodec([newSecret])
  const value = codec.encode(newTicket())
  const [v, sid, key, mac] = value.split('.') as [string, string, string, string]
  const cases: Array<[string, string | undefined]> = [
    ['undefined', undefined],
    ['empty', ''],
    ['garbage', 'not a ticket'],
    ['only dots', '...'],
    ['missing part', `${v}.${sid}.${key}`],
    ['extra part', `${value}.x`],
    ['oversized', value + 'A'.repeat(200)],
    ['short sid', `${v}.${sid.slice(1)}.${key}.${mac}`],
    ['long key', `${v}.${sid}.${key}A.${mac}`],
    ['padding', `${v}.${sid}==.${key}.${mac}`],
    ['standard base64 chars', `${v}.${sid.slice(0, -1)}+.${key}.${mac}`],
    ['non-canonical last character (same bytes, other spelling)', `${v}.${sid.slice(0, -1)}${nonCanonical(sid)}.${key}.${mac}`],
    ['whitespace', ` ${value}`]
  ]
  for (const [name, input] of cases) t.equal(codec.decode(input), null, name)
  t.equal(codec.decode(value)?.sid, sid, 'the untouched value still decodes')
})

t.test('ticket: encode refuses a ticket newTicket could not have made', async (t) => {
  const codec = createTicketCodec([newSecret])
  t.throws(() => codec.encode({ sid: 'short', key: newTicket().key }), RangeError)
  t.throws(() => codec.encode({ sid: newTicket().sid, key: Buffer.alloc(16) }), RangeError)
})

t.test('ticket: a spelling that decodes to the same bytes is still a different, refused value', async (t) => {
  const codec = createTicketCodec([newSecret])
  const ticket = newTicket()
  const [v, sid, key, mac] = codec.encode(ticket).split('.') as [string, string, string, string]
  const other = sid.slice(0, -1) + nonCanonical(sid)
  t.same(Buffer.from(other, 'base64url'), Buffer.from(sid, 'base64url'), 'the two spellings decode alike')
  t.equal(codec.decode(`${v}.${other}.${key}.${mac}`), null)
})

t.test('ticket: a codec needs at least one non-empty secret', async (t) => {
  t.throws(() => createTicketCodec([]), RangeError)
  t.throws(() => createTicketCodec(['']), RangeError)
})

t.test('ticket: newOpaqueToken gives base64url of the requested number of random bytes', async (t) => {
  const a = newOpaqueToken()
  t.match(a, /^[A-Za-z0-9_-]{43}$/)
  t.equal(Buffer.from(a, 'base64url').length, 32)
  t.equal(Buffer.from(newOpaqueToken(16), 'base64url').length, 16)
  t.not(newOpaqueToken(), a)
})
