/**
 * The rules for what a person may register with, and a username's identity (its key and its
 * skeleton). Pure functions shared by the request schemas, the handlers, the login and the
 * migration; documented in the README under "Registration rules".
 */
import {
  caseFold,
  hasDefaultIgnorable,
  hasSuspiciousMarks,
  isHighlyRestrictive,
  skeleton,
} from './unicode'

/** Bounds of a registered username, in code points after trimming and NFKC. */
export const USERNAME_LENGTH = { min: 3, max: 32 } as const
/** Bounds of a display name, in code points after trimming. */
export const NAME_LENGTH = { min: 1, max: 100 } as const
/** Bounds of a new password, in code points. Never truncated. */
export const PASSWORD_LENGTH = { min: 8, max: 128 } as const
/** Bounds of what a login may send, generous so that accounts made by the old service still log in. */
export const LOGIN_LIMITS = { username: 256, password: 1024 } as const

const USERNAME_CHARSET = /^[\p{L}\p{N}][\p{L}\p{M}\p{N}._-]*$/u
// C0/C1 controls, and the bidirectional overrides and isolates that can disguise a name.
const FORBIDDEN_IN_NAME = /[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/u

/** Counts code points, not UTF-16 units, so an emoji is one character. */
export function codePointLength(value: string): number {
  let n = 0
  for (const _ of value) n++
  return n
}

/** Trims and applies Unicode NFKC, so that look-alike spellings (full-width letters, ligatures) become one name. */
export function canonicalUsername(raw: string): string {
  return raw.trim().normalize('NFKC')
}

/**
 * The one key of a username: what lookups, the unique index and the login throttle compare. The
 * canonical name (trimmed, NFKC) under full Unicode case folding, then NFKC again, repeated until
 * stable (NFKC_Casefold without its removals): `Straße`, `STRASSE` and `strasse` have one key, as
 * have `ΝΊΚΟΣ` and `νίκος`. Accepts anything a login may type.
 */
export function usernameKey(raw: string): string {
  let key = canonicalUsername(raw)
  for (let round = 0; round < 3; round++) {
    const next = caseFold(key).normalize('NFKC')
    if (next === key) break
    key = next
  }
  return key
}

/**
 * What a username looks like, for refusing look-alikes: the UTS #39 skeleton of the canonical name,
 * case-folded and skeletonised again, so that look-alikes in any case meet (`kuser1` and
 * `kuserl`, `paypal` and Cyrillic `раураl`, `ALICE` and `ALlCE`). Stored in `username_skeleton`.
 */
export function usernameSkeleton(raw: string): string {
  return skeleton(caseFold(skeleton(canonicalUsername(raw))))
}

/** Returns why a canonical username is not acceptable, or null when it is. */
export function usernameProblem(username: string): string | null {
  const length = codePointLength(username)
  if (length < USERNAME_LENGTH.min || length > USERNAME_LENGTH.max) {
    return `Username must be ${USERNAME_LENGTH.min} to ${USERNAME_LENGTH.max} characters long`
  }
  if (hasDefaultIgnorable(username)) {
    return 'Username must not contain invisible characters (variation selectors, joiners, fillers)'
  }
  if (!USERNAME_CHARSET.test(username)) {
    return 'Username may contain only letters, digits, ".", "_" and "-", and must start with a letter or digit'
  }
  if (!isHighlyRestrictive(username)) {
    return 'Username must be written in one script (Latin may be mixed only with Chinese, Japanese or Korean)'
  }
  if (hasSuspiciousMarks(username)) {
    return 'Username must not stack or repeat combining marks'
  }
  return null
}

/** Trims a display name and puts it in NFC. */
export function canonicalName(raw: string): string {
  return raw.trim().normalize('NFC')
}

/** Returns why a canonical display name is not acceptable, or null when it is. */
export function nameProblem(name: string): string | null {
  const length = codePointLength(name)
  if (length < NAME_LENGTH.min || length > NAME_LENGTH.max) {
    return `Name must be ${NAME_LENGTH.min} to ${NAME_LENGTH.max} characters long`
  }
  if (FORBIDDEN_IN_NAME.test(name)) return 'Name must not contain control characters'
  return null
}

/** Returns why a new password is not acceptable, or null when it is. The password is never altered. */
export function passwordProblem(password: string, username: string): string | null {
  const length = codePointLength(password)
  if (length < PASSWORD_LENGTH.min || length > PASSWORD_LENGTH.max) {
    return `Password must be ${PASSWORD_LENGTH.min} to ${PASSWORD_LENGTH.max} characters long`
  }
  if (usernameKey(password) === usernameKey(username)) {
    return 'Password must not be the username'
  }
  return null
}
