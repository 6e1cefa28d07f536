import { describe, expect, it } from 'vitest'
import {
  passwordProblem,
  usernameKey,
  usernameProblem,
  usernameSkeleton,
} from '../src/auth/credentials'
import { caseFold, isHighlyRestrictive, skeleton } from '../src/auth/unicode'

describe('usernameKey: NFKC and full Unicode case folding', () => {
  it.each([
    ['İstanbul', 'i̇stanbul'],
    ['ΝΊΚΟΣ', 'νίκοσ'],
    ['νίκος', 'νίκοσ'],
    ['Straße', 'strasse'],
    ['STRASSE', 'strasse'],
    ['ﬁsh', 'fish'],
    ['ｆｕｌｌ', 'full'],
    ['ᏣᎳᎩ', 'ᏣᎳᎩ'],
    ['ꮳꮃꭹ', 'ᏣᎳᎩ'],
    ['  Alice  ', 'alice'],
  ])('%s -> %s', (name, key) => {
    expect(usernameKey(name)).toBe(key)
  })

  it('gives one key to spellings toLowerCase() tells apart (final sigma, ß, rounded ve)', () => {
    for (const [a, b] of [
      ['νίκος', 'νίκοσ'],
      ['straße', 'STRASSE'],
      ['\u1c80ася', 'вася'],
    ] as const) {
      expect(a.toLowerCase()).not.toBe(b.toLowerCase())
      expect(usernameKey(a)).toBe(usernameKey(b))
    }
  })

  it('is stable: the key of a key is itself', () => {
    for (const name of ['İstanbul', 'ΐ', 'ǰ', 'ẞ', 'Ⅻ', 'ﬃ', 'ᾼ']) {
      expect(usernameKey(usernameKey(name))).toBe(usernameKey(name))
    }
  })

  it('caseFold is full folding, not the Turkic one and not toLowerCase', () => {
    expect(caseFold('İ')).toBe('i\u0307')
    expect(caseFold('I')).toBe('i')
    expect(caseFold('ς')).toBe('σ')
    expect(caseFold('ß')).toBe('ss')
  })

  it('keeps the password from being the username in any case or form', () => {
    expect(passwordProblem('STRASSE1', 'straße1')).toBe('Password must not be the username')
    expect(passwordProblem('ΝΊΚΟΣ_123', 'νίκος_123')).toBe('Password must not be the username')
  })
})

describe('usernameSkeleton: names that look alike share it', () => {
  it.each([
    ['ѕсоре', 'scope'],
    ['раураl', 'paypal'],
    ['aIice', 'alice'],
    ['ALlCE', 'ALICE'],
    ['b0b', 'bob'],
    ['kuser2\ufe0f', 'kuser2'],
    ['kuser2\u034f', 'kuser2'],
    ['kuser2\u180b', 'kuser2'],
    ['kuser2\u{e0100}', 'kuser2'],
  ])('%s looks like %s', (a, b) => {
    expect(usernameSkeleton(a)).toBe(usernameSkeleton(b))
  })

  it('tells different names apart', () => {
    expect(usernameSkeleton('alice')).not.toBe(usernameSkeleton('alina'))
    expect(usernameSkeleton('kuser1')).not.toBe(usernameSkeleton('kuser2'))
  })

  it('skeleton is the UTS #39 one: NFD, ignorables removed, prototypes', () => {
    expect(skeleton('р\u200d')).toBe('p')
    expect(skeleton('é')).toBe('e\u0301')
  })
})

describe('usernameProblem: invisible characters, mixed scripts, stacked marks', () => {
  it.each([
    ['kuser2\ufe0f', 'VS16'],
    ['kuser2\u034f', 'combining grapheme joiner'],
    ['kuser2\u180b', 'Mongolian free variation selector'],
    ['kuser2\u{e0100}', 'variation selector 17'],
    ['ku\u200bser', 'zero-width space'],
    ['ku\u200dser', 'zero-width joiner'],
    ['ku\u3164ser', 'Hangul filler'],
    ['ku\u00adser', 'soft hyphen'],
  ])('refuses %j (%s) as invisible', (name) => {
    expect(usernameProblem(name)).toMatch(/invisible/)
  })

  it.each([
    ['кuser1', 'Cyrillic к in a Latin name'],
    ['pаypal', 'Cyrillic а in a Latin name'],
    ['αbc123', 'Greek and Latin'],
    ['иванαβ', 'Cyrillic and Greek'],
    ['abcعربي', 'Latin and Arabic'],
    ['user১২', 'Latin and Bengali digits'],
    ['한국γ', 'Hangul and Greek'],
  ])('refuses %s (%s) as mixed-script', (name) => {
    expect(usernameProblem(name)).toMatch(/one script/)
  })

  it.each([
    ['νίκος', 'Greek'],
    ['иван_2024', 'Cyrillic with digits'],
    ['山田たろうカタカナ', 'Han + Hiragana + Katakana'],
    ['Tokyo東京とうきょう', 'Latin + Japanese'],
    ['김철수', 'Hangul'],
    ['Seoul서울', 'Latin + Hangul'],
    ['ㄅㄆㄇ中文', 'Bopomofo + Han'],
    ['zoë-1.x', 'Latin with a diacritic, digits and punctuation'],
    ['user123', 'digits'],
    ['عربي٣', 'Arabic with Arabic-Indic digits'],
    ['ᏣᎳᎩ', 'Cherokee? no: refused below'],
  ])('accepts %s (%s)', (name, what) => {
    if (what.startsWith('Cherokee')) return
    expect(usernameProblem(name)).toBeNull()
  })

  it('refuses scripts not recommended for identifiers (Cherokee, Runic)', () => {
    expect(usernameProblem('ᏣᎳᎩ')).toMatch(/one script/)
    expect(usernameProblem('ᚠᚢᚦ')).toMatch(/one script/)
  })

  it('refuses stacked or repeated combining marks', () => {
    expect(usernameProblem('zalgo\u0301\u0302\u0303\u0304\u0305')).toMatch(/combining marks/)
    expect(usernameProblem('abe\u0301\u0301')).toMatch(/combining marks/)
    expect(usernameProblem('abe\u0301')).toBeNull()
  })

  it('isHighlyRestrictive treats Common and Inherited as going with any script', () => {
    expect(isHighlyRestrictive('123_.-')).toBe(true)
    expect(isHighlyRestrictive('ab\u0301c')).toBe(true)
  })
})
