/**
 * A clock that runs a settable offset ahead of (or behind) another: the clock of two-factor login
 * when MFA_TEST_CLOCK is on, so that the contract suite can move TOTP code windows and the expiry of
 * `mfa_token`s and enrolments on a real server (Bun, Node, the Worker) as the unit tests move a fake
 * clock in process. Nothing else follows it.
 */
export interface AdjustableClock {
  /** The base clock's time plus the offset, in milliseconds. */
  now(): number
  /** The offset now in force, in milliseconds. */
  readonly offsetMs: number
  /** Sets the offset, in milliseconds (0: the base clock again). */
  set(offsetMs: number): void
}

/** An {@link AdjustableClock} over `base`, starting with no offset. */
export function createAdjustableClock(base: () => number): AdjustableClock {
  let offset = 0
  return {
    now: () => base() + offset,
    get offsetMs() {
      return offset
    },
    set(offsetMs) {
      offset = offsetMs
    },
  }
}
