/** A clock tests move by hand: real time plus an offset, so real sockets and timers keep working. */
export interface TestClock {
  now (): number
  advance (ms: number): void
  reset (): void
}

export function createTestClock (): TestClock {
  let offset = 0
  return {
    now: () => Date.now() + offset,
    advance: (ms) => { offset += ms },
    reset: () => { offset = 0 }
  }
}

/**
 * A frozen clock: time moves only when the test says so, so expiry edges are exact. Starts at
 * `start` (now by default). For code that reads only the clock it is given, not real timers.
 */
export function createFrozenClock (start = Date.now()): Pick<TestClock, 'now' | 'advance'> {
  let at = start
  return { now: () => at, advance: (ms) => { at += ms } }
}
