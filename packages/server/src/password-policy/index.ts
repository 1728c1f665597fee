/**
 * The password policy engine (issue 3, item 8 "New password"): every rule a new password must pass,
 * with one verdict entry per rule for the live checklist and the submit check alike.
 * See docs/password-policy.md.
 */
export { BannedTermIndex, FUZZY_MIN_TERM_LENGTH, scoreBanned, scorePassword } from "./banned-index.js";
export { createHibpRangeChecker, type HibpOptions, HibpUnavailableError } from "./breached/hibp.js";
export {
  type BuildOptions,
  type BuildReport,
  buildOfflineFilterFile,
  type FingerprintBits,
  OfflineBreachedFilter,
  OfflineFilterFormatError,
} from "./breached/offline-filter.js";
export { type BreachedChecker, sha1Hex } from "./breached/types.js";
export { createPasswordChecker, type PasswordChecker, type PasswordCheckerDeps } from "./checker.js";
export { GLOBAL_BANNED_WORDS } from "./data/global-banned-words.js";
export {
  type BannedIndexes,
  characterClasses,
  checkLocalRules,
  countCodePointsUpTo,
  type LocalRulesInput,
} from "./local-rules.js";
export { normalise, SUBSTITUTIONS } from "./normalise.js";
export { PERSONAL_MIN_LENGTH, type PersonalDetails, personalTerms } from "./personal.js";
export {
  type Capabilities,
  type ChecklistItem,
  describePolicy,
  PASSWORD_RULES,
  RULE_IDS,
  RULE_UNAVAILABLE_MESSAGE_ID,
  RULE_UNAVAILABLE_TEXT,
  type RuleDefinition,
  type RuleId,
  renderRuleText,
} from "./rules.js";
export {
  createWorkerStrengthEstimator,
  type StrengthEstimator,
  StrengthUnavailableError,
  type WorkerStrengthEstimatorOptions,
} from "./strength.js";
export type { CheckInput, PasswordVerdict, RuleResult } from "./types.js";
