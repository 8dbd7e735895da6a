/**
 * Admission: the one place that decides what happens to a request for a protected application,
 * whether it arrives at the proxy or is described to `/oauth2/auth` by a proxy in front. It
 * normalises the request target, refuses what cannot be read safely, picks the route that judges
 * the path under every common upstream reading of it (`policy/route-choice.ts`), applies the
 * method and public rules, and, given who is signed in, the access policy. It returns a verdict;
 * the proxy gate (`gate.ts`) and forward-auth (`forward-auth.ts`) only render verdicts, so every
 * rule about paths, routes and decisions lives here once.
 *
 * Two stages, so that a public route or a refused method never touches the session store:
 * {@link Admission.target} needs only the target and method; {@link Admission.identify} takes the
 * authentication outcome for a target that needs one. Both are synchronous and allocate at most
 * the verdict itself on the common path (the gate answers a cached session without a promise).
 */
import type { RouteConfig } from '../config/types.js'
import type { ErrorCode } from '../errors.js'
import { decide, decideWithoutIdentity, methodRule, type CompiledPolicy } from '../policy/decide.js'
import { AMBIGUOUS, UNREADABLE, chooseRoute, type ChoiceScope } from '../policy/route-choice.js'
import { normalisePath } from '../proxy/path.js'
import type { RouteTable } from '../policy/routes.js'
import type { Ticket } from '../session/ticket.js'
import type { Identity, SessionRecord } from '../domain/types.js'
import { sessionEnded, type AuthOutcome } from './authenticate.js'

/** The cookie session behind an identity, when the identity came from one. */
export interface SessionRef {
  readonly ticket: Ticket
  readonly record: SessionRecord
}

/** Where a request goes: its normalised path and query, and the route that judges it. */
interface Target {
  /** The normalised path (null: forward-auth was not told the original URI). */
  readonly path: string | null
  readonly search: string
  readonly route: RouteConfig | null
}

/**
 * What to do with a request:
 * - `bad_path`: 400 with `code` (`PCS_BAD_PATH`: not normalisable; `PCS_AMBIGUOUS_PATH`:
 *   readings select routes of which none is the strictest);
 * - `not_found`: the path is the gateway's own (its auth prefix, `/ping`...), never proxied;
 * - `no_route`: no route covers the path (proxy only);
 * - `public`: pass without identity;
 * - `method_not_allowed`: the route's `methods` does not list the method;
 * - `identify`: the identity decides (first stage only): call {@link Admission.identify};
 * - `sign_in`: nobody usable is signed in; `silent` when the provider's session can be asked
 *   again without a prompt (token expired, no refresh token), `expired` when a session ended
 *   because its refresh failed, `clearCookie` when a cookie was sent that led nowhere,
 *   `bearerRefused` (why) when a bearer token on an opted-in route was refused: answered 401
 *   `Bearer error="invalid_token"`, never a redirect;
 * - `forbidden`: signed in, refused by the access rules;
 * - `allowed`: signed in and allowed. `identity` is who; `session` is the cookie session it came
 *   from, or null for an identity from another source (the verdict never assumes a cookie).
 */
export type Verdict =
  | { readonly kind: 'bad_path', readonly code: ErrorCode }
  | { readonly kind: 'not_found' }
  | ({ readonly kind: 'no_route' } & Target)
  | ({ readonly kind: 'public', readonly rule: string } & Target)
  | ({ readonly kind: 'method_not_allowed', readonly route: RouteConfig, readonly rule: string } & Target)
  | ({ readonly kind: 'identify' } & Target)
  | ({ readonly kind: 'sign_in', readonly silent: boolean, readonly expired: boolean, readonly clearCookie: boolean, readonly bearerRefused: string | null } & Target)
  | ({ readonly kind: 'forbidden', readonly identity: Identity, readonly session: SessionRef | null, readonly rule: string } & Target)
  | ({ readonly kind: 'allowed', readonly identity: Identity, readonly session: SessionRef | null, readonly refreshed: boolean, readonly rule: string } & Target)

