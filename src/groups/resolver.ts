/**
 * Workspace groups for a signed-in identity, fetched at sign-in and again at every refresh.
 *
 * The rules, and why:
 * - Groups are believed for `groups.max_age` after the fetch that returned them. A removal from a
 *   group therefore takes effect within one max_age, and a refresh is due when that runs out
 *   (`retryAt`, read by session/refresh.ts), whatever the access token's own expiry says.
 * - Fail closed: when a fetch fails (403, 429 after backoff, 5xx, timeout), the last good groups
 *   stay only until their own `expiresAt`; never longer. Without them the identity has no groups,
 *   so every rule that needs one denies while email and domain rules still decide.
 * - Each failure writes an audit line (`groups_unavailable`) naming the reason.
 */
import { formatDuration } from '../config/duration.js'
import type { GroupsConfig, ProviderConfig } from '../config/types.js'
import { auditLine } from '../observability/audit.js'
import type { Logger } from '../observability/logger.js'
import type { GroupsProvenance, Identity } from '../domain/types.js'
import { cloudIdentityRoot, directoryRoot, GroupsFetchError, listGroups, translate } from './google-api.js'
import { directoryGroupsScope, readServiceAccountKey, serviceAccountTokens } from './service-account.js'

export interface GroupsResolver {
  /**
   * The identity with its Workspace groups: freshly fetched with `accessToken` (the user's, for
   * cloud_identity), or on failure the still-valid groups of `previous`, or none.
   */
  resolve (identity: Identity, accessToken: string, previous: Identity | null): Promise<Identity>
}

export interface GroupsResolverOptions {
  readonly config: GroupsConfig
  readonly logger: Logger
  /** Allow an http `token_uri` in the service account key (local testing, as `allow_insecure_issuer`). */
  readonly allowHttp: boolean
  readonly now?: () => number
}

/** Null when groups come from a claim (nothing to fetch). Throws on an unusable service account key. */
export function createGroupsResolver (options: GroupsResolverOptions): GroupsResolver | null {
  const { config, logger } = options
  const now = options.now ?? Date.now
  if (config.source === 'claim') return null
  const source = config.source
  const root = config.apiRoot ?? (source === 'cloud_identity' ? cloudIdentityRoot : directoryRoot)
  const serviceToken = source === 'admin_directory' && config.serviceAccountKeyFile !== null
    ? serviceAccountTokens(readServiceAccountKey(config.serviceAccountKeyFile, options.allowHttp), directoryGroupsScope, config.impersonate, now)
    : null

  async function fetchGroups (email: string, accessToken: string): Promise<string[]> {
    const deadline = AbortSignal.timeout(config.timeoutMs)
    try {
      const token = serviceToken === null ? async () => accessToken : async () => await serviceToken(deadline)
      return await listGroups(source, root, email, token, config.pageSize, deadline)
    } catch (err) {
      throw translate(err, deadline)
    }
  }

  return {
    async resolve (identity, accessToken, previous) {
      const started = now()
      try {
        const groups = await fetchGroups(identity.email, accessToken)
        const expiresAt = started + config.maxAgeMs
        // Fetched again a little before they run out, so a healthy API never leaves a gap.
        const retryAt = expiresAt - Math.min(60_000, Math.floor(config.maxAgeMs / 10))
        return { ...identity, groups, groupsFrom: { source, fetchedAt: started, expiresAt, retryAt, error: null } }
      } catch (err) {
        const failure = err instanceof GroupsFetchError ? err : translate(err, AbortSignal.abort())
        const last = previous?.groupsFrom
        const keep = last !== undefined && last.source === source && last.expiresAt !== null && now() < last.expiresAt && previous !== null
        const groupsFrom: GroupsProvenance = keep
          // Tried once more when they expire (not before: a failing API is not hammered per request).
          ? { ...last, retryAt: last.expiresAt, error: failure.reason }
          : { source, fetchedAt: null, expiresAt: null, retryAt: null, error: failure.reason }
        auditLine(logger, 'groups_unavailable', {
          email: identity.email,
          reason: failure.reason,
          source,
          status: failure.status,
          detail: failure.message,
          // What the rules see meanwhile: the last good groups until they expire, or none.
          kept: keep ? previous.groups.length : 0,
          keptUntil: keep ? new Date(last.expiresAt as number).toISOString() : null
        })
        return { ...identity, groups: keep ? previous.groups : [], groupsFrom }
      }
    }
  }
}

/**
 * The identity as the rules may see it at `at`: Workspace groups past their `expiresAt` removed.
 * Used where a session is served without a refresh that would have fetched them again (the
 * provider unreachable while the access token is still valid).
 */
export function withoutExpiredGroups (identity: Identity, at: number): Identity {
  const from = identity.groupsFrom
  if (from === undefined || from.expiresAt === null || at < from.expiresAt) return identity
  return { ...identity, groups: [], groupsFrom: { ...from, fetchedAt: null, expiresAt: null, retryAt: null, error: from.error ?? 'expired' } }
}

/**
 * Where a deployment's groups come from, in words (`policy explain` prints it next to the groups,
 * so an operator can tell why a group is, or is not, in a user's list).
 */
export function describeGroupsSource (config: ProviderConfig): string {
  const g = config.groups
  const held = `fetched at sign-in and every refresh, believed ${formatDuration(g.maxAgeMs)} (none while the API fails)`
  if (g.source === 'cloud_identity') return `cloud_identity: Cloud Identity searchTransitiveGroups with the user's own token (direct and nested groups, by email address), ${held}`
  if (g.source === 'admin_directory') return `admin_directory: Admin SDK Directory groups.list?userKey= with a service account${g.impersonate === null ? '' : ` acting as ${g.impersonate}`} (direct groups only, by email address), ${held}`
  return `claim: the "${config.groupsClaim}" claim of the id token or userinfo, read at sign-in and every refresh`
}
