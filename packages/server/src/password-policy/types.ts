/**
 * The shapes the password policy engine takes and returns. A verdict never contains the password or
 * anything derived from it beyond scores (banned-word points, zxcvbn's 0–4), so it is safe to return
 * to the browser and to log.
 */
import type { PasswordPolicy } from "../config/tenant-settings.js";
import type { PersonalDetails } from "./personal.js";
import type { RuleId } from "./rules.js";

export type { PersonalDetails, RuleId };

/** One rule's outcome. `ok` is false when the rule failed, was skipped or was unavailable. */
export interface RuleResult {
  id: RuleId;
  ok: boolean;
  messageId: string;
  params?: Record<string, number | string>;
  /** Not evaluated, because an earlier rule already failed (e.g. too long, so nothing else ran). */
  skipped?: true;
  /** Could not be evaluated (worker timeout, network error): the verdict fails closed. */
  unavailable?: true;
}

export interface PasswordVerdict {
  /** True when every rule in `rules` passed. */
  ok: boolean;
  /** One entry per active rule, in checklist order. */
  rules: RuleResult[];
  /**
   * Rules left for the submit check (stage "live" only): the HIBP range query and the history,
   * which must not run per keystroke. A live `ok` means "passes everything checked so far".
   */
  deferred: RuleId[];
}

/** What the caller knows when a password is checked. */
export interface CheckInput {
  password: string;
  policy: PasswordPolicy;
  user: PersonalDetails;
  organisationName: string;
  /** Resolves true when the password is one of the user's previous ones; called last, at most once. */
  history?: ((password: string) => Promise<boolean>) | undefined;
  /**
   * "live" for the per-keystroke checklist (no HIBP query, no history: a series of k-anonymity
   * prefixes of growing prefixes of one password would give the password away, and history costs
   * Argon2 verifications); "submit" (the default) for the authoritative check before setting it.
   */
  stage?: "live" | "submit" | undefined;
}
