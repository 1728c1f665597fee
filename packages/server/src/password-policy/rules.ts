/**
 * The password rules as data: stable ids, message ids and English texts with `{param}` slots, so the
 * page can render the checklist and the server returns verdicts that point at the same entries.
 * Translations key on `messageId`; the English text here is the source string.
 */
import type { PasswordPolicy } from "../config/tenant-settings.js";

export const RULE_IDS = [
  "length",
  "characters",
  "classes",
  "banned",
  "personal",
  "strength",
  "breached",
  "history",
] as const;
export type RuleId = (typeof RULE_IDS)[number];

export interface RuleDefinition {
  readonly id: RuleId;
  readonly messageId: string;
  /** English source text; `{name}` is replaced by `params.name`. */
  readonly text: string;
  /** Whether the rule runs on the live (per-keystroke) check or only when the password is submitted. */
  readonly live: boolean;
}

export const PASSWORD_RULES: readonly RuleDefinition[] = Object.freeze([
  { id: "length", messageId: "password.rule.length", text: "Between {min} and {max} characters", live: true },
  {
    id: "characters",
    messageId: "password.rule.characters",
    text: "No control characters or broken Unicode",
    live: true,
  },
  {
    id: "classes",
    messageId: "password.rule.classes",
    text: "At least {required} of: lowercase letter, uppercase letter, digit, symbol",
    live: true,
  },
  {
    id: "banned",
    messageId: "password.rule.banned",
    text: "Not built mainly from common or banned words",
    live: true,
  },
  {
    id: "personal",
    messageId: "password.rule.personal",
    text: "Does not contain your name, username or the organisation's name",
    live: true,
  },
  { id: "strength", messageId: "password.rule.strength", text: "Hard enough to guess", live: true },
  {
    id: "breached",
    messageId: "password.rule.breached",
    text: "Not found in known data breaches",
    live: true,
  },
  {
    id: "history",
    messageId: "password.rule.history",
    text: "Not one of your last {count} passwords",
    live: false,
  },
] satisfies RuleDefinition[]);

/** Shown instead of a rule's own message when the rule could not be evaluated (timeout, network). */
export const RULE_UNAVAILABLE_MESSAGE_ID = "password.rule.unavailable";
export const RULE_UNAVAILABLE_TEXT = "This check is unavailable right now; try again in a moment";

const BY_ID = new Map<RuleId, RuleDefinition>(PASSWORD_RULES.map((r) => [r.id, r]));
const BY_MESSAGE_ID = new Map<string, string>([
  ...PASSWORD_RULES.map((r) => [r.messageId, r.text] as const),
  [RULE_UNAVAILABLE_MESSAGE_ID, RULE_UNAVAILABLE_TEXT],
]);

export function ruleDefinition(id: RuleId): RuleDefinition {
  return BY_ID.get(id)!;
}

/** The English text for a message id with its params filled in; unknown slots stay as written. */
export function renderRuleText(
  messageId: string,
  params: Readonly<Record<string, number | string>> = {},
): string {
  const template = BY_MESSAGE_ID.get(messageId) ?? messageId;
  return template.replace(/\{(\w+)\}/g, (slot, name: string) =>
    Object.hasOwn(params, name) ? String(params[name]) : slot,
  );
}

/** One checklist item before anything is typed: which rules apply to this policy, with their params. */
export interface ChecklistItem {
  id: RuleId;
  messageId: string;
  params: Record<string, number | string>;
  live: boolean;
}

/** What the checker can do besides the policy: which optional dependencies were wired. */
export interface Capabilities {
  offlineBreached: boolean;
  hibp: boolean;
  history: boolean;
}

/** The params each rule shows, derived from the policy alone (never from the password). */
export function ruleParams(id: RuleId, policy: PasswordPolicy): Record<string, number | string> {
  switch (id) {
    case "length":
      return { min: policy.minLength, max: policy.maxLength };
    case "classes":
      return { required: policy.requireClasses };
    case "banned":
      return { minScore: policy.bannedWords.minScore };
    case "strength":
      return { minStrength: policy.minStrength };
    case "history":
      return { count: policy.history };
    default:
      return {};
  }
}

/** Whether a rule is active for a policy, given what the checker has been wired with. */
export function ruleActive(id: RuleId, policy: PasswordPolicy, can: Capabilities): boolean {
  switch (id) {
    case "length":
    case "characters":
      return true;
    case "classes":
      return policy.requireClasses > 0;
    case "banned":
    case "personal":
      return policy.bannedWords.enabled;
    case "strength":
      return policy.minStrength > 0;
    case "breached":
      return (policy.breached.offline && can.offlineBreached) || (policy.breached.hibp && can.hibp);
    case "history":
      return policy.history > 0 && can.history;
  }
}

/** The checklist the page shows for a policy, in display order. */
export function describePolicy(policy: PasswordPolicy, can: Capabilities): ChecklistItem[] {
  return PASSWORD_RULES.filter((r) => ruleActive(r.id, policy, can)).map((r) => ({
    id: r.id,
    messageId: r.messageId,
    params: ruleParams(r.id, policy),
    live: r.live && !(r.id === "breached" && !(policy.breached.offline && can.offlineBreached)),
  }));
}
