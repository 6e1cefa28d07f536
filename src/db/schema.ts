import { sql } from 'drizzle-orm'
import {
  index,
  integer,
  pgTable,
  serial,
  text,
  timestamp,
  uniqueIndex,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core'

const timestamptz = (name: string) => timestamp(name, { withTimezone: true })

/**
 * Accounts. `id`, `name`, `username` and `hashed_password` keep the names and types of the
 * Python service's SQLAlchemy table so its database can be taken over in place.
 * `username_key` is the name's key (`usernameKey`: NFKC and full case folding): lookups compare it
 * and its unique index makes usernames unique case-insensitively. `username_skeleton`
 * (`usernameSkeleton`, UTS #39) is unique too, so a look-alike of a taken name cannot be
 * registered; it is NULL only on adopted rows whose skeleton an older row already holds.
 *
 * `tokens_valid_after`: access tokens issued and sessions started at or before this moment are refused;
 * logout, a password change and deletion move it forward. New rows get the epoch (every token of
 * ours is later). It is NULL only for rows adopted from the Python service whose sessions were
 * never ended: those alone still accept the Python service's tokens, which carry no `iat`.
 *
 * `last_login_at` is set by the statement that starts a login's session. A ban (see db/bans.ts)
 * is `banned_at` with `ban_reason` and an optional end, `banned_until`: the account is banned
 * while `banned_at` is set and `banned_until` is NULL or still ahead; an unban clears all three.
 * All four are NULL on rows adopted from the Python service, whose table had none of them.
 */
export const users = pgTable(
  'users',
  {
    id: serial('id').primaryKey(),
    name: varchar('name').notNull(),
    username: varchar('username').notNull(),
    usernameKey: text('username_key').notNull(),
    usernameSkeleton: text('username_skeleton'),
    hashedPassword: varchar('hashed_password').notNull(),
    createdAt: timestamptz('created_at').notNull().defaultNow(),
    updatedAt: timestamptz('updated_at').notNull().defaultNow(),
    tokensValidAfter: timestamptz('tokens_valid_after').default(sql`'epoch'`),
    lastLoginAt: timestamptz('last_login_at'),
    bannedAt: timestamptz('banned_at'),
    bannedUntil: timestamptz('banned_until'),
    banReason: text('ban_reason'),
  },
  (t) => [
    index('users_created_at_id_idx').on(t.createdAt, t.id),
    uniqueIndex('users_username_key_key').on(t.usernameKey),
    uniqueIndex('users_username_skeleton_key').on(t.usernameSkeleton),
  ],
)

/** A row of `users`. */
export type User = typeof users.$inferSelect

/**
 * Refresh tokens, stored as the SHA-256 of the opaque token only. A family is one session (one
 * login): every rotation adds a row with the same `family_id` and deletes the family's older used
 * rows, so a family holds at most 4 (the token names its family, which is how reuse of a token whose
 * row is gone is still detected). A rotation copies the family's `session_started_at` and `session_expires_at` (the absolute limit). A token is
 * usable while not consumed, not revoked, before `expires_at` (itself never past
 * `session_expires_at`), and while its session started after the user's `tokens_valid_after`.
 * `amr` is how the session's login was authenticated (RFC 8176 values, space-separated: `pwd`, or
 * `pwd otp` after a second factor), copied by every rotation into the family's access tokens; NULL
 * on rows written before it existed, which were password logins.
 */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    tokenHash: text('token_hash').primaryKey(),
    familyId: uuid('family_id').notNull(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamptz('created_at').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
    sessionStartedAt: timestamptz('session_started_at').notNull(),
    sessionExpiresAt: timestamptz('session_expires_at').notNull(),
    consumedAt: timestamptz('consumed_at'),
    revokedAt: timestamptz('revoked_at'),
    amr: text('amr'),
  },
  (t) => [
    index('refresh_tokens_family_id_idx').on(t.familyId),
    index('refresh_tokens_user_id_idx').on(t.userId),
  ],
)

/** A row of `refresh_tokens`. */
export type RefreshToken = typeof refreshTokens.$inferSelect

/**
 * Attempt counters for brute-force throttling, shared by every instance. One row per key
 * (`login-user:<id>`, `login-name:<hash>`, `login-ip:<addr>`, `register-ip:<addr>`,
 * `refresh-family:<uuid>`): attempts in
 * the window that ends at `resets_at`, and `blocked_until` once the limit was passed. A row whose
 * `resets_at` is past means nothing any more and may be deleted.
 */
export const authThrottle = pgTable(
  'auth_throttle',
  {
    key: text('key').primaryKey(),
    attempts: integer('attempts').notNull(),
    resetsAt: timestamptz('resets_at').notNull(),
    blockedUntil: timestamptz('blocked_until'),
  },
  (t) => [index('auth_throttle_resets_at_idx').on(t.resetsAt)],
)

/**
 * A user's TOTP second factor (one row per user, deleted with the account). `secret` is the shared
 * secret encrypted with AES-GCM under `MFA_ENCRYPTION_KEY` (`auth/secret-box.ts`), never in plain
 * text; TOTP is on while `enabled_at` is set. `last_used_step` is the time step of the last code
 * accepted: a code of that step or an earlier one is refused (no replay). `recovery_codes` holds the
 * SHA-256 of each unused recovery code; using one removes it. `pending_secret` (encrypted too) is an
 * enrolment started at `pending_at` and not yet confirmed with a code; while re-enrolling, the
 * current `secret` stays in force until the new one is confirmed.
 */
export const userTotp = pgTable('user_totp', {
  userId: integer('user_id')
    .primaryKey()
    .references(() => users.id, { onDelete: 'cascade' }),
  secret: text('secret'),
  enabledAt: timestamptz('enabled_at'),
  lastUsedStep: integer('last_used_step'),
  recoveryCodes: text('recovery_codes').array().notNull().default(sql`'{}'::text[]`),
  pendingSecret: text('pending_secret'),
  pendingAt: timestamptz('pending_at'),
})

/**
 * Logins waiting for their second factor: the SHA-256 of each `mfa_token` handed out after a correct
 * password, whose account, and until when it may be used. A token is consumed by the first attempt
 * that presents it (right code or wrong), in the statement that counts the attempt.
 */
export const mfaChallenges = pgTable(
  'mfa_challenges',
  {
    tokenHash: text('token_hash').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamptz('created_at').notNull(),
    expiresAt: timestamptz('expires_at').notNull(),
    consumedAt: timestamptz('consumed_at'),
  },
  (t) => [index('mfa_challenges_user_id_idx').on(t.userId)],
)
