/**
 * The cheap, synchronous rules: length, characters, classes, banned words, personal information.
 * Pure functions of their input and the prebuilt term indexes, so the live checker, the submit check
 * and the tests all see the same verdicts.
 */
import type { PasswordPolicy } from "../config/tenant-settings.js";
import { BannedTermIndex, scoreBanned } from "./banned-index.js";
import { normaliseText } from "./normalise.js";
import { type PersonalDetails, personalTerms } from "./personal.js";
import { type RuleId, ruleDefinition, ruleParams } from "./rules.js";
import type { RuleResult } from "./types.js";

/** Counts code points, stopping once the count exceeds `limit` (so a megabyte costs nothing extra). */
export function countCodePointsUpTo(text: string, limit: number): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    count++;
    if (count > limit) return count;
  }
  return count;
}

/** Control characters and unpaired surrogates (the latter cannot be encoded as UTF-8, so two
 * different passwords would hash alike). */
const BAD_CHARACTER = /[\p{Cc}\p{Cs}]/u;
const LOWER = /\p{Ll}/u;
const UPPER = /[\p{Lu}\p{Lt}]/u;
const DIGIT = /\p{Nd}/u;

/** Which of the four classes occur: lowercase, uppercase, decimal digit, anything else ("symbol"). */
export function characterClasses(password: string): number {
  let lower = 0;
  let upper = 0;
  let digit = 0;
  let symbol = 0;
  for (const ch of password) {
    if (LOWER.test(ch)) lower = 1;
    else if (UPPER.test(ch)) upper = 1;
    else if (DIGIT.test(ch)) digit = 1;
    else symbol = 1;
    if (lower + upper + digit + symbol === 4) break;
  }
  return lower + upper + digit + symbol;
}

export function result(id: RuleId, ok: boolean, params?: Record<string, number | string>): RuleResult {
  const r: RuleResult = { id, ok, messageId: ruleDefinition(id).messageId };
  if (params !== undefined) r.params = params;
  return r;
}

export function skipped(id: RuleId, policy: PasswordPolicy): RuleResult {
  return { ...result(id, false, ruleParams(id, policy)), skipped: true };
}

/** The banned-term indexes the local rules use; build them once (see createPasswordChecker). */
export interface BannedIndexes {
  global?: BannedTermIndex | undefined;
  custom?: BannedTermIndex | undefined;
}

export interface LocalRulesInput {
  password: string;
  policy: PasswordPolicy;
  user: PersonalDetails;
  organisationName: string;
}

/** True when the password is longer than the policy allows: nothing else may run on it. */
export function exceedsMaxLength(password: string, policy: PasswordPolicy): boolean {
  return countCodePointsUpTo(password, policy.maxLength) > policy.maxLength;
}

/**
 * Length, characters, classes, banned, personal, in checklist order (the last three only when the
 * policy enables them). A password over maxLength gets a failed length entry and skipped entries
 * for the rest: no other work is done on it.
 */
export function checkLocalRules(input: LocalRulesInput, indexes: BannedIndexes = {}): RuleResult[] {
  const { password, policy } = input;
  const out: RuleResult[] = [];
  const length = countCodePointsUpTo(password, policy.maxLength);
  const lengthParams = ruleParams("length", policy);
  if (length > policy.maxLength) {
    out.push(result("length", false, lengthParams));
    out.push(skipped("characters", policy));
    if (policy.requireClasses > 0) out.push(skipped("classes", policy));
    if (policy.bannedWords.enabled) out.push(skipped("banned", policy), skipped("personal", policy));
    return out;
  }
  out.push(result("length", length >= policy.minLength, lengthParams));
  out.push(result("characters", !BAD_CHARACTER.test(password)));
  if (policy.requireClasses > 0) {
    out.push(
      result("classes", characterClasses(password) >= policy.requireClasses, ruleParams("classes", policy)),
    );
  }
  if (policy.bannedWords.enabled) {
    const normalised = normaliseText(password);
    const personal = new BannedTermIndex(personalTerms(input.user, input.organisationName).terms, {
      fuzzy: false,
    });
    const lists: BannedTermIndex[] = [personal];
    if (policy.bannedWords.useGlobalList && indexes.global !== undefined) lists.push(indexes.global);
    if (indexes.custom !== undefined) lists.push(indexes.custom);
    const { score } = scoreBanned(normalised, lists);
    const minScore = policy.bannedWords.minScore;
    out.push(result("banned", score >= minScore, { minScore, score }));
    out.push(result("personal", personal.findMatches(normalised.codePoints).length === 0));
  }
  return out;
}
