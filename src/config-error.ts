/** Thrown for bad configuration; its message lists every problem, one per line, and never a value. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** A {@link ConfigError} about one setting: `Invalid configuration:\n  NAME: problem`. */
export const settingError = (setting: string, problem: string) =>
  new ConfigError(`Invalid configuration:\n  ${setting}: ${problem}`)
