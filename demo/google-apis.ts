/**
 * The development provider's double of Google's Workspace group APIs, served over real HTTP next
 * to its OpenID endpoints, with the request and response shapes of Google's published reference:
 * - `GET /v1/groups/-/memberships:searchTransitiveGroups?query=&pageSize=&pageToken=` (Cloud
 *   Identity), bearing a user access token of this provider that carries the
 *   `cloud-identity.groups.readonly` scope; answers `{memberships: [GroupRelation], nextPageToken}`.
 * - `GET /admin/directory/v1/groups?userKey=&maxResults=&pageToken=` (Admin SDK Directory), bearing
 *   a service account token; answers `{kind, etag, groups: [Group], nextPageToken}`, direct
 *   memberships only.
 * - `POST /google/token`: the JWT-bearer grant of a registered service account (RS256 assertion,
 *   `aud` = this URL, optional `sub` for domain-wide delegation), answering `{access_token,
 *   expires_in, token_type}`.
 * Errors use Google's shape `{error: {code, message, status, errors}}`. Test hooks inject failures
 * and delays and change memberships; pages are small (2 by default) so every fetch paginates.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { importSPKI, jwtVerify } from 'jose'

export const CLOUD_IDENTITY_SCOPE = 'https://www.googleapis.com/auth/cloud-identity.groups.readonly'
export const DIRECTORY_SCOPE = 'https://www.googleapis.com/auth/admin.directory.group.readonly'
const SEARCH_PATH = '/v1/groups/-/memberships:searchTransitiveGroups'
const DIRECTORY_PATH = '/admin/directory/v1/groups'
export const SERVICE_ACCOUNT_TOKEN_PATH = '/google/token'

/** A failure the next API requests answer with instead of their result. */
export interface InjectedFailure {
  readonly status: number
  /** How many requests fail (default 1). */
  readonly times?: number
  /** `Retry-After` seconds to send. */
  readonly retryAfterSeconds?: number
  /** Which endpoints fail: both group APIs (default), or the service account token endpoint too. */
  readonly token?: boolean
}

export interface GoogleApiCounters {
  searchTransitiveGroups: number
  directoryGroupsList: number
  serviceAccountTokens: number
}

export interface GoogleApis {
  readonly counters: GoogleApiCounters
  /** Answers the request when it is one of the API paths; false otherwise. */
  handle (req: IncomingMessage, res: ServerResponse): Promise<boolean>
  failNext (failure: InjectedFailure): void
  /** Delay before every API request is answered (a timeout test sets it above `groups.timeout`). */
  setDelay (ms: number): void
  /** Largest page served (default 2). */
  setPageSize (size: number): void
  addMember (group: string, member: string): void
  removeMember (group: string, member: string): void
  /**
   * Registers a service account and returns its key file content, as Google issues it, with
   * `token_uri` pointing at this double.
   */
  serviceAccountKey (clientEmail: string): Record<string, string>
}

type AccessTokenLookup = (token: string) => Promise<{ email: string, scopes: ReadonlySet<string> } | null>

