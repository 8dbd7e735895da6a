/**
 * The two Google Workspace group listings, spoken over plain `fetch`, with Google's request and
 * response shapes (references: docs/google.md):
 * - Cloud Identity `groups.memberships.searchTransitiveGroups`: the user's own access token; every
 *   group the user belongs to, directly or through other groups.
 * - Admin SDK Directory `groups.list?userKey=`: a service account's token; direct memberships.
 *
 * Why not the generated clients (@googleapis/cloudidentity, @googleapis/admin): both can be pointed
 * at a test server (`rootUrl`), but their transport retries 429 and 5xx on its own schedule, which
 * cannot be bounded by `groups.timeout` as a whole or told apart in the audit line; here one
 * deadline covers every page and retry, and each failure is translated once into a
 * {@link GroupsFetchError} with a reason the operator can act on.
 */

/** Why a fetch failed, as the audit line and the session record say it. */
export type GroupsFailure = 'forbidden' | 'unauthorized' | 'rate_limited' | 'server_error' | 'timeout' | 'unreachable' | 'bad_response' | 'not_found' | 'too_many'

export class GroupsFetchError extends Error {
  readonly reason: GroupsFailure
  /** HTTP status, when the API answered. */
  readonly status: number | null
  /** The server's `Retry-After`, in ms, when it sent one. */
  readonly retryAfterMs: number | null

