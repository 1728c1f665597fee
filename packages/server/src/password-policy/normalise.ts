/**
 * Normalisation for banned-word and personal-information matching (Entra's step 1): fold the
 * password so that a short list of base terms catches their common disguises. The result is only
 * ever used for matching; the password itself is never changed.
 *
 * Steps, in order:
 * 1. Unicode compatibility decomposition (NFKD) and removal of combining marks, so "ｐàsswörd" and
 *    "password" compare equal.
 * 2. Lowercase (locale-independent `toLowerCase`).
 * 3. One-to-one character substitutions from {@link SUBSTITUTIONS}. Entra documents 0→o, 1→l,
 *    $→s, @→a as examples; the rest are the usual look-alikes. A 1:1 table keeps every position of
 *    the normalised string tied to one character of the password, which the scoring relies on.
 */

/**
 * Look-alike substitutions applied after lowercasing. Documented in docs/password-policy.md; a
 * test checks both agree. Each maps one character to one lowercase ASCII letter.
 */
export const SUBSTITUTIONS: Readonly<Record<string, string>> = Object.freeze({
  "0": "o",
  "1": "l",
  "2": "z",
  "3": "e",
  "4": "a",
  "5": "s",
  "6": "g",
  "7": "t",
  "8": "b",
  "9": "g",
  "@": "a",
  $: "s",
  "!": "i",
  "|": "l",
  "+": "t",
  "€": "e",
  "£": "l",
  "¢": "c",
  "¥": "y",
  "(": "c",
  "<": "c",
  "{": "c",
  "[": "c",
  "©": "c",
  "®": "r",
  "×": "x",
  "¡": "i",
});

const SUBSTITUTION_CODES = new Map<number, number>(
  Object.entries(SUBSTITUTIONS).map(([from, to]) => [from.codePointAt(0)!, to.codePointAt(0)!]),
);

const COMBINING_MARK = /\p{M}/u;

/**
 * A normalised text: `codePoints[k]` is the k-th normalised character; `starts[k]` is 1 where that
 * character begins the folding of one original character and 0 where it continues it (NFKD turns a
 * few characters into several, e.g. "ﬁ" into "fi"). Scoring counts original characters through
 * `starts`, so expansion cannot inflate a score.
 */
export interface Normalised {
  readonly codePoints: number[];
  readonly starts: Uint8Array;
}

function foldOne(cp: number, out: number[]): void {
  if (cp < 0x80) {
    // ASCII fast path: the decomposition of ASCII is itself.
    const lower = cp >= 0x41 && cp <= 0x5a ? cp + 0x20 : cp;
    out.push(SUBSTITUTION_CODES.get(lower) ?? lower);
    return;
  }
  const folded = String.fromCodePoint(cp).normalize("NFKD").toLowerCase();
  let pushed = false;
  for (const ch of folded) {
    if (COMBINING_MARK.test(ch)) continue;
    const c = ch.codePointAt(0)!;
    out.push(SUBSTITUTION_CODES.get(c) ?? c);
    pushed = true;
  }
  // A character that was only marks (a lone combining accent) still counts as itself.
  if (!pushed) out.push(cp);
}

/** Normalises text for matching, keeping track of which positions start an original character. */
export function normaliseText(text: string): Normalised {
  const codePoints: number[] = [];
  const startFlags: number[] = [];
  for (const ch of text) {
    const before = codePoints.length;
    foldOne(ch.codePointAt(0)!, codePoints);
    for (let k = before; k < codePoints.length; k++) startFlags.push(k === before ? 1 : 0);
  }
  return { codePoints, starts: Uint8Array.from(startFlags) };
}

/** The normalised text as a string (for terms, tokens and tests). */
export function normalise(text: string): string {
  let out = "";
  for (const cp of normaliseText(text).codePoints) out += String.fromCodePoint(cp);
  return out;
}
