import { convertIPv6BinaryToString, convertIPv6ToBinary } from 'hono/utils/ipaddr'
import type { Database } from '../db/client'
import { findUserCountingAttempt } from '../db/login'
import type { SecondFactorCounters } from '../db/mfa'
import type { RegistrationCounter } from '../db/register'
import {
  type AttemptCount,
  type AttemptLimit,
  type AttemptRelease,
  type AttemptReset,
  countAttempt,
  deleteExpiredAttempts,
} from '../db/throttle'
import type { LoginUser } from '../db/users'
import { usernameKey } from './credentials'

/** One limit: `max` attempts per `windowSeconds`; one more blocks for `lockoutSeconds`. `max: 0` turns it off. */
export type ThrottleRule = AttemptLimit

/** The limits of the service (see the README's "Security" section for the settings). */
export interface ThrottleRules {
  /** Failed logins per account (or per name key when no account has it). */
  loginAccount: ThrottleRule
  /** Failed logins per client address, whatever the account. */
  loginAddress: ThrottleRule
  /** Registration attempts per client address. */
  registerAddress: ThrottleRule
  /**
   * Refresh-grant attempts per session (token family), counted by the rotation's own statement
   * (see `rotateRefreshToken`), so they cost no round trip.
   */
  refreshFamily: ThrottleRule
}

/**
 * 5 failures per account and 50 per address in 15 minutes, then 15 minutes' block; 20
 * registrations per address per hour; 30 refreshes per session per minute (a client refreshes
 * about once per access-token lifetime), then a minute's block.
 */
export const DEFAULT_THROTTLE_RULES: ThrottleRules = Object.freeze({
  loginAccount: { max: 5, windowSeconds: 900, lockoutSeconds: 900 },
  loginAddress: { max: 50, windowSeconds: 900, lockoutSeconds: 900 },
  registerAddress: { max: 20, windowSeconds: 3600, lockoutSeconds: 3600 },
  refreshFamily: { max: 30, windowSeconds: 60, lockoutSeconds: 60 },
})

/** Most stale counters one sweep deletes, so that a sweep stays a short statement. */
export const SWEEP_BATCH = 1000

/** Which limit refused an attempt. */
export type ThrottleScope = keyof ThrottleRules

/** The outcome of counting an attempt. */
export type ThrottleVerdict =
  | { allowed: true }
  | {
      allowed: false
      scope: ThrottleScope
      /** Whole seconds until the block ends (for `Retry-After`). */
      retryAfterSeconds: number
      /** True when this attempt started the block (log it once). */
      blockStarted: boolean
      /** The account whose login was refused, when known (for logs). */
      userId?: number
    }

/** A refusal, with what the 429 says. */
export type Refused = { refused: Extract<ThrottleVerdict, { allowed: false }> }

/** What a counted operation returns: its own result and the counter after the attempt. */
export type Counted<T> = { value: T; count: AttemptCount | undefined }

/** Counts attempts in the database, so limits hold across instances and runtimes. No HTTP here. */
export interface Throttle {
  /**
   * A password login's first statement: finds the account `typed` names and counts the attempt,
   * against the client address (when known), then, unless that refused it, against the account
   * (or, when none matches, the name). Attempts are counted when they start, before any hashing;
   * {@link Throttle.loginSucceeded} undoes the count of a success. An address, or a name (by
   * its key), that this instance has seen blocked is refused without a statement until the block ends.
   */
  countLogin(
    typed: string,
    address: string | undefined,
  ): Promise<{ user: LoginUser | undefined; verdict: ThrottleVerdict }>
  /**
   * What undoes a successful password check's count: the account's count reset, the address's
   * attempt given back. The statement that acts on the success (starting the session, changing
   * the password, deleting the account) applies it, so a success costs no round trip of its own.
   */
  loginSucceeded(userId: number, address: string | undefined): AttemptReset
  /**
   * Counts a failed check of another credential (a missing or wrong admin API key) as a failed
   * login of the client address, in one statement, under the same limit, so that guessing keys
   * and guessing passwords from one address share one allowance. Nothing is counted when the
   * address is unknown or the limit is off.
   */
  countAddressFailure(address: string | undefined): Promise<ThrottleVerdict>
  /**
   * The refusal, without a statement, of an address this instance has seen blocked for failed
   * logins (until the block ends); allowed otherwise.
   */
  addressRefusal(address: string | undefined): ThrottleVerdict
  /**
   * What gives back the attempt of a correct password when a second factor is still due (one
   * attempt off the account's and the address's counts), for the statement that stores the
   * `mfa_token`. The login then counts only through its second factor: a wrong code stays counted,
   * like a wrong password, and a right one resets the counts ({@link Throttle.loginSucceeded}).
   */
  passwordAccepted(userId: number, address: string | undefined): AttemptRelease
  /**
   * Counts a second-factor attempt (a code sent with an `mfa_token`) under the login limits, against
   * the client address and then the token's account, before any code is checked: `run` consumes
   * the token and counts in one statement, with the counters it is given. An address this instance
   * has seen blocked is refused without a statement (the token is then left as it is).
   */
  countSecondFactor<T>(
    address: string | undefined,
    run: (counters: SecondFactorCounters) => Promise<SecondFactorCount<T>>,
  ): Promise<{ value: T | undefined; verdict: ThrottleVerdict }>
  /**
   * Runs a registration under the per-address limit. `create` hashes the password and then, in
   * one statement, counts the attempt against the counter it is given (none when the address is
   * unknown or the limit is off) and creates the account unless that count blocks it. The hash
   * comes before the count, so this instance refuses without hashing, and without a round trip,
   * an address it has seen blocked (until the block ends) or one with `max` registrations already
   * in progress here.
   */
  countRegistration<T>(
    address: string | undefined,
    create: (counter: RegistrationCounter | undefined) => Promise<Counted<T>>,
  ): Promise<Refused | (Counted<T> & { refused?: undefined })>
  /**
   * Deletes up to {@link SWEEP_BATCH} counters whose window has ended; returns how many. The checks
   * run it at most once per `sweepIntervalMs`, and again on the next attempt while a batch comes
   * back full, so a backlog is cleared at the pace attempts arrive.
   */
  sweep(): Promise<number>
}

