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