  constructor (reason: GroupsFailure, message: string, options: { status?: number | null, retryAfterMs?: number | null, cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'GroupsFetchError'
    this.reason = reason
    this.status = options.status ?? null
    this.retryAfterMs = options.retryAfterMs ?? null
  }
}

export const cloudIdentityRoot = 'https://cloudidentity.googleapis.com'
export const directoryRoot = 'https://admin.googleapis.com'

/** Upper bound on pages per fetch (1000 groups a page at most): a runaway `nextPageToken` ends here. */
const maxPages = 50
/** Upper bound on the groups kept for one user (the session stays small). */
export const maxGroups = 2000
/** Attempts per page for 429 and 5xx answers, all within the fetch's deadline. */
const maxAttempts = 3

/** What one page of either API yields: group email addresses and the next page token. */
interface Page { readonly groups: string[], readonly next: string | null }

/** Lists every group of `email`, following pages, each request bearing `token`. */
export async function listGroups (kind: 'cloud_identity' | 'admin_directory', root: string, email: string, token: () => Promise<string>, pageSize: number, deadline: AbortSignal): Promise<string[]> {
  const groups = new Set<string>()
  let next: string | null = null
  for (let page = 0; page < maxPages; page++) {
    const url = kind === 'cloud_identity' ? cloudIdentityUrl(root, email, pageSize, next) : directoryUrl(root, email, pageSize, next)
    const body = await getWithBackoff(url, token, deadline)
    const parsed = kind === 'cloud_identity' ? cloudIdentityPage(body) : directoryPage(body)
    for (const group of parsed.groups) groups.add(group.toLowerCase())
    if (groups.size > maxGroups) throw new GroupsFetchError('too_many', `more than ${maxGroups} groups`)
    if (parsed.next === null) return [...groups].sort()
    next = parsed.next
  }
  throw new GroupsFetchError('too_many', `more than ${maxPages} pages of groups`)
}

function cloudIdentityUrl (root: string, email: string, pageSize: number, pageToken: string | null): string {
  // A CEL string literal: the address is quoted, with quotes and backslashes escaped.
  const literal = `'${email.replace(/[\\']/g, (c) => `\\${c}`)}'`
  const query = `member_key_id == ${literal} && 'cloudidentity.googleapis.com/groups.discussion_forum' in labels`
  const params = new URLSearchParams({ query, pageSize: String(pageSize) })
  if (pageToken !== null) params.set('pageToken', pageToken)
  return `${root}/v1/groups/-/memberships:searchTransitiveGroups?${params}`
}

function directoryUrl (root: string, email: string, pageSize: number, pageToken: string | null): string {
  const params = new URLSearchParams({ userKey: email, maxResults: String(Math.min(pageSize, 200)) })
  if (pageToken !== null) params.set('pageToken', pageToken)
  return `${root}/admin/directory/v1/groups?${params}`
}

/** `{memberships: [{groupKey: {id}}], nextPageToken}`. */
function cloudIdentityPage (body: unknown): Page {
  if (!isRecord(body)) throw new GroupsFetchError('bad_response', 'the response is not a JSON object')
  const memberships = body.memberships ?? []
  if (!Array.isArray(memberships)) throw new GroupsFetchError('bad_response', 'memberships is not a list')
  const groups = memberships.map((m: unknown) => isRecord(m) && isRecord(m.groupKey) ? m.groupKey.id : undefined)
  return { groups: emails(groups), next: pageToken(body.nextPageToken) }
}

/** `{kind: "admin#directory#groups", groups: [{email}], nextPageToken}`. */
function directoryPage (body: unknown): Page {
  if (!isRecord(body)) throw new GroupsFetchError('bad_response', 'the response is not a JSON object')
  const list = body.groups ?? []
  if (!Array.isArray(list)) throw new GroupsFetchError('bad_response', 'groups is not a list')
  return { groups: emails(list.map((g: unknown) => isRecord(g) ? g.email : undefined)), next: pageToken(body.nextPageToken) }
}

function emails (values: unknown[]): string[] {
  if (values.some((v) => typeof v !== 'string' || !v.includes('@') || v.length > 320)) throw new GroupsFetchError('bad_response', 'a group has no email address')
  return values as string[]
}

function pageToken (value: unknown): string | null {
  if (value === undefined || value === '') return null
  if (typeof value !== 'string' || value.length > 4096) throw new GroupsFetchError('bad_response', 'nextPageToken is not a string')
  return value
}

/**
 * GET with `Authorization: Bearer`, retrying 429 and 5xx with exponential backoff (or the
 * server's `Retry-After`) while the deadline allows; 401/403/404 and malformed answers fail at once.
 */
async function getWithBackoff (url: string, token: () => Promise<string>, deadline: AbortSignal): Promise<unknown> {
  let delay = 200
  for (let attempt = 1; ; attempt++) {
    try {
      return await getJson(url, await token(), deadline)
    } catch (err) {
      if (!(err instanceof GroupsFetchError) || (err.reason !== 'rate_limited' && err.reason !== 'server_error') || attempt >= maxAttempts) throw err
      const wait = Math.min(err.retryAfterMs ?? delay, 5000)
      delay *= 2
      await sleep(wait, deadline)
    }
  }
}

async function getJson (url: string, token: string, deadline: AbortSignal): Promise<unknown> {
  let response: Response
  try {
    response = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, signal: deadline, redirect: 'error' })
  } catch (err) {
    throw translate(err, deadline)
  }
  let body: unknown
  try {
    body = await response.json()
  } catch (err) {
    if (deadline.aborted) throw translate(err, deadline)
    body = null
  }
  if (response.ok) return body
  // Google's error shape: {"error": {"code", "message", "status", "errors": [...]}}.
  const error = isRecord(body) && isRecord(body.error) ? body.error : {}
  const message = `${response.status} ${typeof error.status === 'string' ? error.status : ''} ${typeof error.message === 'string' ? error.message.slice(0, 200) : ''}`.trim()
  const retryAfter = Number(response.headers.get('retry-after'))
  const retryAfterMs = Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : null
  const reason: GroupsFailure = response.status === 429
    ? 'rate_limited'
    : response.status >= 500 ? 'server_error' : response.status === 401 ? 'unauthorized' : response.status === 403 ? 'forbidden' : response.status === 404 ? 'not_found' : 'bad_response'
  throw new GroupsFetchError(reason, message, { status: response.status, retryAfterMs })
}

/** A fetch failure as a {@link GroupsFetchError}: the deadline is a timeout, anything else unreachable. */
export function translate (err: unknown, deadline: AbortSignal): GroupsFetchError {
  if (err instanceof GroupsFetchError) return err
  if (deadline.aborted) return new GroupsFetchError('timeout', 'the groups API did not answer in time', { cause: err })
  return new GroupsFetchError('unreachable', err instanceof Error ? err.message : String(err), { cause: err })
}

async function sleep (ms: number, deadline: AbortSignal): Promise<void> {
  if (deadline.aborted) throw translate(deadline.reason, deadline)
  await new Promise<void>((resolve, reject) => {
    const abort = (): void => { clearTimeout(timer); reject(translate(deadline.reason, deadline)) }
    const timer = setTimeout(() => { deadline.removeEventListener('abort', abort); resolve() }, ms)
    deadline.addEventListener('abort', abort, { once: true })
  })
}

export function isRecord (value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
