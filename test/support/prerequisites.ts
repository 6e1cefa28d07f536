import { accessSync, constants } from 'node:fs'

/** Whether an external program a test suite needs is there, and what to say when it is not. */
export interface Prerequisite {
  /** The suite should be skipped: the program is missing and this is not CI. */
  skip: boolean
  /** Throws when the program is missing (in CI, where a missing program is a failure). */
  assert(): void
}

/**
 * Looks for an executable. Locally a missing one skips the suite with a printed reason; with
 * `CI=true` the suite runs and {@link Prerequisite.assert} fails it, so CI never passes silently.
 */
export function executable(path: string, installHint: string): Prerequisite {
  let present = true
  try {
    accessSync(path, constants.X_OK)
  } catch {
    present = false
  }
  const message = `${path} is missing (${installHint})`
  const skip = !present && process.env.CI !== 'true'
  if (skip) console.warn(`Skipping: ${message}`)
  return {
    skip,
    assert() {
      if (!present) throw new Error(message)
    },
  }
}
