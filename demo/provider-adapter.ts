/**
 * The storage of one development provider: plain Maps with expiry, private to the provider that
 * created it. The provider library's own in-memory adapter is a bounded LRU shared by default
 * across every provider in the process; a load test that signs in a few hundred users would
 * silently evict live grants from it, and two providers in one test process would see each
 * other's tokens. Nothing here survives a restart, which is what a development provider wants.
 */

type Payload = Record<string, unknown> & {
  grantId?: string
  uid?: string
  userCode?: string
  consumed?: number
}

interface Entry {
  readonly payload: Payload
  /** Epoch milliseconds; Infinity when the model has no expiry. */
  readonly expiresAt: number
}

/** The adapter interface the provider library calls, one instance per model name. */
export interface DevAdapter {
  upsert (id: string, payload: Payload, expiresIn?: number): Promise<void>
  find (id: string): Promise<Payload | undefined>
  findByUid (uid: string): Promise<Payload | undefined>
  findByUserCode (userCode: string): Promise<Payload | undefined>
  consume (id: string): Promise<void>
  destroy (id: string): Promise<void>
  revokeByGrantId (grantId: string): Promise<void>
}

/**
 * Creates an isolated store and returns the adapter factory the provider's `adapter` option
 * takes (`(modelName) => adapter`). Tokens of one grant are indexed so that revoking the grant
 * removes them all.
 */
export function createDevAdapterFactory (): (model: string) => DevAdapter {
  const entries = new Map<string, Entry>()
  const byUid = new Map<string, string>()
  const byUserCode = new Map<string, string>()
  const byGrant = new Map<string, Set<string>>()

  function live (key: string): Payload | undefined {
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= Date.now()) {
      remove(key)
      return undefined
    }
    return entry.payload
  }

  function remove (key: string): void {
    const entry = entries.get(key)
    entries.delete(key)
    const grantId = entry?.payload.grantId
    if (grantId !== undefined) byGrant.get(grantId)?.delete(key)
  }

  return (model: string): DevAdapter => {
    const keyOf = (id: string): string => `${model}:${id}`
    return {
      async upsert (id, payload, expiresIn) {
        const key = keyOf(id)
        remove(key)
        const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity
        entries.set(key, { payload, expiresAt })
        if (model === 'Session' && typeof payload.uid === 'string') byUid.set(payload.uid, id)
        if (typeof payload.userCode === 'string') byUserCode.set(payload.userCode, id)
        if (typeof payload.grantId === 'string') {
          let members = byGrant.get(payload.grantId)
          if (members === undefined) byGrant.set(payload.grantId, members = new Set())
          members.add(key)
        }
      },
      async find (id) {
        return live(keyOf(id))
      },
      async findByUid (uid) {
        const id = byUid.get(uid)
        return id === undefined ? undefined : live(keyOf(id))
      },
      async findByUserCode (userCode) {
        const id = byUserCode.get(userCode)
        return id === undefined ? undefined : live(keyOf(id))
      },
      async consume (id) {
        const payload = live(keyOf(id))
        if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000)
      },
      async destroy (id) {
        remove(keyOf(id))
      },
      async revokeByGrantId (grantId) {
        for (const key of byGrant.get(grantId) ?? []) entries.delete(key)
        byGrant.delete(grantId)
      }
    }
  }
}
