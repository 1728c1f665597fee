/**
 * The password checker: runs every rule of a tenant's policy on a candidate password and returns one
 * verdict entry per rule. Order of work, cheapest first:
 *   1. maxLength, before anything else (a 10k-character input costs a counter, nothing more);
 *   2. strength (zxcvbn, handed to a worker) and the offline breached filter, while the local rules
 *      (length, characters, classes, banned, personal; synchronous, ~0.1 ms) run on this thread;
 *   4. on submit only, and only when everything above passed: the HIBP range query, then history
 *      (the caller's function, which costs Argon2 verifications).
 * A rule that cannot be evaluated fails closed with the "unavailable" message.
 */
import { z } from "zod";
import { type PasswordPolicy, passwordPolicySchema } from "../config/tenant-settings.js";
import { LatchkeyError } from "../core/errors.js";
import { BannedTermIndex } from "./banned-index.js";
import type { BreachedChecker } from "./breached/types.js";
import { GLOBAL_BANNED_WORDS } from "./data/global-banned-words.js";
import { checkLocalRules, exceedsMaxLength, type LocalRulesInput, result, skipped } from "./local-rules.js";
import { personalTerms } from "./personal.js";
import {
  type Capabilities,
  type ChecklistItem,
  describePolicy,
  RULE_IDS,
  RULE_UNAVAILABLE_MESSAGE_ID,
  type RuleId,
  ruleActive,
  ruleParams,
} from "./rules.js";
import type { StrengthEstimator } from "./strength.js";
import type { CheckInput, PasswordVerdict, RuleResult } from "./types.js";

export interface PasswordCheckerDeps {
  /** zxcvbn, normally {@link createWorkerStrengthEstimator}. */
  strength: StrengthEstimator;
  /**
   * Breached-password sources, honoured per tenant by `policy.breached.offline` / `.hibp`. Two slots
   * rather than one checker so that each tenant's switches can pick which ones run.
   */
  breached?: { offline?: BreachedChecker | undefined; hibp?: BreachedChecker | undefined } | undefined;
  /** Replaces the shipped global banned-word list (data/global-banned-words.ts). */
  globalBannedList?: readonly string[] | undefined;
}

export interface PasswordChecker {
  /** The full check. Rejects only on invalid input (VALIDATION_FAILED), never because of the password. */
  check(input: CheckInput): Promise<PasswordVerdict>;
  /** The synchronous local rules alone (length, characters, classes, banned, personal). */
  checkLocal(input: LocalRulesInput): RuleResult[];
  /** The checklist for a policy before anything is typed. */
  describe(policy: PasswordPolicy, options?: { history?: boolean }): ChecklistItem[];
}

// Directory values of any length are accepted: personal.ts looks at the first 256 characters only,
// and refusing a long display name would lock that person out of resetting.
const FIELD = z.string();
const inputSchema = z.object({
  password: z.string(),
  user: z.object({
    username: FIELD,
    displayName: FIELD.optional(),
    givenName: FIELD.optional(),
    surname: FIELD.optional(),
    email: FIELD.optional(),
  }),
  organisationName: FIELD,
  stage: z.enum(["live", "submit"]).optional(),
});

/**
 * Calls a dependency and settles to its value, or to null when it throws or rejects (the rule is then
 * "unavailable"). Synchronous on the way in, so a worker gets its job before this thread moves on.
 */
function settle<T>(call: () => Promise<T>): Promise<T | null> {
  try {
    return call().then(
      (value) => value,
      () => null,
    );
  } catch {
    return Promise.resolve(null);
  }
}

/** Tenant custom lists are indexed once and kept in a small LRU keyed by their content. */
const CUSTOM_CACHE_SIZE = 64;

