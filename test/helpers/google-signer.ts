/**
 * A local issuer that signs ID tokens the way Google does (RS256, keys named by `kid`, the JWKS
 * published at a jwks_uri that discovery names, keys rotated by publishing the new one first), so
 * bearer verification can be tested against key rotation without the internet.
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { createServer } from 'node:http'
import { SignJWT } from 'jose'
import { listenOnLoopback } from './listen.js'

export interface GoogleLikeSigner {
  readonly issuer: string
  /** Times the JWKS was fetched. */
  readonly jwksFetches: () => number
  /** The kid tokens are signed with now. */
  readonly currentKid: () => string
  /** Publishes a new key and signs with it from now on (the old one stays published). */
  rotate (): string
  /** A key that is never published (an unknown kid). */
  unpublishedKey (): { kid: string, key: KeyObject }
  sign (claims: Record<string, unknown>, options?: { kid?: string, key?: KeyObject }): Promise<string>
  close (): Promise<void>
}

export async function startGoogleLikeSigner (): Promise<GoogleLikeSigner> {
  const keys = new Map<string, { privateKey: KeyObject, publicJwk: Record<string, unknown> }>()
  let current = ''
  let fetches = 0
  const addKey = (): string => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const kid = randomBytes(20).toString('hex')
    keys.set(kid, { privateKey, publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } })
    current = kid
    return kid
  }
  addKey()
  let issuer = ''
  const server = createServer((req, res) => {
    const send = (body: unknown): void => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)) }
    if (req.url === '/.well-known/openid-configuration') {
      return send({
        issuer,
        authorization_endpoint: `${issuer}/o/oauth2/v2/auth`,
        token_endpoint: `${issuer}/token`,
        userinfo_endpoint: `${issuer}/v1/userinfo`,
        jwks_uri: `${issuer}/oauth2/v3/certs`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256']
      })
    }
    if (req.url === '/oauth2/v3/certs') {
      fetches++
      return send({ keys: [...keys.values()].map((k) => k.publicJwk) })
    }
    res.writeHead(404).end()
  })
  issuer = await listenOnLoopback(server)
  return {
    issuer,
    jwksFetches: () => fetches,
    currentKid: () => current,
    rotate: addKey,
    unpublishedKey: () => ({ kid: randomBytes(20).toString('hex'), key: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey }),
    async sign (claims, options = {}) {
      const kid = options.kid ?? current
      const key = options.key ?? keys.get(kid)?.privateKey
      if (key === undefined) throw new Error(`no key ${kid}`)
      return await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' }).sign(key)
    },
    close: async () => { await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections() }) }
  }
}
