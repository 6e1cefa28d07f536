/** Fields of a log line. Callers pass identifiers and outcomes, never passwords, hashes, tokens or secrets. */
export type LogFields = Record<string, string | number | boolean | null | undefined>

/** The levels of a log line, from the most to the least verbose. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const

/** A log line's level; as a setting (LOG_LEVEL), the least severe level written. */
export type LogLevel = (typeof LOG_LEVELS)[number]

/**
 * Which requests get an `http_request` access line (ACCESS_LOG): every one; every failure (400 or
 * more) and every request that may change something, but no successful read or token check
 * (see `accessLineWanted` in `middleware/hardening.ts`); or none. Security events are other lines:
 * this never drops them.
 */
export const ACCESS_LOG_MODES = ['all', 'errors-and-writes', 'none'] as const

/** An ACCESS_LOG setting; see {@link ACCESS_LOG_MODES}. */
export type AccessLog = (typeof ACCESS_LOG_MODES)[number]

/** A structured logger writing one JSON object per line. */
export interface Logger {
  debug(event: string, fields?: LogFields): void
  info(event: string, fields?: LogFields): void
  warn(event: string, fields?: LogFields): void
  error(event: string, fields?: LogFields): void
  /** A logger that adds `fields` (a request id, say) to every line; a line's own fields win. */
  child(fields: LogFields): Logger
}

/** Keys every line sets itself; fields by these names are dropped. */
const RESERVED = ['ts', 'level', 'event'] as const

function withoutReserved(fields: LogFields): LogFields {
  if (!RESERVED.some((key) => key in fields)) return fields
  const { ts: _ts, level: _level, event: _event, ...rest } = fields
  return rest
}

/** `{"a":1,"b":2}` without its braces, to be spliced into a line; empty for no fields. */
const members = (fields: LogFields) => JSON.stringify(fields).slice(1, -1)

const skip = () => undefined

/**
 * Creates a JSON-lines logger. Every line has a UTC `ts`, a `level` and an `event`; values are
 * JSON-encoded, so a CR or LF inside a username cannot start a forged line. A child's fields are
 * encoded once, when it is made: a request's logger costs one string, not a copy per line.
 * Lines below `level` are not written; their calls cost nothing but the call (the fields a caller
 * builds for them excepted).
 */
export function createLogger(
  write: (line: string) => void = console.log,
  level: LogLevel = 'info',
): Logger {
  const lowest = LOG_LEVELS.indexOf(level)
  const writes = (at: LogLevel) => LOG_LEVELS.indexOf(at) >= lowest
  const make = (bound: LogFields, boundJson: string): Logger => {
    const emit = (level: string, event: string, fields?: LogFields) => {
      let body = boundJson
      if (fields !== undefined) {
        let own = withoutReserved(fields)
        if (boundJson !== '' && Object.keys(own).some((key) => key in bound)) {
          own = { ...bound, ...own }
          body = ''
        }
        const json = members(own)
        if (json !== '') body = body === '' ? json : `${body},${json}`
      }
      const head = `{"ts":"${new Date().toISOString()}","level":"${level}","event":${JSON.stringify(event)}`
      write(body === '' ? `${head}}` : `${head},${body}}`)
    }
    return {
      debug: writes('debug') ? (event, fields) => emit('debug', event, fields) : skip,
      info: writes('info') ? (event, fields) => emit('info', event, fields) : skip,
      warn: writes('warn') ? (event, fields) => emit('warn', event, fields) : skip,
      error: (event, fields) => emit('error', event, fields),
      child(fields) {
        const merged = { ...bound, ...withoutReserved(fields) }
        return make(merged, members(merged))
      },
    }
  }
  return make({}, '')
}

/**
 * `parent.child(fields())`, made when the first line is written or the first child asked for: a
 * request that writes no line never pays for encoding its fields (or for what `fields` computes,
 * such as the client address).
 */
export function deferredChild(parent: Logger, fields: () => LogFields): Logger {
  let made: Logger | undefined
  const child = () => {
    made ??= parent.child(fields())
    return made
  }
  return {
    debug: (event, more) => child().debug(event, more),
    info: (event, more) => child().info(event, more),
    warn: (event, more) => child().warn(event, more),
    error: (event, more) => child().error(event, more),
    child: (more) => child().child(more),
  }
}

/** A line sink that gathers lines and writes them together; see {@link createBatchedWriter}. */
export interface BatchedWriter {
  /** Queues one line; it is written with the others when the buffer fills or the delay ends. */
  line(text: string): void
  /** Writes every queued line now (on exit, say). */
  flush(): void
}

/** When {@link createBatchedWriter} writes. */
export interface BatchingOptions {
  /** Write as soon as this many characters are queued. */
  maxChars: number
  /** Write at the latest this long after the first line queued since the last write, in ms. */
  maxDelayMs: number
  /** Runs `flush` after `ms` (a timer that does not keep the process alive, in a server). */
  defer(flush: () => void, ms: number): void
}

/**
 * Gathers log lines and hands them to `write` as one newline-terminated chunk: when `maxChars`
 * are queued, or `maxDelayMs` after the first queued line, whichever comes first. Under load that
 * is one write per few hundred lines instead of one per line (a synchronous system call each on
 * Node and Bun for a pipe or a file); a quiet service's lines appear at most `maxDelayMs` late.
 * What is queued when the process is killed outright is lost: call `flush` on exit.
 */
export function createBatchedWriter(
  write: (chunk: string) => void,
  options: BatchingOptions,
): BatchedWriter {
  let queued: string[] = []
  let chars = 0
  let scheduled = false
  const flush = () => {
    if (queued.length === 0) return
    const lines = queued
    queued = []
    chars = 0
    write(`${lines.join('\n')}\n`)
  }
  const onTimer = () => {
    scheduled = false
    flush()
  }
  return {
    line(text) {
      queued.push(text)
      chars += text.length + 1
      if (chars >= options.maxChars) flush()
      else if (!scheduled) {
        scheduled = true
        options.defer(onTimer, options.maxDelayMs)
      }
    },
    flush,
  }
}

/** A logger that drops everything, for tests that do not look at logs. */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  child: () => silentLogger,
}
