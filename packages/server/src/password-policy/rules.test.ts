import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { passwordPolicySchema } from "../config/tenant-settings.js";
import {
  describePolicy,
  PASSWORD_RULES,
  RULE_IDS,
  RULE_UNAVAILABLE_MESSAGE_ID,
  RULE_UNAVAILABLE_TEXT,
  renderRuleText,
} from "./rules.js";

const all = { offlineBreached: true, hibp: true, history: true };

describe("rule metadata", () => {
  it("has one definition per rule id, in order, with message ids password.rule.<id>", () => {
    expect(PASSWORD_RULES.map((r) => r.id)).toEqual([...RULE_IDS]);
    for (const r of PASSWORD_RULES) expect(r.messageId).toBe(`password.rule.${r.id}`);
  });

  it("renders English text with params and leaves unknown slots visible", () => {
    expect(renderRuleText("password.rule.length", { min: 8, max: 256 })).toBe("Between 8 and 256 characters");
    expect(renderRuleText("password.rule.history", {})).toBe("Not one of your last {count} passwords");
    expect(renderRuleText(RULE_UNAVAILABLE_MESSAGE_ID)).toBe(RULE_UNAVAILABLE_TEXT);
    expect(renderRuleText("password.rule.classes", { required: 3, extra: "x" })).toContain("At least 3 of");
  });

  it("is documented in docs/password-policy.md, id, message id and text alike", async () => {
    const doc = await readFile(new URL("../../../../docs/password-policy.md", import.meta.url), "utf8");
    for (const r of PASSWORD_RULES) expect(doc).toContain(`| \`${r.id}\` | \`${r.messageId}\` | ${r.text} |`);
    expect(doc).toContain(RULE_UNAVAILABLE_MESSAGE_ID);
  });
});

describe("describePolicy", () => {
  it("lists the default policy's rules with the policy's numbers", () => {
    const items = describePolicy(passwordPolicySchema.parse({}), all);
    expect(items.map((i) => i.id)).toEqual([
      "length",
      "characters",
      "banned",
      "personal",
      "strength",
      "breached",
      "history",
    ]);
    expect(items.find((i) => i.id === "length")?.params).toEqual({ min: 8, max: 256 });
    expect(items.find((i) => i.id === "history")).toMatchObject({ params: { count: 5 }, live: false });
  });

  it("drops rules the policy switches off or the server cannot run", () => {
    const policy = passwordPolicySchema.parse({
      minStrength: 0,
      history: 0,
      bannedWords: { enabled: false },
      breached: { offline: false, hibp: false },
    });
    expect(describePolicy(policy, all).map((i) => i.id)).toEqual(["length", "characters"]);
    const noFilter = describePolicy(passwordPolicySchema.parse({}), {
      offlineBreached: false,
      hibp: false,
      history: false,
    });
    expect(noFilter.map((i) => i.id)).not.toContain("breached");
    expect(noFilter.map((i) => i.id)).not.toContain("history");
  });
});
