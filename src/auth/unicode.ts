/**
 * The Unicode algorithms usernames rely on and JavaScript lacks: full case folding, the UTS #39
 * skeleton, and its restriction levels. The data tables are generated (scripts/unicode-tables.ts)
 * and parsed on first use, never at import.
 */
import { CASE_FOLDING, CONFUSABLE_PROTOTYPES } from './unicode-tables.gen'

let foldings: Map<number, string> | undefined
let prototypes: Map<number, string> | undefined

/** Parses a generated table: lines of one code point followed by what it maps to. */
function parseTable(table: string): Map<number, string> {
  const map = new Map<number, string>()
  for (const line of table.split('\n')) {
    const from = line.codePointAt(0) as number
    map.set(from, line.slice(from > 0xffff ? 2 : 1))
  }
  return map
}

function mapEach(value: string, map: Map<number, string>): string {
  let out = ''
  for (const c of value) out += map.get(c.codePointAt(0) as number) ?? c
  return out
}

/**
 * Full Unicode case folding (CaseFolding.txt, statuses C and F; not the Turkic T): `ß` -> `ss`,
 * `ς` -> `σ`, `İ` -> `i̇`, Cherokee small letters -> capitals. Unlike `toLowerCase()` it does not
 * depend on context (final sigma) and makes case-insensitive comparison exact.
 */
export function caseFold(value: string): string {
  foldings ??= parseTable(CASE_FOLDING)
  return mapEach(value, foldings)
}

const DEFAULT_IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu

/**
 * The UTS #39 skeleton (§4): NFD, default-ignorable code points removed, each character replaced
 * by its confusable prototype (confusables.txt), NFD again. Two strings that look alike have the
 * same skeleton. Only prototypes of letters, marks and digits are tabled (see the generator).
 */
export function skeleton(value: string): string {
  prototypes ??= parseTable(CONFUSABLE_PROTOTYPES)
  return mapEach(value.normalize('NFD').replace(DEFAULT_IGNORABLE, ''), prototypes).normalize('NFD')
}

/** Whether a string holds a default-ignorable code point (invisible: variation selectors, joiners, fillers, CGJ, tags). */
export function hasDefaultIgnorable(value: string): boolean {
  return /\p{Default_Ignorable_Code_Point}/u.test(value)
}

/**
 * The scripts recommended for identifiers (UTS #31, Table 5), by ISO 15924 code; Common and
 * Inherited characters go with any of them.
 */
const RECOMMENDED_SCRIPTS = [
  'Arab',
  'Armn',
  'Beng',
  'Bopo',
  'Cyrl',
  'Deva',
  'Ethi',
  'Geor',
  'Grek',
  'Gujr',
  'Guru',
  'Hang',
  'Hani',
  'Hebr',
  'Hira',
  'Kana',
  'Khmr',
  'Knda',
  'Laoo',
  'Latn',
  'Mlym',
  'Mymr',
  'Orya',
  'Sinh',
  'Taml',
  'Telu',
  'Thaa',
  'Thai',
  'Tibt',
] as const

// The writing systems that combine scripts (UTS #39 §5.1): Han with kana, with Bopomofo, with Hangul.
const AUGMENTED: Record<string, string[]> = {
  Hani: ['Jpan', 'Hanb', 'Kore'],
  Hira: ['Jpan'],
  Kana: ['Jpan'],
  Bopo: ['Hanb'],
  Hang: ['Kore'],
}

let scriptTests: { script: string; test: RegExp }[] | undefined
const ANY_SCRIPT = /^[\p{scx=Zyyy}\p{scx=Zinh}]$/u

/**
 * The augmented Script_Extensions of a character, limited to the recommended scripts; null for
 * Common and Inherited characters (they go with every script).
 */
function scriptsOf(character: string): Set<string> | null {
  if (ANY_SCRIPT.test(character)) return null
  scriptTests ??= RECOMMENDED_SCRIPTS.map((script) => ({
    script,
    test: new RegExp(`^\\p{scx=${script}}$`, 'u'),
  }))
  const scripts = new Set<string>()
  for (const { script, test } of scriptTests) {
    if (!test.test(character)) continue
    scripts.add(script)
    for (const extra of AUGMENTED[script] ?? []) scripts.add(extra)
  }
  return scripts
}

/** The ways a string may combine scripts at {@link isHighlyRestrictive}'s level beyond one script. */
const HIGHLY_RESTRICTIVE_SETS = [
  ['Latn', 'Jpan'],
  ['Latn', 'Hanb'],
  ['Latn', 'Kore'],
]

/**
 * UTS #39 §5.2 "Highly Restrictive": every character is in a recommended script (or Common or
 * Inherited), and the string is single-script (its resolved script set is not empty: Han, Hiragana
 * and Katakana together count as Japanese, Han and Hangul as Korean, Han and Bopomofo as Chinese),
 * or is covered by Latin + Japanese, Latin + Chinese or Latin + Korean. So `кuser1` (Cyrillic and
 * Latin) and `αbc` (Greek and Latin) are refused; `νίκος`, `иван`, `山田たろう`, `Tokyo東京` are not.
 */
export function isHighlyRestrictive(value: string): boolean {
  const perCharacter: Set<string>[] = []
  for (const character of value) {
    const scripts = scriptsOf(character)
    if (scripts === null) continue
    if (scripts.size === 0) return false
    perCharacter.push(scripts)
  }
  if (perCharacter.length === 0) return true
  const [first, ...rest] = perCharacter as [Set<string>, ...Set<string>[]]
  if ([...first].some((script) => rest.every((scripts) => scripts.has(script)))) return true
  return HIGHLY_RESTRICTIVE_SETS.some((allowed) =>
    perCharacter.every((scripts) => allowed.some((script) => scripts.has(script))),
  )
}

/**
 * UTS #39 §5.4: more than four nonspacing marks in a row, or one nonspacing mark repeated, after
 * NFD (marks stacked to hide or fake a letter).
 */
export function hasSuspiciousMarks(value: string): boolean {
  return /\p{Mn}{5}|(\p{Mn})\1/u.test(value.normalize('NFD'))
}