/** What the statement of {@link Throttle.countSecondFactor} returns: its result and the counts. */
export interface SecondFactorCount<T> {
  value: T
  /** The token's account, when the token was valid. */
  userId: number | undefined
  address: AttemptCount | undefined
  account: AttemptCount | undefined
}

/** Options of {@link createThrottle}. */
export interface ThrottleOptions {
  db: Database
  rules: ThrottleRules
  /** Current time in milliseconds. */
  now: () => number
  /** Least time between two opportunistic sweeps by one instance, in ms. Default one minute. */
  sweepIntervalMs?: number
  /** Called when an opportunistic sweep fails (it never fails a request). */
  onSweepError?: (error: unknown) => void
}

/** Builds the throttle over the `auth_throttle` table. */
export function createThrottle(options: ThrottleOptions): Throttle {
  const { db, rules, now } = options
  const sweepInterval = options.sweepIntervalMs ?? 60_000
  let lastSweep = Number.NEGATIVE_INFINITY
  const registrations = createAddressMemo()
  // Login blocks this instance has learnt: by address key, and by the name's key, apart for
  // names of no account, which a registration here may give an account (and a fresh count).
  const loginAddresses = createBlockMemo()
  const loginAccounts = createBlockMemo()
  const loginNames = createBlockMemo()

  const sweep = () => deleteExpiredAttempts(db, now(), SWEEP_BATCH)
  const maybeSweep = async () => {
    const at = now()
    if (at - lastSweep < sweepInterval) return
    lastSweep = at
    try {
      // A full batch means more are waiting: let the next attempt sweep again.
      if ((await sweep()) === SWEEP_BATCH) lastSweep = Number.NEGATIVE_INFINITY
    } catch (error) {
      options.onSweepError?.(error)
    }
  }

  const verdictOf = (
    scope: ThrottleScope,
    result: AttemptCount | undefined,
  ): Refused['refused'] | undefined => {
    if (result?.retryAfterSeconds == null || result.retryAfterSeconds <= 0) return undefined
    return {
      allowed: false,
      scope,
      retryAfterSeconds: result.retryAfterSeconds,
      blockStarted: result.blockStarted,
    }
  }

  return {
    async countLogin(typed, address) {
      const nowMs = now()
      const ip = addressKey('login', address)
      const key = usernameKey(typed)
      const limitAddress = ip !== undefined && rules.loginAddress.max > 0
      const limitAccount = rules.loginAccount.max > 0
      const known =
        (limitAddress ? loginAddresses.refusal(ip, nowMs) : undefined) ??
        (limitAccount
          ? (loginAccounts.refusal(key, nowMs) ?? loginNames.refusal(key, nowMs))
          : undefined)
      if (known !== undefined) return { user: undefined, verdict: known }
      // Postgres text cannot hold NUL or lone surrogates: such a name can match no account, and
      // its counter is that of the name with those characters replaced.
      const storable = !key.includes('\0') && key.isWellFormed()
      const [counted] = await Promise.all([
        findUserCountingAttempt(db, {
          key: storable ? key : null,
          counterName: key.toWellFormed().replaceAll('\0', '\ufffd'),
          address: limitAddress ? { key: ip, limit: rules.loginAddress } : undefined,
          account: limitAccount ? rules.loginAccount : undefined,
          nowMs,
        }),
        maybeSweep(),
      ])
      const userId = counted.user?.id
      const byAddress = verdictOf('loginAddress', counted.address)
      if (byAddress !== undefined && ip !== undefined) {
        loginAddresses.learn(ip, byAddress, nowMs)
        return { user: counted.user, verdict: { ...byAddress, userId } }
      }
      const byAccount = verdictOf('loginAccount', counted.account)
      if (byAccount !== undefined) {
        const refused = { ...byAccount, userId }
        ;(userId === undefined ? loginNames : loginAccounts).learn(key, refused, nowMs)
        return { user: counted.user, verdict: refused }
      }
      return { user: counted.user, verdict: { allowed: true } }
    },

    loginSucceeded(userId, address) {
      return {
        clear: accountKey(userId),
        release: addressKey('login', address),
        nowMs: now(),
      }
    },

    async countAddressFailure(address) {
      const ip = addressKey('login', address)
      if (ip === undefined || rules.loginAddress.max <= 0) return { allowed: true }
      const nowMs = now()
      const [count] = await Promise.all([
        countAttempt(db, ip, rules.loginAddress, nowMs),
        maybeSweep(),
      ])
      const refused = verdictOf('loginAddress', count)
      if (refused === undefined) return { allowed: true }
      loginAddresses.learn(ip, refused, nowMs)
      return refused
    },

    addressRefusal(address) {
      const ip = addressKey('login', address)
      if (ip === undefined || rules.loginAddress.max <= 0) return { allowed: true }
      return loginAddresses.refusal(ip, now()) ?? { allowed: true }
    },

    passwordAccepted(userId, address) {
      const ip = addressKey('login', address)
      return {
        keys: ip === undefined ? [accountKey(userId)] : [accountKey(userId), ip],
        nowMs: now(),
      }
    },

    async countSecondFactor(address, run) {
      const nowMs = now()
      const ip = addressKey('login', address)
      const limitAddress = ip !== undefined && rules.loginAddress.max > 0
      const known = limitAddress ? loginAddresses.refusal(ip, nowMs) : undefined
      if (known !== undefined) return { value: undefined, verdict: known }
      const counted = await run({
        ...(limitAddress ? { address: { key: ip, limit: rules.loginAddress } } : {}),
        ...(rules.loginAccount.max > 0 ? { account: rules.loginAccount } : {}),
      })
      const { userId } = counted
      const byAddress = verdictOf('loginAddress', counted.address)
      if (byAddress !== undefined && ip !== undefined) {
        loginAddresses.learn(ip, byAddress, nowMs)
        return { value: counted.value, verdict: { ...byAddress, userId } }
      }
      const byAccount = verdictOf('loginAccount', counted.account)
      if (byAccount !== undefined) {
        return { value: counted.value, verdict: { ...byAccount, userId } }
      }
      return { value: counted.value, verdict: { allowed: true } }
    },

    async countRegistration(address, create) {
      const rule = rules.registerAddress
      const key = rule.max > 0 ? addressKey('register', address) : undefined
      // A name blocked here while it named no account may name one now, with a count of its own.
      const registered = (created: Counted<unknown>) => {
        if (created.value !== null && created.value !== undefined) loginNames.clear()
      }
      if (key === undefined) {
        const created = await create(undefined)
        registered(created)
        return created
      }
      const nowMs = now()
      const known = registrations.refusal(key, rule.max, nowMs)
      if (known !== undefined) return { refused: known }
      registrations.start(key)
      try {
        const [created] = await Promise.all([create({ key, limit: rule, nowMs }), maybeSweep()])
        registered(created)
        const refused = verdictOf('registerAddress', created.count)
        if (refused === undefined) return created
        registrations.blocked(key, refused, nowMs)
        return { refused }
      } finally {
        registrations.finish(key)
      }
    },

    sweep,
  }
}