export function createPasswordChecker(deps: PasswordCheckerDeps): PasswordChecker {
  const globalIndex = new BannedTermIndex(deps.globalBannedList ?? GLOBAL_BANNED_WORDS);
  const customCache = new Map<string, BannedTermIndex>();
  const offline = deps.breached?.offline;
  const hibp = deps.breached?.hibp;

  const customIndex = (terms: readonly string[]): BannedTermIndex | undefined => {
    if (terms.length === 0) return undefined;
    const key = terms.join("\n");
    const hit = customCache.get(key);
    if (hit !== undefined) {
      customCache.delete(key);
      customCache.set(key, hit);
      return hit;
    }
    const index = new BannedTermIndex(terms);
    customCache.set(key, index);
    if (customCache.size > CUSTOM_CACHE_SIZE) customCache.delete(customCache.keys().next().value!);
    return index;
  };

  const capabilities = (history: boolean): Capabilities => ({
    offlineBreached: offline !== undefined,
    hibp: hibp !== undefined,
    history,
  });

  const parsePolicy = (policy: unknown): PasswordPolicy => {
    const parsed = passwordPolicySchema.safeParse(policy);
    if (!parsed.success) throw new LatchkeyError("VALIDATION_FAILED", "password policy is invalid");
    return parsed.data;
  };

  const parseInput = (input: unknown) => {
    const parsed = inputSchema.safeParse(input);
    // Never echo the input: it contains the password.
    if (!parsed.success) throw new LatchkeyError("VALIDATION_FAILED", "password check input is invalid");
    return parsed.data;
  };

  const localRules = (input: LocalRulesInput): RuleResult[] =>
    checkLocalRules(input, { global: globalIndex, custom: customIndex(input.policy.bannedWords.custom) });

  const checkLocal = (input: LocalRulesInput): RuleResult[] => {
    const { password, user, organisationName } = parseInput(input);
    return localRules({ password, user, organisationName, policy: parsePolicy(input.policy) });
  };

  const unavailable = (id: RuleId, policy: PasswordPolicy): RuleResult => ({
    id,
    ok: false,
    messageId: RULE_UNAVAILABLE_MESSAGE_ID,
    params: ruleParams(id, policy),
    unavailable: true,
  });

  return {
    checkLocal,
    describe(policy, options = {}) {
      return describePolicy(parsePolicy(policy), capabilities(options.history ?? true));
    },

    async check(input) {
      const parsed = parseInput(input);
      if (input.history !== undefined && typeof input.history !== "function") {
        throw new LatchkeyError("VALIDATION_FAILED", "password check input is invalid");
      }
      const policy = parsePolicy(input.policy);
      const { password, user, organisationName } = parsed;
      const stage = parsed.stage ?? "submit";
      const can = capabilities(input.history !== undefined);
      const active = (id: RuleId) => ruleActive(id, policy, can);
      const byId = new Map<RuleId, RuleResult>();
      const deferred: RuleId[] = [];
      const finish = (): PasswordVerdict => {
        const rules = RULE_IDS.flatMap((id) => {
          const r = byId.get(id);
          return r === undefined ? [] : [r];
        });
        return { ok: rules.every((r) => r.ok), rules, deferred };
      };

      if (exceedsMaxLength(password, policy)) {
        for (const r of localRules({ password, policy, user, organisationName })) byId.set(r.id, r);
        for (const id of ["strength", "breached", "history"] as const)
          if (active(id)) byId.set(id, skipped(id, policy));
        return finish();
      }

      // Hand zxcvbn to its worker first, then run the local rules here while it works.
      const useOffline = policy.breached.offline && offline !== undefined;
      const useHibp = policy.breached.hibp && hibp !== undefined;
      const pending = Promise.all([
        active("strength")
          ? settle(() => deps.strength.score(password, personalTerms(user, organisationName).userInputs))
          : undefined,
        useOffline ? settle(() => offline.isBreached(password)) : undefined,
      ]);
      for (const r of localRules({ password, policy, user, organisationName })) byId.set(r.id, r);
      const [strength, offlineHit] = await pending;
      if (strength !== undefined) {
        byId.set(
          "strength",
          strength === null
            ? unavailable("strength", policy)
            : result("strength", strength >= policy.minStrength, {
                minStrength: policy.minStrength,
                score: strength,
              }),
        );
      }
      if (offlineHit !== undefined) {
        byId.set(
          "breached",
          offlineHit === null ? unavailable("breached", policy) : result("breached", !offlineHit),
        );
      }

      const allPassed = () => [...byId.values()].every((r) => r.ok);
      if (useHibp && offlineHit !== true) {
        if (stage === "live") deferred.push("breached");
        else if (!allPassed()) {
          if (!byId.has("breached")) byId.set("breached", skipped("breached", policy));
        } else {
          const hit = await settle(() => hibp.isBreached(password));
          byId.set("breached", hit === null ? unavailable("breached", policy) : result("breached", !hit));
        }
      }

      if (active("history") && input.history !== undefined) {
        if (stage === "live") deferred.push("history");
        else if (!allPassed()) byId.set("history", skipped("history", policy));
        else {
          const history = input.history;
          const answer = await settle(() => history(password));
          // Anything but a boolean is a broken history store: unavailable, never "not reused".
          const reused = typeof answer === "boolean" ? answer : null;
          byId.set(
            "history",
            reused === null
              ? unavailable("history", policy)
              : result("history", !reused, ruleParams("history", policy)),
          );
        }
      }
      return finish();
    },
  };
}
