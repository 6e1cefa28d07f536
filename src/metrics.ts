/**
 * What the service counts for `GET /metrics`: the one interface the request layer, the routes and
 * the use cases call. A leaf with no dependencies: the Prometheus implementation
 * (`entry/prometheus.ts`, prom-client) is made by the Bun and Node entry point only, so the
 * Worker's bundle never holds it. Labels are bounded sets (route templates, outcomes, scopes),
 * never a path, a token, a username or a secret.
 */

/** How a password login ended (the `LoginOutcome` of `use-cases/login.ts`). */
export type LoginResult =
  | 'success'
  | 'bad_credentials'
  | 'throttled'
  | 'banned'
  | 'mfa_required'
  | 'mfa_unavailable'

/** How a `/validate` check ended. */
export type ValidationResult = 'valid' | 'invalid' | 'missing' | 'unavailable'

/** What a hash timing measured: a new hash, or a verify (the dummy verify of unknown names included). */
export type HashOperation = 'hash' | 'verify'

/** The recorder of the service's metrics. Every method is cheap and never throws. */
export interface Metrics {
  /**
   * A request answered: its route template (`/admin/users/:id`, never the raw path), its method,
   * status and duration.
   */
  requestDone(route: string, method: string, status: number, seconds: number): void
  /** A password login's outcome. */
  login(result: LoginResult): void
  /**
   * An attempt refused by a throttle limit, by its `ThrottleScope`: `loginAccount`, `loginAddress`,
   * `registerAddress`, `refreshFamily` (the refresh grant's per-session limit).
   */
  throttleBlock(scope: string): void
  /** A `/validate` check's outcome. */
  validation(result: ValidationResult): void
  /** A request that failed because the database was unavailable (answered 503). */
  dbError(): void
  /** How long one Argon2id hash or verify took. */
  hashTiming(operation: HashOperation, seconds: number): void
  /** The Prometheus text exposition, for `GET /metrics`. */
  exposition(): Promise<{ contentType: string; body: string }>
}

const nothing = () => {}

/**
 * The recorder when metrics are off (the default, and always on Workers): records nothing, and
 * the request layer skips working out a route label when it is this one.
 */
export const NO_METRICS: Metrics = Object.freeze({
  requestDone: nothing,
  login: nothing,
  throttleBlock: nothing,
  validation: nothing,
  dbError: nothing,
  hashTiming: nothing,
  exposition: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
})

/** The methods a request label names; any other is counted as `OTHER`, so a client cannot add label values. */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])

/** The `method` label of a request method. */
export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'OTHER'
}
