/**
 * Banned-term matching and Entra's banned-password score (docs/password-policy.md, "Banned words").
 *
 * Terms live in a trie of normalised code points. From every start position of the normalised
 * password we walk the trie with an edit budget of one (substitution, a character missing from the
 * password, or one extra character in it); once the edit is spent the walk is exact, so the cost per
 * start is bounded by the trie's fan-out times the depth, independent of how many terms share no
 * prefix with the password. This finds every substring within edit distance 1 of a term without ever
 * comparing the password against each term.
 *
 * Scoring, as Entra describes it: each banned term found is 1 point, each remaining character is
 * 1 point. Where matches overlap we take the cover with the FEWEST points (a dynamic programme over
 * positions), because that is what an attacker's guessing rules would exploit. A match with an extra
 * character inside it ("blaxnk" for "blank") costs 2: the term plus the inserted character, which is
 * not part of the term. That reading reproduces Entra's published examples.
 */
import { type Normalised, normaliseText } from "./normalise.js";

/** Terms shorter than this (after normalisation) only match exactly; fuzzy matching them would ban half the alphabet. */
export const FUZZY_MIN_TERM_LENGTH = 4;

interface TrieNode {
  children: Map<number, TrieNode> | null;
  /** Length of the term ending here, or 0 when no term ends here. */
  termLength: number;
}

function newNode(): TrieNode {
  return { children: null, termLength: 0 };
}

/** One substring of the normalised password that matched a term: [start, end) and its cost in points. */
export interface TermMatch {
  start: number;
  end: number;
  cost: 1 | 2;
}

/** An immutable index over a list of banned terms. Build once per list; matching is read-only. */
export class BannedTermIndex {
  readonly size: number;
  readonly #root: TrieNode = newNode();
  readonly #fuzzy: boolean;

  /**
   * @param terms the banned terms, in any case and with any look-alikes (they are normalised here);
   *   empty and whitespace-only entries are ignored, duplicates after normalisation count once.
   * @param options.fuzzy match at edit distance 1 (default true); personal terms use exact matching.
   */
  constructor(terms: Iterable<string>, options: { fuzzy?: boolean } = {}) {
    this.#fuzzy = options.fuzzy ?? true;
    let size = 0;
    for (const raw of terms) {
      const cps = normaliseText(raw.trim()).codePoints;
      if (cps.length === 0) continue;
      let node = this.#root;
      for (const cp of cps) {
        node.children ??= new Map();
        let next = node.children.get(cp);
        if (next === undefined) {
          next = newNode();
          node.children.set(cp, next);
        }
        node = next;
      }
      if (node.termLength === 0) size++;
      node.termLength = cps.length;
    }
    this.size = size;
  }

  /** Every substring of `text` (already normalised) that matches a term, possibly with duplicates. */
  findMatches(text: readonly number[], out: TermMatch[] = []): TermMatch[] {
    if (this.size === 0) return out;
    const n = text.length;
    const fuzzy = this.#fuzzy;
    const record = (start: number, end: number, node: TrieNode, edited: boolean, inserted: boolean) => {
      if (node.termLength === 0 || end <= start) return;
      if (edited && node.termLength < FUZZY_MIN_TERM_LENGTH) return;
      out.push({ start, end, cost: inserted ? 2 : 1 });
    };
    // After the one edit is spent, the rest of the walk is exact.
    const exact = (start: number, from: TrieNode, pos: number, inserted: boolean) => {
      let node: TrieNode | undefined = from;
      let p = pos;
      record(start, p, node, true, inserted);
      while (p < n && node.children !== null) {
        node = node.children.get(text[p]!);
        if (node === undefined) return;
        p++;
        record(start, p, node, true, inserted);
      }
    };
    for (let start = 0; start < n; start++) {
      let node: TrieNode | undefined = this.#root;
      let pos = start;
      // Walk the exact path; at each depth also try spending the edit.
      while (node !== undefined) {
        if (pos > start) record(start, pos, node, false, false);
        const children: Map<number, TrieNode> | null = node.children;
        if (fuzzy && children !== null) {
          const here = pos < n ? text[pos]! : -1;
          for (const [cp, child] of children) {
            // Substitution: the password has a different character where the term has `cp`.
            if (pos < n && cp !== here) exact(start, child, pos + 1, false);
            // Deletion: the password lacks the term's character `cp`.
            exact(start, child, pos, false);
          }
          // Insertion: the password has one extra character here (not at the very start: that is
          // the same as starting one position later).
          if (pos < n && pos > start) exact(start, node, pos + 1, true);
        }
        if (pos >= n || children === null) break;
        node = children.get(text[pos]!);
        pos++;
      }
    }
    return out;
  }
}

/** The outcome of scoring one password against the banned and personal terms. */
export interface BannedScore {
  /** Points: 1 per term in the cheapest cover + 1 per remaining original character. */
  score: number;
  /** How many term matches the cheapest cover used. */
  termsFound: number;
}

/**
 * Entra's score for a normalised password against one or more indexes (global, tenant, personal).
 * Runs in O(n · (fan-out · depth)) for the matching and O(n + matches) for the cover.
 */
export function scoreBanned(normalised: Normalised, indexes: readonly BannedTermIndex[]): BannedScore {
  const { codePoints, starts } = normalised;
  const n = codePoints.length;
  const matches: TermMatch[] = [];
  for (const index of indexes) index.findMatches(codePoints, matches);
  const endingAt: TermMatch[][] = Array.from({ length: n + 1 }, () => []);
  for (const m of matches) endingAt[m.end]!.push(m);
  const best = new Float64Array(n + 1);
  const terms = new Float64Array(n + 1);
  for (let j = 1; j <= n; j++) {
    let score = best[j - 1]! + starts[j - 1]!;
    let found = terms[j - 1]!;
    for (const m of endingAt[j]!) {
      const candidate = best[m.start]! + m.cost;
      if (candidate < score) {
        score = candidate;
        found = terms[m.start]! + 1;
      }
    }
    best[j] = score;
    terms[j] = found;
  }
  return { score: best[n]!, termsFound: terms[n]! };
}

/** Convenience for tests and tools: normalise `password`, then score it. */
export function scorePassword(password: string, indexes: readonly BannedTermIndex[]): BannedScore {
  return scoreBanned(normaliseText(password), indexes);
}
