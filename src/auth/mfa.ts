import { encodeBase64Url } from 'hono/utils/encode'
import type { Database } from '../db/client'
import {
  acceptTotpStep,
  activatePendingTotp,
  consumeChallenge,
  deleteTotp,
  findTotp,
  insertChallenge,
  replaceRecoveryCodes,
  savePendingTotp,
  type TotpState,
  useRecoveryCode,
} from '../db/mfa'
import type { AttemptRelease, AttemptReset } from '../db/throttle'
import type { HashReplacement } from '../db/users'
import { hashRecoveryCode, newRecoveryCodes, normaliseRecoveryCode } from './recovery-codes'
import { createSecretBox, type SecretBox } from './secret-box'
import type { Throttle, ThrottleVerdict } from './throttle'
import { base32Decode, matchTotpStep, newTotpSecret, otpauthUri } from './totp'

/**
 * The grant type of `/token`'s second step: the `mfa_token` of a `403 mfa_required` answer and a
 * code (`otp`) or a `recovery_code`. A URN of our own (RFC 6749 §4.5 extension grants are absolute
 * URIs), shaped like Auth0's `http://auth0.com/oauth/grant-type/mfa-otp`, with the same parameter
 * names.
 */
export const MFA_OTP_GRANT = 'urn:edge-auth:params:oauth:grant-type:mfa-otp'

/** How long an `mfa_token` may be used after the password was accepted. */
export const MFA_TOKEN_TTL_SECONDS = 300
/** How long an enrolment may wait for its first code. */
export const ENROLMENT_TTL_SECONDS = 600

/** A second factor as a request gives it: a code of the authenticator, or a recovery code. */
export type SecondFactor = { otp: string } | { recoveryCode: string }

/** How a second factor was proved (RFC 8176 `amr` values of the tokens it leads to). */
export type SecondFactorMethod = 'otp' | 'recovery_code'

/**
 * The `amr` claim (RFC 8176) of a session: `pwd` for a password alone; `pwd` and `otp` after a
 * second factor, a recovery code included (it is a one-time password too: services that demand
 * `otp` accept a user who proved a second factor either way; the logs tell the two apart).
 */
export const amrOf = (secondFactor: SecondFactorMethod | undefined): string[] =>
  secondFactor === undefined ? ['pwd'] : ['pwd', 'otp']

/** The outcome of checking a second factor. */
export type SecondFactorCheck =
  | { ok: true; method: SecondFactorMethod; recoveryCodesLeft?: number }
  /** Wrong, malformed, already used (a replay), or TOTP is off. */
  | { ok: false; reason: 'wrong_code' | 'totp_off' | 'unreadable_secret' }

/** The outcome of {@link MfaService.redeem}. */
export type RedeemOutcome =
  | {
      ok: true
      /** `ban` is set when the account is banned now; `until` null: no end. */
      user: { id: number; username: string; ban?: { until: Date | null } }
      method: SecondFactorMethod
    }
  | { ok: false; reason: 'throttled'; verdict: Extract<ThrottleVerdict, { allowed: false }> }
  | { ok: false; reason: 'invalid_token' }
  | { ok: false; reason: 'wrong_code' | 'totp_off' | 'unreadable_secret'; userId: number }

/** The outcome of {@link MfaService.confirmEnrolment}. */
export type EnrolmentOutcome =
  | { ok: true; recoveryCodes: string[] }
  | { ok: false; reason: 'no_enrolment' | 'wrong_code' | 'unreadable_secret' }

