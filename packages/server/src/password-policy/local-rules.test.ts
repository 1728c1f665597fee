import { describe, expect, it } from "vitest";
import { passwordPolicySchema } from "../config/tenant-settings.js";
import { BannedTermIndex } from "./banned-index.js";
import { GLOBAL_BANNED_WORDS } from "./data/global-banned-words.js";
import { characterClasses, checkLocalRules, countCodePointsUpTo } from "./local-rules.js";
import { normalise, SUBSTITUTIONS } from "./normalise.js";
import { personalTerms } from "./personal.js";

const global = new BannedTermIndex(GLOBAL_BANNED_WORDS);
const policy = (over: object = {}) => passwordPolicySchema.parse(over);
const user = { username: "CORP\\jdoe", displayName: "Jane Doe", givenName: "Jane", surname: "Doe" };

function verdict(
  password: string,
  p = policy(),
  u: Parameters<typeof checkLocalRules>[0]["user"] = user,
  org = "Contoso Ltd",
) {
  const rules = checkLocalRules({ password, policy: p, user: u, organisationName: org }, { global });
  return Object.fromEntries(rules.map((r) => [r.id, r]));
}

describe("length", () => {
  it("accepts 8 to 256 characters by default and refuses either side", () => {
    expect(verdict("kq7#vZp2").length?.ok).toBe(true);
    expect(verdict("kq7#vZp").length?.ok).toBe(false);
    expect(verdict("x".repeat(256)).length?.ok).toBe(true);
    expect(verdict("x".repeat(257)).length?.ok).toBe(false);
    expect(verdict("kq7#vZp").length?.params).toEqual({ min: 8, max: 256 });
  });

  it("counts code points, so an emoji is one character", () => {
    expect(countCodePointsUpTo("😀😀😀😀", 100)).toBe(4);
    expect(verdict("😀😀😀😀😀😀😀").length?.ok).toBe(false);
    expect(verdict("😀😀😀😀😀😀😀😀").length?.ok).toBe(true);
  });

  it("stops counting past the limit and skips every other rule on an over-long password", () => {
    expect(countCodePointsUpTo("a".repeat(10_000), 300)).toBe(301);
    const v = verdict("password".repeat(100), policy({ requireClasses: 3 }));
    expect(v.length?.ok).toBe(false);
    for (const id of ["characters", "classes", "banned", "personal"])
      expect(v[id]).toMatchObject({ ok: false, skipped: true });
  });
});

describe("characters", () => {
  it("refuses control characters and unpaired surrogates, accepts other Unicode", () => {
    expect(verdict("kq7#vZp2\n").characters?.ok).toBe(false);
    expect(verdict("kq7#\u0000vZp2").characters?.ok).toBe(false);
    expect(verdict("kq7#vZp2\uD800").characters?.ok).toBe(false);
    expect(verdict("kq7#vZp2 😀 ünï 日本").characters?.ok).toBe(true);
  });
});

describe("classes", () => {
  it("counts lowercase, uppercase, digits and everything else", () => {
    expect(characterClasses("abc")).toBe(1);
    expect(characterClasses("abcD")).toBe(2);
    expect(characterClasses("abcD1")).toBe(3);
    expect(characterClasses("abcD1 ")).toBe(4);
    expect(characterClasses("ÉLAN")).toBe(1);
    expect(characterClasses("日本")).toBe(1);
  });

  it("is absent at 0 and enforced at the policy's count", () => {
    expect(verdict("kq7vzpqx").classes).toBeUndefined();
    expect(verdict("kq7vzpqx", policy({ requireClasses: 3 })).classes).toMatchObject({
      ok: false,
      params: { required: 3 },
    });
    expect(verdict("kq7vZpqx", policy({ requireClasses: 3 })).classes?.ok).toBe(true);
  });
});

describe("banned", () => {
  it("refuses passwords built from global terms and reports the score", () => {
    expect(verdict("P@ssw0rd123").banned).toMatchObject({ ok: false, params: { score: 4, minScore: 5 } });
    expect(verdict("Welcome2024").banned?.ok).toBe(true); // [welcome] + 2 0 2 4 = 5 points, Entra's threshold
    expect(verdict("Welcome24").banned?.ok).toBe(false);
    expect(verdict("qwertyuiop!").banned?.ok).toBe(false);
    expect(verdict("zebra-cactus-violin-41").banned?.ok).toBe(true);
  });

  it("uses the tenant's custom list and honours useGlobalList and minScore", () => {
    const custom = new BannedTermIndex(["widget"]);
    const run = (password: string, p = policy()) =>
      checkLocalRules({ password, policy: p, user, organisationName: "Org" }, { global, custom }).find(
        (r) => r.id === "banned",
      );
    expect(run("W1dg3t!!")?.ok).toBe(false);
    expect(run("password12345", policy({ bannedWords: { useGlobalList: false } }))?.ok).toBe(true);
    expect(run("password12345", policy({ bannedWords: { minScore: 7 } }))?.ok).toBe(false);
  });

  it("is absent when banned words are disabled", () => {
    const v = verdict("password", policy({ bannedWords: { enabled: false } }));
    expect(v.banned).toBeUndefined();
    expect(v.personal).toBeUndefined();
  });
});

describe("personal", () => {
  it("refuses the person's names, username and organisation, disguised or not (Entra's 'Poll' example)", () => {
    const poll = { username: "poll", givenName: "Poll" };
    expect(verdict("p0LL23fb", policy(), poll).personal?.ok).toBe(false);
    expect(verdict("xxJ4neyy99!", policy()).personal?.ok).toBe(false);
    expect(verdict("c0nt0s0-rocks-9", policy()).personal?.ok).toBe(false);
    expect(verdict("my-jdoe-pass-77", policy(), { username: "CORP\\jdoe" }).personal?.ok).toBe(false);
    expect(verdict("my-jdoex-pass-77", policy(), { username: "jdoex@corp.example" }).personal?.ok).toBe(
      false,
    );
    expect(verdict("zebra-cactus-violin-41").personal?.ok).toBe(true);
  });

  it("ignores names shorter than four characters, as Entra does", () => {
    expect(verdict("doe-zebra-cactus-7", policy(), { username: "x", surname: "Doe" }).personal?.ok).toBe(
      true,
    );
  });

  it("takes the account from DOMAIN\\user and user@domain and the local part of the e-mail", () => {
    const { terms } = personalTerms(
      { username: "CORP\\asmith", email: "alice.smith@example.org", displayName: "Alice Smith" },
      "Example Org",
    );
    expect(terms).toEqual(
      expect.arrayContaining(["asmith", "alice", "smith", "alicesmith", "example", "exampleorg"]),
    );
    expect(terms).not.toContain("corp");
  });
});

describe("normalisation", () => {
  it("applies every substitution in the table after lowercasing", () => {
    for (const [from, to] of Object.entries(SUBSTITUTIONS)) expect(normalise(`x${from}x`)).toBe(`x${to}x`);
    expect(normalise("P@$$W0RD")).toBe("password");
    expect(normalise("ｐàsswörd")).toBe("password");
  });

  it("matches the table in docs/password-policy.md", async () => {
    const { readFile } = await import("node:fs/promises");
    const doc = await readFile(new URL("../../../../docs/password-policy.md", import.meta.url), "utf8");
    for (const [from, to] of Object.entries(SUBSTITUTIONS)) {
      const cell = from === "|" ? "\\|" : from;
      expect(doc).toContain(`| \`${cell}\` | \`${to}\` |`);
    }
  });
});
