import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BannedTermIndex, FUZZY_MIN_TERM_LENGTH, scoreBanned, scorePassword } from "./banned-index.js";
import { normalise, normaliseText } from "./normalise.js";

/** Plain dynamic-programming Levenshtein distance, the reference the index is checked against. */
function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

/** Brute force: every window against every term, then the cheapest cover. */
function bruteForceScore(text: string, terms: string[]): number {
  const best = [0];
  for (let j = 1; j <= text.length; j++) {
    let score = best[j - 1]! + 1;
    for (let i = 0; i < j; i++) {
      const window = text.slice(i, j);
      for (const t of terms) {
        const d = levenshtein(window, t);
        let cost = Number.POSITIVE_INFINITY;
        if (d === 0) cost = 1;
        else if (d === 1 && t.length >= FUZZY_MIN_TERM_LENGTH) cost = window.length === t.length + 1 ? 2 : 1;
        score = Math.min(score, best[i]! + cost);
      }
    }
    best.push(score);
  }
  return best[text.length]!;
}

describe("Entra's published examples", () => {
  // "contoso" on the tenant's custom list, "blank" on the global list (concept-password-ban-bad).
  const global = new BannedTermIndex(["blank"]);
  const custom = new BannedTermIndex(["contoso"]);

  it("C0ntos0Blank12 scores [contoso] + [blank] + [1] + [2] = 4 and is rejected at 5", () => {
    expect(scorePassword("C0ntos0Blank12", [global, custom])).toEqual({ score: 4, termsFound: 2 });
  });

  it("ContoS0Bl@nkf9! scores [contoso] + [blank] + [f] + [9] + [!] = 5 and passes", () => {
    expect(scorePassword("ContoS0Bl@nkf9!", [global, custom])).toEqual({ score: 5, termsFound: 2 });
  });

  it("Bl@nK normalises to blank and is one banned term", () => {
    expect(normalise("Bl@nK")).toBe("blank");
    expect(scorePassword("Bl@nK", [global]).score).toBe(1);
  });

  it("abcdef matches abcdeg, abcdefg and abcde at edit distance 1", () => {
    const index = new BannedTermIndex(["abcdef"]);
    expect(scorePassword("abcdeg", [index]).score).toBe(1);
    expect(scorePassword("abcde", [index]).score).toBe(1);
    // [abcdef] + [g]: the appended character is not part of the term.
    expect(scorePassword("abcdefg", [index]).score).toBe(2);
    expect(scorePassword("abcdefg", [index]).termsFound).toBe(1);
  });
});

describe("fuzzy matching over substrings", () => {
  const index = new BannedTermIndex(["password", "summer", "qwerty"]);

  it("finds a term with one substitution, deletion or insertion anywhere in the password", () => {
    expect(scorePassword("xxpasswOrdxx", [index]).score).toBe(5); // substitution o→O is just case
    expect(scorePassword("xxpassvordxx", [index]).score).toBe(5); // substitution
    expect(scorePassword("xxpasswrdxx", [index]).score).toBe(5); // deletion
    expect(scorePassword("xxpasswoordxx", [index]).score).toBe(6); // insertion inside: term + extra char
    expect(scorePassword("xxpazzwordxx", [index]).score).toBe(12); // two edits: no match
  });

  it("scores several terms and keeps the cheapest cover when matches overlap", () => {
    expect(scorePassword("Summer2024!", [index])).toEqual({ score: 6, termsFound: 1 });
    expect(scorePassword("qwertysummerpassword", [index])).toEqual({ score: 3, termsFound: 3 });
  });

  it("matches short terms only exactly", () => {
    const short = new BannedTermIndex(["cat"]);
    expect(scorePassword("cat", [short]).score).toBe(1);
    expect(scorePassword("cot", [short]).score).toBe(3);
    expect(scorePassword("ca", [short]).score).toBe(2);
  });

  it("agrees with a brute-force Levenshtein scan on random inputs", () => {
    const word = (min: number, max: number) =>
      fc.string({ unit: fc.constantFrom("a", "b", "c", "d"), minLength: min, maxLength: max });
    fc.assert(
      fc.property(fc.array(word(2, 7), { minLength: 1, maxLength: 6 }), word(0, 16), (terms, text) => {
        const idx = new BannedTermIndex(terms);
        expect(scoreBanned(normaliseText(text), [idx]).score).toBe(bruteForceScore(text, terms));
      }),
      { numRuns: 400 },
    );
  });

  it("counts original characters, so a compatibility expansion cannot inflate the score", () => {
    // U+FB01 (ﬁ) decomposes to "fi": two normalised characters, one point.
    expect(normaliseText("\uFB01").codePoints.length).toBe(2);
    expect(scorePassword("\uFB01\uFB01\uFB01", []).score).toBe(3);
  });

  it("ignores empty terms and counts duplicates after normalisation once", () => {
    const idx = new BannedTermIndex(["Password", "p@$$w0rd", "", "   "]);
    expect(idx.size).toBe(1);
  });
});
