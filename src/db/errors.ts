/** SQLSTATE of a unique violation. */
export const UNIQUE_VIOLATION = '23505'

const MAX_DEPTH = 5

/**
 * The SQLSTATE of a database error, whatever the driver: postgres.js, PGlite and Neon all put it
 * in `code`, and drizzle wraps their errors in `cause` (DrizzleQueryError). Undefined for anything else.
 */
export function sqlState(error: unknown): string | undefined {
  let current = error
  for (
    let depth = 0;
    depth < MAX_DEPTH && typeof current === 'object' && current !== null;
    depth++
  ) {
    const { code, cause } = current as { code?: unknown; cause?: unknown }
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code
    current = cause
  }
  return undefined
}

/** True for a unique violation (SQLSTATE 23505) from any driver. */
export function isUniqueViolation(error: unknown): boolean {
  return sqlState(error) === UNIQUE_VIOLATION
}

/**
 * SQLSTATE classes and codes that mean "the database cannot serve now" rather than "this query
 * is wrong": connection exceptions (08), insufficient resources (53), operator intervention (57:
 * shutdown, statement timeout), system errors (58), and serialization failures/deadlocks (40001,
 * 40P01) that a retry would resolve.
 */
const UNAVAILABLE_SQLSTATE = /^(08|53|57|58)[0-9A-Z]{3}$|^40001$|^40P01$/

/** Transport failures reported by postgres.js and by Node/Bun sockets. */
const UNAVAILABLE_CODES = new Set([
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ConnectionRefused',
  'ConnectionClosed',
])

/**
 * The error code that shows a database is unreachable, overloaded or too slow, found anywhere in
 * the error's `cause` chain (drizzle wraps driver errors in `DrizzleQueryError`); undefined for
 * any other error. Neon's HTTP driver reports a failed fetch or a 5xx as a `NeonDbError` without
 * a SQLSTATE: that counts as unavailable too (`neon_unreachable`).
 */
export function databaseUnavailableCode(error: unknown): string | undefined {
  let current: unknown = error
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    const { code, name } = current as Error & { code?: unknown }
    if (typeof code === 'string') {
      if (UNAVAILABLE_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code)) return code
    } else if (name === 'NeonDbError') {
      return 'neon_unreachable'
    }
    current = current.cause ?? (current as { sourceError?: unknown }).sourceError
  }
  return undefined
}
