import { createHash } from 'node:crypto'
import t from 'tap'
import { allSessionsKey, eventsChannel, keyringKeys, keysOfTag, loginKey, lookupIndexKey, sessionKeys, sessionRef, sessionTag, tagOfKey } from '../../src/session/keys.js'
import { newOpaqueToken, newTicket } from '../../src/session/ticket.js'

/** The Redis Cluster hash tag of a key: the text between the first `{` and the next `}`. */
function hashTag (key: string): string | null {
  const open = key.indexOf('{')
  const close = key.indexOf('}', open + 1)
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : null
}

t.test('keys: a session and its lock share one non-empty hash tag, distinct per session', async (t) => {
  const { sid } = newTicket()
  const keys = sessionKeys('portcullis:', sid)
  const tag = hashTag(keys.session)
  t.match(tag, /^[A-Za-z0-9_-]{22}$/)
  t.equal(hashTag(keys.lock), tag)
  t.equal(hashTag(`${keys.lock}:fence`), tag, 'the fence key derived from the lock key is in the same slot')
  t.equal(keys.session, `portcullis:{${tag}}:session`)
  t.equal(keys.lock, `portcullis:{${tag}}:lock`)
  t.not(hashTag(sessionKeys('portcullis:', newTicket().sid).session), tag)
})

t.test('keys: the tag is the first 22 characters of base64url(sha256(sid)), so the sid does not appear', async (t) => {
  const { sid } = newTicket()
  const keys = sessionKeys('p:', sid)
  t.equal(hashTag(keys.session), createHash('sha256').update(sid).digest('base64url').slice(0, 22))
  for (const name of [keys.session, keys.lock]) {
    t.equal(name.includes(sid), false)
    t.equal(name.includes(Buffer.from(sid, 'base64url').toString('hex')), false)
    t.equal(name.includes(Buffer.from(sid, 'base64url').toString('base64')), false)
  }
})

t.test('keys: the same sid always maps to the same keys', async (t) => {
  const { sid } = newTicket()
  t.same(sessionKeys('p:', sid), sessionKeys('p:', sid))
})

t.test('keys: login keys hash the state; channel and signing keys carry the prefix', async (t) => {
  const state = newOpaqueToken()
  const key = loginKey('portcullis:', state)
  t.equal(key, `portcullis:login:${createHash('sha256').update(state).digest('base64url').slice(0, 22)}`)
  t.equal(key.includes(state), false)
  t.equal(eventsChannel('portcullis:'), 'portcullis:events')
  t.strictSame(keyringKeys('portcullis:'), { ring: 'portcullis:{signing-keys}:ring', lock: 'portcullis:{signing-keys}:lock' },
    'the keyring and its lock share one hash slot')
})

t.test('keys: the session reference is the first 16 hex characters of sha256(sid), as audit lines carry it', async (t) => {
  const { sid } = newTicket()
  t.equal(sessionRef(sessionTag(sid)), createHash('sha256').update(sid).digest('hex').slice(0, 16))
  const keys = keysOfTag('p:', sessionTag(sid))
  t.strictSame(keys, sessionKeys('p:', sid))
  t.equal(hashTag(keys.info), hashTag(keys.session), 'the listing data shares the session\'s hash slot')
  t.equal(tagOfKey('p:', keys.session), sessionTag(sid))
  t.equal(tagOfKey('p:', 'q:{abc}:session'), null)
  t.equal(hashTag(allSessionsKey('p:')), 'sessions')
  t.equal(hashTag(lookupIndexKey('p:', 'email', 'H')), 'email:H')
})
