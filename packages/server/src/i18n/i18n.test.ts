import { describe, expect, it } from "vitest";
import { ERRORS } from "../core/errors.js";
import { PASSWORD_RULES, RULE_IDS, RULE_UNAVAILABLE_MESSAGE_ID } from "../password-policy/rules.js";
import { en, hasMessage, negotiateLocale, t, translator } from "./index.js";

describe("English catalogue", () => {
  it("has a text for every messageId in the error registry", () => {
    const missing = Object.entries(ERRORS)
      .filter(([, def]) => !hasMessage(def.messageId))
      .map(([code, def]) => `${code} → ${def.messageId}`);
    expect(missing).toEqual([]);
  });

  it("has the password rule ids with their parameters", () => {
    for (const id of ["length", "classes", "banned", "personal", "strength", "breached", "history"]) {
      expect(hasMessage(`password.rule.${id}`), id).toBe(true);
    }
    expect(t("en", "password.rule.length", { min: 12, max: 256 })).toBe(
      "be between 12 and 256 characters long",
    );
    expect(t("en", "password.rule.classes", { required: 3 })).toContain("at least 3 of these");
  });

  it("has a text for every rule the password policy defines, with the policy's parameter names", () => {
    for (const rule of PASSWORD_RULES) {
      expect(hasMessage(rule.messageId), rule.messageId).toBe(true);
      // Each {param} of the policy's English source must be an i18next {{param}} here (or the plural count).
      const params = [...rule.text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
      // Numbers, because `count` also picks the plural form.
      const values = Object.fromEntries(params.map((p, i) => [p, 1001 + i]));
      const text = t("en", rule.messageId, values);
      for (const p of params) expect(text, `${rule.messageId} {${p}}`).toContain(String(values[p]));
    }
    expect(hasMessage(RULE_UNAVAILABLE_MESSAGE_ID)).toBe(true);
    for (const id of RULE_IDS) expect(hasMessage(`reset.password.rule_failed.${id}`), id).toBe(true);
  });

  it("chooses plural forms by count", () => {
    expect(t("en", "password.rule.history", { count: 1 })).toBe("not be your last password");
    expect(t("en", "password.rule.history", { count: 5 })).toBe("not be one of your last 5 passwords");
    expect(t("en", "password.rules.summary.failing", { count: 2 })).toBe("2 rules are not met yet.");
  });

  it("keeps every text plain: no markup, no unbalanced placeholders", () => {
    for (const [id, text] of Object.entries(en)) {
      expect(text, id).not.toMatch(/[<>]/);
      expect(text.split("{{").length, id).toBe(text.split("}}").length);
    }
  });

  it("does not HTML-escape interpolated values (the templates escape exactly once)", () => {
    expect(t("en", "common.page_title", { page: "<b>", organisation: "A & B" })).toBe("<b> – A & B");
  });

  it("falls back to English for an unknown locale", () => {
    expect(t("xx", "reset.identify.title")).toBe("Reset your password");
    expect(translator("de-DE")("reset.identify.title")).toBe("Reset your password");
  });
});

describe("negotiateLocale", () => {
  it("matches a regional tag to its language", () => {
    expect(negotiateLocale("en-GB,en;q=0.9")).toBe("en");
  });

  it("falls back to English when nothing matches or the header is missing or hostile", () => {
    expect(negotiateLocale(undefined)).toBe("en");
    expect(negotiateLocale("")).toBe("en");
    expect(negotiateLocale("fr-CH, de;q=0.8")).toBe("en");
    expect(negotiateLocale("<script>;q=1, ;;;,")).toBe("en");
    expect(negotiateLocale(`${"x-".repeat(10_000)}`)).toBe("en");
  });

  // Only English ships today, so the ordering is tested against a wider supported set.
  const langs = ["en", "fr", "de"] as const;

  it("orders by quality, then by position, ignoring q=0", () => {
    expect(negotiateLocale("en;q=0.5, fr", langs, "en")).toBe("fr");
    expect(negotiateLocale("de, fr", langs, "en")).toBe("de");
    expect(negotiateLocale("fr;q=0, de;q=0.1", langs, "en")).toBe("de");
    expect(negotiateLocale(["fr-CA;q=0.9", "de;q=0.95"], langs, "en")).toBe("de");
    expect(negotiateLocale("it, *;q=0.1", langs, "en")).toBe("en");
  });

  it("prefers an exact regional match over the language", () => {
    expect(negotiateLocale("pt-BR", ["pt", "pt-br"], "pt")).toBe("pt-br");
    expect(negotiateLocale("pt-PT", ["pt", "pt-br"], "pt")).toBe("pt");
  });
});