/** TOTP second factor: enrolment, checks, recovery codes and the logins waiting for a code. No HTTP here. */
export interface MfaService {
  /** False when no encryption key is configured (production without MFA_ENCRYPTION_KEY): all off. */
  readonly enabled: boolean
  /**
   * Starts an enrolment: a new secret, stored encrypted as pending (the secret in force, if any,
   * stays until the new one is confirmed), in one statement that also applies `reset` (the
   * throttle's reset of the password that allowed it). @returns it and its `otpauth://` URI, or
   * undefined when the user is gone.
   */
  startEnrolment(
    user: { id: number; username: string },
    reset?: AttemptReset,
  ): Promise<{ secret: string; uri: string; expiresIn: number } | undefined>
  /**
   * Completes an enrolment with a code of the pending secret: it becomes the secret in force, with
   * a fresh set of recovery codes (returned once, stored hashed), in one statement that also
   * applies `release` (the confirmation's counted attempt given back).
   */
  confirmEnrolment(
    userId: number,
    code: string,
    release?: AttemptRelease,
  ): Promise<EnrolmentOutcome>
  /**
   * Checks a second factor of a user with TOTP on and, if right, uses it up in one statement that
   * also applies `reset` (a code's time step recorded, so the code works once; a recovery code
   * removed).
   */
  check(userId: number, factor: SecondFactor, reset?: AttemptReset): Promise<SecondFactorCheck>
  /** Turns TOTP off (secret, pending enrolment and recovery codes deleted). */
  disable(userId: number): Promise<void>
  /** Replaces the recovery codes; @returns the new ones, or undefined when TOTP is off. */
  regenerateRecoveryCodes(userId: number): Promise<string[] | undefined>
  /**
   * Stores a login waiting for its second factor, applying `release` (the password's attempt given
   * back) and `rehash` (a password hash made with old parameters replaced) in the same statement.
   * @returns the `mfa_token` for the client, or undefined when the user is gone.
   */
  challenge(
    userId: number,
    release: AttemptRelease,
    rehash?: HashReplacement,
  ): Promise<{ mfaToken: string; expiresIn: number } | undefined>
  /**
   * The second step of a login: consumes the `mfa_token` (whatever follows: it is single-use) and
   * counts the attempt under the login limits in one statement, then checks the factor and, if
   * right, uses it up together with the reset of the counts.
   */
  redeem(
    mfaToken: string,
    factor: SecondFactor,
    address: string | undefined,
  ): Promise<RedeemOutcome>
}

/** Options of {@link createMfaService}. */
export interface MfaServiceOptions {
  db: Database
  throttle: Throttle
  /** The AES-GCM key of stored secrets; undefined: the service is off. */
  encryptionKey: Uint8Array | undefined
  /** The issuer authenticator apps show. */
  issuer: string
  /** Current time in milliseconds: code windows and expiry follow it. */
  now: () => number
}

/** An `mfa_token`: 32 random bytes, base64url (43 characters). */
const MFA_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/

const base64url = (bytes: ArrayBuffer) => encodeBase64Url(bytes).replace(/=+$/, '')

async function hashMfaToken(token: string): Promise<string> {
  return base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token)))
}

