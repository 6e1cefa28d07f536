/** Registration: one place for what creating an account checks, writes and logs. */
import { usernameKey, usernameSkeleton } from '../auth/credentials'
import { insertUserCountingAttempt } from '../db/register'
import type { PublicUser } from '../db/users'
import type { AppServices } from '../types'
import type { Attempt, Throttled } from './password-check'

/** The outcome of {@link register}. */
export type RegistrationOutcome =
  | { ok: true; user: PublicUser }
  | Throttled
  /** The username's key is taken, or (`lookAlike`) a name with the same skeleton is. */
  | { ok: false; reason: 'taken'; lookAlike: boolean }

/**
 * Registers an account whose fields passed the registration rules: hashes the password, then
 * counts the attempt against the address and creates the account in one statement (so neither the
 * limit nor the uniqueness of keys and skeletons can be slipped past by concurrent requests).
 */
export async function register(
  deps: Pick<AppServices, 'throttle' | 'passwords' | 'db'>,
  { log, address }: Attempt,
  fields: { name: string; username: string; password: string },
): Promise<RegistrationOutcome> {
  const { name, username, password } = fields
  const outcome = await deps.throttle.countRegistration(address, async (counter) => {
    const hashedPassword = await deps.passwords.hash(password)
    const created = await insertUserCountingAttempt(
      deps.db,
      {
        name,
        username,
        usernameKey: usernameKey(username),
        usernameSkeleton: usernameSkeleton(username),
        hashedPassword,
      },
      counter,
    )
    return { value: created, count: created.count }
  })
  if (outcome.refused) {
    const { scope, retryAfterSeconds, blockStarted } = outcome.refused
    if (blockStarted)
      log.warn('excess_rate_limit_exceeded', { scope, retry_after: retryAfterSeconds })
    return { ok: false, reason: 'throttled', retryAfterSeconds }
  }
  const { user, lookAlike } = outcome.value
  if (user === null) return { ok: false, reason: 'taken', lookAlike }
  log.info('user_created', { user_id: user.id })
  return { ok: true, user }
}