/** Most keys a {@link createBlockMemo} remembers; the oldest is forgotten first. */
const MEMO_MAX_BLOCKED = 10_000

/**
 * Blocks one instance has learnt from the database's counts, so that attempts while a block lasts
 * are refused without a statement. A block is learnt when the database refuses an attempt and
 * trusted only while the database is sure to refuse as well: its `Retry-After` is whole seconds,
 * so a block learnt after it began is trusted one second less (the database then decides), and
 * one that began with this attempt is known to the millisecond. Nothing ends a block early.
 */
function createBlockMemo() {
  const blocks = new Map<
    string,
    { refuseUntil: number; retryAt: number; scope: ThrottleScope; userId?: number | undefined }
  >()
  return {
    /** The refusal of an attempt on `key` while its block lasts; undefined to ask the database. */
    refusal(key: string, nowMs: number): Refused['refused'] | undefined {
      const block = blocks.get(key)
      if (block === undefined) return undefined
      if (block.refuseUntil <= nowMs) {
        blocks.delete(key)
        return undefined
      }
      return {
        allowed: false,
        scope: block.scope,
        retryAfterSeconds: Math.ceil((block.retryAt - nowMs) / 1000),
        blockStarted: false,
        ...(block.userId === undefined ? {} : { userId: block.userId }),
      }
    },
    /** Remembers the block behind a refusal the database gave at `nowMs`. */
    learn(key: string, refused: Refused['refused'], nowMs: number) {
      const retryAt = nowMs + refused.retryAfterSeconds * 1000
      const refuseUntil = refused.blockStarted ? retryAt : retryAt - 1000
      blocks.delete(key)
      if (refuseUntil <= nowMs) return
      if (blocks.size >= MEMO_MAX_BLOCKED) {
        const oldest = blocks.keys().next()
        if (!oldest.done) blocks.delete(oldest.value)
      }
      blocks.set(key, { refuseUntil, retryAt, scope: refused.scope, userId: refused.userId })
    },
    clear() {
      blocks.clear()
    },
  }
}

