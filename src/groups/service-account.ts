/**
 * A service account's access token for the Admin SDK Directory API: the OAuth 2.0 JWT-bearer grant
 * (RFC 7523) against the key file's `token_uri`, with `sub` naming the admin it acts as under
 * domain-wide delegation. Tokens are reused until a minute before they expire.
 *
 * Why not google-auth-library's `JWT` client: its token endpoint is a constant
 * (`https://oauth2.googleapis.com/token` in gtoken/getToken.js), so it cannot be pointed at the
 * test double; Google's key files name the endpoint in `token_uri`, which is what this follows.
 */
import { readFileSync } from 'node:fs'
import { importPKCS8, SignJWT } from 'jose'
import { GroupsFetchError, isRecord, translate } from './google-api.js'

export const directoryGroupsScope = 'https://www.googleapis.com/auth/admin.directory.group.readonly'
const jwtBearerGrant = 'urn:ietf:params:oauth:grant-type:jwt-bearer'

export interface ServiceAccountKey {
  readonly clientEmail: string
  readonly privateKeyId: string | null
  readonly privateKey: string
  readonly tokenUri: string
}

/**
 * Reads a Google service account key file (`type: service_account`, `client_email`,
 * `private_key`, `token_uri`). Throws an Error naming the config key for anything else; an http
 * `token_uri` is accepted only when `allowHttp` (local testing).
 */
export function readServiceAccountKey (file: string, allowHttp: boolean): ServiceAccountKey {
  const where = 'provider.groups.service_account_key_file'
  let json: unknown
  try {
    json = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new Error(`${where}: ${file} is not a readable JSON key file (${(err as Error).message})`)
  }
  if (!isRecord(json) || json.type !== 'service_account' || typeof json.client_email !== 'string' || typeof json.private_key !== 'string') {
    throw new Error(`${where}: ${file} is not a service account key (needs type service_account, client_email and private_key)`)
  }
  const tokenUri = typeof json.token_uri === 'string' ? json.token_uri : 'https://oauth2.googleapis.com/token'
  const url = URL.canParse(tokenUri) ? new URL(tokenUri) : null
  if (url === null || !(url.protocol === 'https:' || (allowHttp && url.protocol === 'http:'))) {
    throw new Error(`${where}: token_uri must be an https URL`)
  }
  return { clientEmail: json.client_email, privateKeyId: typeof json.private_key_id === 'string' ? json.private_key_id : null, privateKey: json.private_key, tokenUri }
}

/** Returns a function that yields a current access token for `scope`, acting as `subject` when given. */
export function serviceAccountTokens (key: ServiceAccountKey, scope: string, subject: string | null, now: () => number): (deadline: AbortSignal) => Promise<string> {
  let cached: { token: string, expiresAt: number } | null = null
  let signingKey: Awaited<ReturnType<typeof importPKCS8>> | null = null

  return async function token (deadline) {
    if (cached !== null && now() < cached.expiresAt - 60_000) return cached.token
    signingKey ??= await importPKCS8(key.privateKey, 'RS256')
    const iat = Math.floor(now() / 1000)
    const assertion = await new SignJWT({ scope, ...(subject === null ? {} : { sub: subject }) })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(key.privateKeyId === null ? {} : { kid: key.privateKeyId }) })
      .setIssuer(key.clientEmail)
      .setAudience(key.tokenUri)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 3600)
      .sign(signingKey)
    let response: Response
    try {
      response = await fetch(key.tokenUri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ grant_type: jwtBearerGrant, assertion }).toString(),
        signal: deadline,
        redirect: 'error'
      })
    } catch (err) {
      throw translate(err, deadline)
    }
    const body: unknown = await response.json().catch(() => null)
    if (!response.ok || !isRecord(body) || typeof body.access_token !== 'string') {
      // `unauthorized_client` here usually means domain-wide delegation is not granted for the scope.
      const error = isRecord(body) && typeof body.error === 'string' ? body.error : 'no access_token'
      const reason = response.status === 429 ? 'rate_limited' : response.status >= 500 ? 'server_error' : 'unauthorized'
      throw new GroupsFetchError(reason, `service account token: ${response.status} ${error}`, { status: response.status })
    }
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : 3600
    cached = { token: body.access_token, expiresAt: now() + expiresIn * 1000 }
    return cached.token
  }
}