export type TargetVerdict = Extract<Verdict, { kind: 'bad_path' | 'not_found' | 'no_route' | 'public' | 'method_not_allowed' | 'identify' }>
export type IdentifyVerdict = Extract<Verdict, { kind: 'identify' }>
export type IdentityVerdict = Extract<Verdict, { kind: 'sign_in' | 'forbidden' | 'allowed' }>

export interface Admission {
  /**
   * The first stage: the request target as received (`/path?query`; null when forward-auth does
   * not know it) and its method. Everything but `identify` is final.
   */
  target (target: string | null, method: string): TargetVerdict
  /** The second stage: the access decision for an `identify` verdict, given the authentication outcome. */
  identify (target: IdentifyVerdict, method: string, outcome: AuthOutcome): IdentityVerdict
}

export interface AdmissionOptions {
  readonly routes: RouteTable
  readonly policy: CompiledPolicy
  /** `proxy` for the gate, `forward-auth` for `/oauth2/auth` (see {@link ChoiceScope}). */
  readonly scope: ChoiceScope
  /** The gateway's own prefix (`/oauth2`): never proxied. */
  readonly authPrefix: string
  /** Paths the gateway serves itself outside the auth prefix (`/ping`, `/ready`, `/metrics`). */
  readonly reservedPaths: ReadonlySet<string>
}

const badPath: TargetVerdict = Object.freeze({ kind: 'bad_path', code: 'PCS_BAD_PATH' })
const ambiguousPath: TargetVerdict = Object.freeze({ kind: 'bad_path', code: 'PCS_AMBIGUOUS_PATH' })
const notFound: TargetVerdict = Object.freeze({ kind: 'not_found' })
const unknownTarget: IdentifyVerdict = Object.freeze({ kind: 'identify', path: null, search: '', route: null })

/** Creates the admission for one listener's routes and policy (both may be live views that a reload swaps). */
export function createAdmission (options: AdmissionOptions): Admission {
  const { routes, policy, scope, authPrefix, reservedPaths } = options
  const proxy = scope === 'proxy'

  function target (rawTarget: string | null, method: string): TargetVerdict {
    if (rawTarget === null) return unknownTarget
    const normalised = normalisePath(rawTarget)
    if (normalised === null) return badPath
    const { path, search } = normalised
    // The gateway owns its prefix and reserved paths: a request that only reaches them after
    // normalisation (`/x/../oauth2/start`) or with another method is not proxied.
    if (proxy && (path === authPrefix || path.startsWith(`${authPrefix}/`) || reservedPaths.has(path))) return notFound
    const route = chooseRoute(routes, policy, path, scope)
    if (route === UNREADABLE) return badPath
    if (route === AMBIGUOUS) return ambiguousPath
    if (route === null && proxy) return { kind: 'no_route', path, search, route }
    switch (decideWithoutIdentity(route, method)) {
      case 'public': return { kind: 'public', path, search, route, rule: `routes[${(route as RouteConfig).path}].public` }
      case 'method_not_allowed': return { kind: 'method_not_allowed', path, search, route: route as RouteConfig, rule: methodRule(route as RouteConfig, method) }
      default: return { kind: 'identify', path, search, route }
    }
  }

  function identify (t: IdentifyVerdict, method: string, outcome: AuthOutcome): IdentityVerdict {
    const { path, search, route } = t
    if (outcome.kind !== 'signed_in') {
      const clearCookie = outcome.kind === 'anonymous' && outcome.hadCookie
      const expired = outcome.kind === 'anonymous' && sessionEnded(outcome)
      const bearerRefused = outcome.kind === 'anonymous' ? outcome.bearerError ?? null : null
      return { kind: 'sign_in', path, search, route, silent: outcome.kind === 'reauth', expired, clearCookie, bearerRefused }
    }
    const identity = outcome.record.identity
    const session: SessionRef = { ticket: outcome.ticket, record: outcome.record }
    const decision = decide(policy, route, method, identity)
    if (!decision.allow) return { kind: 'forbidden', path, search, route, identity, session, rule: decision.rule }
    return { kind: 'allowed', path, search, route, identity, session, refreshed: outcome.refreshed, rule: decision.rule }
  }

  return { target, identify }
}