/**
 * What one instance knows of the registrations per address key: which are blocked (a
 * {@link createBlockMemo}) and how many are in progress here.
 */
function createAddressMemo() {
  const blocked = createBlockMemo()
  const inProgress = new Map<string, number>()
  return {
    /** Why an attempt from `key` is refused without asking the database; undefined to go on. */
    refusal(key: string, max: number, nowMs: number): Refused['refused'] | undefined {
      const known = blocked.refusal(key, nowMs)
      if (known !== undefined) return known
      if ((inProgress.get(key) ?? 0) >= max) {
        return {
          allowed: false,
          scope: 'registerAddress',
          retryAfterSeconds: 1,
          blockStarted: false,
        }
      }
      return undefined
    },
    start(key: string) {
      inProgress.set(key, (inProgress.get(key) ?? 0) + 1)
    },
    finish(key: string) {
      const left = (inProgress.get(key) ?? 1) - 1
      if (left > 0) inProgress.set(key, left)
      else inProgress.delete(key)
    },
    blocked: blocked.learn,
  }
}

/**
 * The counter key of an account. A name that matches no account is counted under a hash of its
 * key (`usernameKey`, the one the lookup compares), computed in the database (see `findUserCountingAttempt`): no
 * usernames (or passwords typed into the username field) in the table, a bounded key length.
 */
export function accountKey(userId: number): string {
  return `login-user:${userId}`
}

function addressKey(kind: 'login' | 'register', address: string | undefined): string | undefined {
  return address === undefined ? undefined : `${kind}-ip:${addressBucket(address)}`
}

/**
 * Groups addresses the way an attacker gets them: an IPv4 address alone, an IPv6 address by its
 * /64 (one customer's allocation), so rotating through a /64 does not reset the count.
 */
export function addressBucket(address: string): string {
  if (!address.includes(':')) return address
  try {
    const prefix = (convertIPv6ToBinary(address) >> 64n) << 64n
    return `${convertIPv6BinaryToString(prefix)}/64`
  } catch {
    return address
  }
}

/**
 * `throttle` telling `onBlock` of every attempt one of its limits refused (for metrics), with the
 * limit's scope; what the throttle does is unchanged. The refresh limit (`refreshFamily`) is not
 * counted through a `Throttle` but by the rotation's statement: its refusals are recorded by the
 * refresh flow (`use-cases/sessions.ts`).
 */
export function observeBlocks(
  throttle: Throttle,
  onBlock: (scope: ThrottleScope) => void,
): Throttle {
  const seen = (verdict: ThrottleVerdict): ThrottleVerdict => {
    if (!verdict.allowed) onBlock(verdict.scope)
    return verdict
  }
  return {
    countLogin: async (typed, address) => {
      const counted = await throttle.countLogin(typed, address)
      seen(counted.verdict)
      return counted
    },
    loginSucceeded: (userId, address) => throttle.loginSucceeded(userId, address),
    passwordAccepted: (userId, address) => throttle.passwordAccepted(userId, address),
    countSecondFactor: async (address, run) => {
      const counted = await throttle.countSecondFactor(address, run)
      seen(counted.verdict)
      return counted
    },
    countAddressFailure: async (address) => seen(await throttle.countAddressFailure(address)),
    addressRefusal: (address) => seen(throttle.addressRefusal(address)),
    countRegistration: async (address, create) => {
      const outcome = await throttle.countRegistration(address, create)
      if (outcome.refused) onBlock(outcome.refused.scope)
      return outcome
    },
    sweep: () => throttle.sweep(),
  }
}