/** Builds the second-factor service. */
export function createMfaService(options: MfaServiceOptions): MfaService {
  const { db, throttle, now } = options
  const box: SecretBox | undefined =
    options.encryptionKey === undefined ? undefined : createSecretBox(options.encryptionKey)
  const sealer = () => {
    if (box === undefined) throw new Error('two-factor login is off')
    return box
  }

  /** The secret's bytes, or undefined when it cannot be decrypted (another key, a damaged row). */
  async function secretBytes(sealed: string, userId: number): Promise<Uint8Array | undefined> {
    try {
      return base32Decode(await sealer().open(sealed, userId))
    } catch {
      return undefined
    }
  }

  async function hashedCodes(codes: string[]): Promise<string[]> {
    return Promise.all(codes.map((code) => hashRecoveryCode(normaliseRecoveryCode(code) ?? code)))
  }

  async function checkAgainst(
    userId: number,
    totp: TotpState | undefined,
    factor: SecondFactor,
    reset: AttemptReset | undefined,
  ): Promise<SecondFactorCheck> {
    if (totp === undefined || !totp.enabled || totp.secret === null) {
      return { ok: false, reason: 'totp_off' }
    }
    if ('recoveryCode' in factor) {
      const normalised = normaliseRecoveryCode(factor.recoveryCode)
      if (normalised === undefined) return { ok: false, reason: 'wrong_code' }
      const left = await useRecoveryCode(db, userId, await hashRecoveryCode(normalised), reset)
      return left === undefined
        ? { ok: false, reason: 'wrong_code' }
        : { ok: true, method: 'recovery_code', recoveryCodesLeft: left }
    }
    const secret = await secretBytes(totp.secret, userId)
    if (secret === undefined) return { ok: false, reason: 'unreadable_secret' }
    const step = await matchTotpStep(secret, factor.otp, now(), totp.lastUsedStep)
    if (step === undefined) return { ok: false, reason: 'wrong_code' }
    // A concurrent request may have used this step (or a later one) meanwhile: the statement decides.
    if (!(await acceptTotpStep(db, userId, step, reset))) {
      return { ok: false, reason: 'wrong_code' }
    }
    return { ok: true, method: 'otp' }
  }

  return {
    enabled: box !== undefined,

    async startEnrolment(user, reset) {
      const secret = newTotpSecret()
      const sealed = await sealer().seal(secret, user.id)
      if (!(await savePendingTotp(db, user.id, sealed, new Date(now()), reset))) return undefined
      return {
        secret,
        uri: otpauthUri(secret, user.username, options.issuer),
        expiresIn: ENROLMENT_TTL_SECONDS,
      }
    },

    async confirmEnrolment(userId, code, release) {
      const at = now()
      const startedAfter = new Date(at - ENROLMENT_TTL_SECONDS * 1000)
      const totp = await findTotp(db, userId)
      const pending = totp?.pendingSecret ?? null
      if (pending === null || totp?.pendingAt == null || totp.pendingAt <= startedAfter) {
        return { ok: false, reason: 'no_enrolment' }
      }
      const secret = await secretBytes(pending, userId)
      if (secret === undefined) return { ok: false, reason: 'unreadable_secret' }
      const step = await matchTotpStep(secret, code, at, null)
      if (step === undefined) return { ok: false, reason: 'wrong_code' }
      const recoveryCodes = newRecoveryCodes()
      const activated = await activatePendingTotp(db, {
        userId,
        pendingSecret: pending,
        startedAfter,
        step,
        recoveryCodeHashes: await hashedCodes(recoveryCodes),
        now: new Date(at),
        release,
      })
      return activated ? { ok: true, recoveryCodes } : { ok: false, reason: 'no_enrolment' }
    },

    async check(userId, factor, reset) {
      return checkAgainst(userId, await findTotp(db, userId), factor, reset)
    },

    async disable(userId) {
      await deleteTotp(db, userId)
    },

    async regenerateRecoveryCodes(userId) {
      const codes = newRecoveryCodes()
      return (await replaceRecoveryCodes(db, userId, await hashedCodes(codes))) ? codes : undefined
    },

    async challenge(userId, release, rehash) {
      const at = now()
      const mfaToken = base64url(crypto.getRandomValues(new Uint8Array(32)).buffer)
      const stored = await insertChallenge(
        db,
        {
          tokenHash: await hashMfaToken(mfaToken),
          userId,
          now: new Date(at),
          expiresAt: new Date(at + MFA_TOKEN_TTL_SECONDS * 1000),
        },
        release,
        rehash,
      )
      return stored ? { mfaToken, expiresIn: MFA_TOKEN_TTL_SECONDS } : undefined
    },

    async redeem(mfaToken, factor, address) {
      if (!MFA_TOKEN_SHAPE.test(mfaToken)) return { ok: false, reason: 'invalid_token' }
      const tokenHash = await hashMfaToken(mfaToken)
      const { value: consumed, verdict } = await throttle.countSecondFactor(
        address,
        async (counters) => {
          const result = await consumeChallenge(db, tokenHash, counters, now())
          return { value: result, userId: result.user?.id, ...result }
        },
      )
      if (!verdict.allowed) return { ok: false, reason: 'throttled', verdict }
      const user = consumed?.user
      if (user === undefined) return { ok: false, reason: 'invalid_token' }
      const reset = throttle.loginSucceeded(user.id, address)
      const checked = await checkAgainst(user.id, user.totp, factor, reset)
      if (!checked.ok) return { ok: false, reason: checked.reason, userId: user.id }
      const { id, username, ban } = user
      return {
        ok: true,
        user: { id, username, ...(ban === undefined ? {} : { ban }) },
        method: checked.method,
      }
    },
  }
}