export function createGoogleApis (issuer: string, groups: Readonly<Record<string, readonly string[]>>, lookupUserToken: AccessTokenLookup, admins: ReadonlySet<string>): GoogleApis {
  const members = new Map<string, Set<string>>(Object.entries(groups).map(([group, list]) => [group, new Set(list)]))
  const counters: GoogleApiCounters = { searchTransitiveGroups: 0, directoryGroupsList: 0, serviceAccountTokens: 0 }
  const accounts = new Map<string, { publicKeyPem: string, kid: string }>()
  const serviceTokens = new Map<string, { expiresAt: number, scopes: Set<string>, subject: string | null }>()
  const failures: Array<{ failure: InjectedFailure, left: number }> = []
  let delayMs = 0
  let pageSize = 2

  /** Groups whose direct members include `member`. */
  const directGroupsOf = (member: string): string[] => [...members].filter(([, set]) => set.has(member)).map(([group]) => group)

  /** Every group reached from `email` through memberships, each with DIRECT / INDIRECT / DIRECT_AND_INDIRECT. */
  function transitiveGroupsOf (email: string): Array<{ group: string, relation: string }> {
    const direct = new Set(directGroupsOf(email))
    const reached = new Set<string>()
    const indirect = new Set<string>()
    const queue = [...direct]
    while (queue.length > 0 && reached.size < 10_000) {
      const group = queue.shift() as string
      if (reached.has(group)) continue
      reached.add(group)
      for (const parent of directGroupsOf(group)) { indirect.add(parent); queue.push(parent) }
    }
    return [...reached].sort().map((group) => ({
      group,
      relation: direct.has(group) && indirect.has(group) ? 'DIRECT_AND_INDIRECT' : direct.has(group) ? 'DIRECT' : 'INDIRECT'
    }))
  }

  function paged<T> (items: T[], url: URL, sizeParam: string, max: number): { items: T[], next: string | null } {
    const requested = Number(url.searchParams.get(sizeParam) ?? max)
    const size = Math.max(1, Math.min(Number.isInteger(requested) && requested > 0 ? requested : max, max, pageSize))
    const token = url.searchParams.get('pageToken')
    const offset = token === null ? 0 : Number(Buffer.from(token, 'base64url').toString('utf8').replace(/^offset:/, ''))
    if (!Number.isInteger(offset) || offset < 0) return { items: [], next: null }
    const next = offset + size < items.length ? Buffer.from(`offset:${offset + size}`).toString('base64url') : null
    return { items: items.slice(offset, offset + size), next }
  }

  function injected (token: boolean): InjectedFailure | null {
    const entry = failures[0]
    if (entry === undefined || (token && entry.failure.token !== true)) return null
    if (--entry.left <= 0) failures.shift()
    return entry.failure
  }

  async function search (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    counters.searchTransitiveGroups++
    const user = await lookupUserToken(bearer(req) ?? '')
    if (user === null) return googleError(res, 401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.')
    if (!user.scopes.has(CLOUD_IDENTITY_SCOPE)) return googleError(res, 403, 'PERMISSION_DENIED', 'Request had insufficient authentication scopes.')
    const query = url.searchParams.get('query') ?? ''
    const match = /^member_key_id == '((?:[^'\\]|\\.)*)' && 'cloudidentity\.googleapis\.com\/groups\.discussion_forum' in labels$/.exec(query)
    if (match === null) return googleError(res, 400, 'INVALID_ARGUMENT', 'Request contains an invalid argument.')
    const member = (match[1] ?? '').replace(/\\(.)/g, '$1')
    // A user may search only their own memberships without admin rights.
    if (member.toLowerCase() !== user.email.toLowerCase()) return googleError(res, 403, 'PERMISSION_DENIED', 'The caller does not have permission')
    const page = paged(transitiveGroupsOf(user.email.toLowerCase()), url, 'pageSize', 1000)
    sendJson(res, 200, {
      memberships: page.items.map(({ group, relation }) => ({
        groupKey: { id: group },
        group: `groups/${Buffer.from(group).toString('hex').slice(0, 15)}`,
        displayName: group.split('@')[0],
        relationType: relation,
        roles: [{ role: 'MEMBER' }],
        labels: { 'cloudidentity.googleapis.com/groups.discussion_forum': '' }
      })),
      ...(page.next === null ? {} : { nextPageToken: page.next })
    })
  }

  function directory (req: IncomingMessage, res: ServerResponse, url: URL): void {
    counters.directoryGroupsList++
    const token = serviceTokens.get(bearer(req) ?? '')
    if (token === undefined || token.expiresAt < Date.now()) return googleError(res, 401, 'UNAUTHENTICATED', 'Login Required.')
    if (!token.scopes.has(DIRECTORY_SCOPE)) return googleError(res, 403, 'PERMISSION_DENIED', 'Request had insufficient authentication scopes.')
    if (token.subject === null || !admins.has(token.subject)) return googleError(res, 403, 'PERMISSION_DENIED', 'Not Authorized to access this resource/api')
    const userKey = url.searchParams.get('userKey')
    if (userKey === null || userKey === '') return googleError(res, 400, 'INVALID_ARGUMENT', 'Bad Request')
    const page = paged(directGroupsOf(userKey.toLowerCase()).sort(), url, 'maxResults', 200)
    sendJson(res, 200, {
      kind: 'admin#directory#groups',
      etag: `"${randomBytes(8).toString('hex')}"`,
      groups: page.items.map((email) => ({
        kind: 'admin#directory#group',
        id: Buffer.from(email).toString('hex').slice(0, 17),
        etag: `"${randomBytes(8).toString('hex')}"`,
        email,
        name: email.split('@')[0],
        directMembersCount: String(members.get(email)?.size ?? 0),
        description: '',
        adminCreated: true
      })),
      ...(page.next === null ? {} : { nextPageToken: page.next })
    })
  }

  async function serviceAccountToken (req: IncomingMessage, res: ServerResponse): Promise<void> {
    counters.serviceAccountTokens++
    const form = new URLSearchParams(await readBody(req))
    const oauthError = (error: string, description: string): void => sendJson(res, 400, { error, error_description: description })
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return oauthError('unsupported_grant_type', 'Invalid grant_type')
    const assertion = form.get('assertion') ?? ''
    const claims = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8') || 'null') as Record<string, unknown> | null
    const account = typeof claims?.iss === 'string' ? accounts.get(claims.iss) : undefined
    if (account === undefined) return oauthError('invalid_grant', 'Invalid JWT Signature.')
    try {
      await jwtVerify(assertion, await importSPKI(account.publicKeyPem, 'RS256'), { algorithms: ['RS256'], audience: `${issuer}${SERVICE_ACCOUNT_TOKEN_PATH}`, maxTokenAge: '1h' })
    } catch {
      return oauthError('invalid_grant', 'Invalid JWT Signature.')
    }
    const scopes = new Set(String(claims?.scope ?? '').split(' ').filter((s) => s !== ''))
    const subject = typeof claims?.sub === 'string' ? claims.sub : null
    const token = `ya29.dev-${randomBytes(24).toString('base64url')}`
    serviceTokens.set(token, { expiresAt: Date.now() + 3600_000, scopes, subject })
    sendJson(res, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' })
  }

  return {
    counters,
    async handle (req, res) {
      const url = new URL(req.url ?? '/', issuer)
      const api = req.method === 'GET' && (url.pathname === SEARCH_PATH || url.pathname === DIRECTORY_PATH)
      const tokenEndpoint = req.method === 'POST' && url.pathname === SERVICE_ACCOUNT_TOKEN_PATH
      if (!api && !tokenEndpoint) return false
      if (delayMs > 0) await sleep(delayMs)
      const failure = injected(tokenEndpoint)
      if (failure !== null) {
        if (failure.retryAfterSeconds !== undefined) res.setHeader('retry-after', String(failure.retryAfterSeconds))
        googleError(res, failure.status, statusName(failure.status), 'Injected failure (test hook).')
      } else if (tokenEndpoint) {
        await serviceAccountToken(req, res)
      } else if (url.pathname === SEARCH_PATH) {
        await search(req, res, url)
      } else {
        directory(req, res, url)
      }
      return true
    },
    failNext (failure) { failures.push({ failure, left: failure.times ?? 1 }) },
    setDelay (ms) { delayMs = Math.max(0, ms) },
    setPageSize (size) { pageSize = Math.max(1, Math.floor(size)) },
    addMember (group, member) {
      let set = members.get(group)
      if (set === undefined) members.set(group, set = new Set())
      set.add(member)
    },
    removeMember (group, member) { members.get(group)?.delete(member) },
    serviceAccountKey (clientEmail) {
      const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      const kid = randomBytes(20).toString('hex')
      accounts.set(clientEmail, { publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), kid })
      return {
        type: 'service_account',
        project_id: 'portcullis-dev',
        private_key_id: kid,
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        client_email: clientEmail,
        client_id: String(BigInt(`0x${randomBytes(8).toString('hex')}`)),
        auth_uri: `${issuer}/auth`,
        token_uri: `${issuer}${SERVICE_ACCOUNT_TOKEN_PATH}`
      }
    }
  }
}

function bearer (req: IncomingMessage): string | null {
  const match = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '')
  return match?.[1] ?? null
}

function statusName (status: number): string {
  return ({ 400: 'INVALID_ARGUMENT', 401: 'UNAUTHENTICATED', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE' } as Record<number, string>)[status] ?? 'UNKNOWN'
}

/** Google's JSON error shape. */
function googleError (res: ServerResponse, code: number, status: string, message: string): void {
  sendJson(res, code, { error: { code, message, status, errors: [{ message, domain: 'global', reason: status === 'PERMISSION_DENIED' ? 'forbidden' : 'backendError' }] } })
}

function sendJson (res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'cache-control': 'no-store' })
  res.end(JSON.stringify(body))
}

async function readBody (req: IncomingMessage): Promise<string> {
  let body = ''
  for await (const chunk of req) {
    body += String(chunk)
    if (body.length > 65_536) break
  }
  return body
}
