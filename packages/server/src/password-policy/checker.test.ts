import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { type PasswordPolicy, passwordPolicySchema } from "../config/tenant-settings.js";
import { isLatchkeyError } from "../core/errors.js";
import type { BreachedChecker } from "./breached/types.js";
import { createPasswordChecker } from "./checker.js";
import type { StrengthEstimator } from "./strength.js";
import type { CheckInput } from "./types.js";

/** A deterministic estimator: 4 unless the password is listed as weak; counts its calls. */
function fakeStrength(weak: string[] = []): StrengthEstimator & { calls: number } {
  const est = {
    calls: 0,
    async score(password: string) {
      est.calls++;
      return weak.includes(password) ? 1 : 4;
    },
    async close() {},
  };
  return est;
}

function fakeBreached(list: string[]): BreachedChecker & { calls: number } {
  const b = {
    calls: 0,
    async isBreached(pw: string) {
      b.calls++;
      return list.includes(pw);
    },
  };
  return b;
}

const failing: BreachedChecker = {
  async isBreached() {
    throw new Error("network down");
  },
};

const policy = (over: object = {}): PasswordPolicy => passwordPolicySchema.parse(over);
const base = (password: string, over: Partial<CheckInput> = {}): CheckInput => ({
  password,
  policy: policy({ breached: { offline: true, hibp: true } }),
  user: { username: "jdoe", givenName: "Jane", surname: "Doe", displayName: "Jane Doe" },
  organisationName: "Contoso",
  ...over,
});
const byId = (rules: { id: string }[]) => Object.fromEntries(rules.map((r) => [r.id, r]));

describe("createPasswordChecker", () => {
  it("passes a good password with one entry per active rule, in checklist order", async () => {
    const checker = createPasswordChecker({
      strength: fakeStrength(),
      breached: { offline: fakeBreached([]), hibp: fakeBreached([]) },
    });
    const history = vi.fn(async () => false);
    const v = await checker.check(base("zebra-cactus-violin-41", { history }));
    expect(v.ok).toBe(true);
    expect(v.rules.map((r) => r.id)).toEqual([
      "length",
      "characters",
      "banned",
      "personal",
      "strength",
      "breached",
      "history",
    ]);
    expect(v.rules.every((r) => r.ok && r.messageId === `password.rule.${r.id}`)).toBe(true);
    expect(history).toHaveBeenCalledTimes(1);
    expect(v.deferred).toEqual([]);
  });

  it("fails strength below minStrength and reports the score", async () => {
    const checker = createPasswordChecker({ strength: fakeStrength(["zebra-cactus-violin-41"]) });
    const v = await checker.check(base("zebra-cactus-violin-41"));
    expect(v.ok).toBe(false);
    expect(byId(v.rules).strength).toMatchObject({ ok: false, params: { minStrength: 3, score: 1 } });
  });

  it("refuses a breached password found offline without asking HIBP", async () => {
    const hibp = fakeBreached([]);
    const checker = createPasswordChecker({
      strength: fakeStrength(),
      breached: { offline: fakeBreached(["zebra-cactus-violin-41"]), hibp },
    });
    const v = await checker.check(base("zebra-cactus-violin-41"));
    expect(byId(v.rules).breached).toMatchObject({ ok: false, messageId: "password.rule.breached" });
    expect(hibp.calls).toBe(0);
  });

  it("asks HIBP only on submit and only when everything else passed", async () => {
    const hibp = fakeBreached(["zebra-cactus-violin-41"]);
    const checker = createPasswordChecker({ strength: fakeStrength(), breached: { hibp } });
    const live = await checker.check(base("zebra-cactus-violin-41", { stage: "live" }));
    expect(live.ok).toBe(true);
    expect(live.deferred).toEqual(["breached"]);
    expect(byId(live.rules).breached).toBeUndefined();
    expect(hibp.calls).toBe(0);
    const failingFirst = await checker.check(base("short"));
    expect(byId(failingFirst.rules).breached).toMatchObject({ ok: false, skipped: true });
    expect(hibp.calls).toBe(0);
    const submit = await checker.check(base("zebra-cactus-violin-41"));
    expect(byId(submit.rules).breached).toMatchObject({ ok: false });
    expect(hibp.calls).toBe(1);
  });

  it("honours the tenant's breached switches", async () => {
    const offline = fakeBreached(["zebra-cactus-violin-41"]);
    const checker = createPasswordChecker({ strength: fakeStrength(), breached: { offline } });
    const v = await checker.check(
      base("zebra-cactus-violin-41", { policy: policy({ breached: { offline: false } }) }),
    );
    expect(v.ok).toBe(true);
    expect(byId(v.rules).breached).toBeUndefined();
    expect(offline.calls).toBe(0);
  });

  it("calls history last, only on submit and only when every other rule passed", async () => {
    const history = vi.fn(async () => true);
    const checker = createPasswordChecker({ strength: fakeStrength() });
    const weak = await checker.check(base("password1", { history }));
    expect(byId(weak.rules).history).toMatchObject({ ok: false, skipped: true, params: { count: 5 } });
    const live = await checker.check(base("zebra-cactus-violin-41", { history, stage: "live" }));
    expect(live.deferred).toEqual(["history"]);
    expect(history).not.toHaveBeenCalled();
    const reused = await checker.check(base("zebra-cactus-violin-41", { history }));
    expect(reused.ok).toBe(false);
    expect(byId(reused.rules).history).toMatchObject({ ok: false, messageId: "password.rule.history" });
    expect(history).toHaveBeenCalledWith("zebra-cactus-violin-41");
    const none = await checker.check(
      base("zebra-cactus-violin-41", { history, policy: policy({ history: 0 }) }),
    );
    expect(byId(none.rules).history).toBeUndefined();
  });

  it("fails closed with the unavailable message when a dependency throws", async () => {
    const strength: StrengthEstimator = {
      score: () => Promise.reject(new Error("worker died")),
      close: async () => {},
    };
    const checker = createPasswordChecker({ strength, breached: { offline: failing } });
    const v = await checker.check(
      base("zebra-cactus-violin-41", {
        history: () => {
          throw new Error("store down");
        },
      }),
    );
    expect(v.ok).toBe(false);
    const r = byId(v.rules);
    expect(r.strength).toMatchObject({
      ok: false,
      unavailable: true,
      messageId: "password.rule.unavailable",
    });
    expect(r.breached).toMatchObject({ ok: false, unavailable: true });
    expect(r.history).toMatchObject({ ok: false, skipped: true });
  });

  it("treats a dependency that throws synchronously, or a history answer that is not a boolean, as unavailable", async () => {
    const strength: StrengthEstimator = {
      score: () => {
        throw new Error("sync failure");
      },
      close: async () => {},
    };
    const sync = await createPasswordChecker({ strength }).check(base("zebra-cactus-violin-41"));
    expect(byId(sync.rules).strength).toMatchObject({ ok: false, unavailable: true });
    const odd = await createPasswordChecker({ strength: fakeStrength() }).check(
      base("zebra-cactus-violin-41", { history: async () => "no" as unknown as boolean }),
    );
    expect(byId(odd.rules).history).toMatchObject({ ok: false, unavailable: true });
  });

  it("rejects invalid input with VALIDATION_FAILED and never puts the password in the error", async () => {
    const checker = createPasswordChecker({ strength: fakeStrength() });
    const bad = [
      { ...base("secret-pw-123"), password: 42 },
      { ...base("secret-pw-123"), user: null },
      { ...base("secret-pw-123"), policy: { minLength: -3 } },
      { ...base("secret-pw-123"), stage: "sometimes" },
      { ...base("secret-pw-123"), history: "yes" },
    ];
    for (const input of bad) {
      const error = await checker.check(input as unknown as CheckInput).catch((e: unknown) => e);
      expect(isLatchkeyError(error) && error.code === "VALIDATION_FAILED").toBe(true);
      expect(JSON.stringify(error) + String(error)).not.toContain("secret-pw-123");
    }
  });

  it("validates the input of the synchronous subset too", () => {
    const checker = createPasswordChecker({ strength: fakeStrength() });
    const input = {
      password: "zebra-cactus-violin-41",
      policy: policy(),
      user: { username: "jdoe" },
      organisationName: "Org",
    };
    expect(checker.checkLocal(input).every((r) => r.ok)).toBe(true);
    expect(() => checker.checkLocal({ ...input, password: 7 } as unknown as typeof input)).toThrow(/invalid/);
  });

  it("describes the checklist for a policy with its params", () => {
    const checker = createPasswordChecker({ strength: fakeStrength(), breached: { hibp: fakeBreached([]) } });
    const items = checker.describe(policy({ requireClasses: 3, breached: { hibp: true } }));
    expect(items.map((i) => i.id)).toEqual([
      "length",
      "characters",
      "classes",
      "banned",
      "personal",
      "strength",
      "breached",
      "history",
    ]);
    expect(items.find((i) => i.id === "breached")?.live).toBe(false);
    expect(items.find((i) => i.id === "classes")?.params).toEqual({ required: 3 });
  });

  it("never returns the password in a verdict", async () => {
    const checker = createPasswordChecker({
      strength: fakeStrength(),
      breached: { offline: fakeBreached([]) },
    });
    for (const pw of ["zebra-cactus-violin-41", "Jane-Doe-2024!", "x".repeat(300)]) {
      const v = await checker.check(base(pw, { history: async () => false }));
      expect(JSON.stringify(v)).not.toContain(pw);
    }
  });
});

describe("properties", () => {
  const strength = fakeStrength();
  const checker = createPasswordChecker({ strength, breached: { offline: fakeBreached([]) } });
  const anyPassword = fc.string({ unit: "binary", maxLength: 10_000 });

  it("never throws on arbitrary Unicode up to 10k characters", async () => {
    await fc.assert(
      fc.asyncProperty(anyPassword, async (password) => {
        const v = await checker.check(base(password));
        expect(typeof v.ok).toBe("boolean");
        expect(v.ok).toBe(v.rules.every((r) => r.ok));
      }),
      { numRuns: 200 },
    );
  });

  it("is deterministic", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: "grapheme", maxLength: 300 }), async (password) => {
        expect(await checker.check(base(password))).toEqual(await checker.check(base(password)));
      }),
      { numRuns: 200 },
    );
  });

  it("refuses a password longer than maxLength without running zxcvbn or the breached check", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 8, max: 300 }),
        fc.string({ unit: "binary", minLength: 1, maxLength: 2000 }),
        async (maxLength, filler) => {
          const est = fakeStrength();
          const offline = fakeBreached([]);
          const c = createPasswordChecker({ strength: est, breached: { offline } });
          let password = filler;
          while ([...password].length <= maxLength) password += filler;
          const v = await c.check(
            base(password, { policy: policy({ maxLength, breached: { offline: true } }) }),
          );
          expect(v.ok).toBe(false);
          expect(byId(v.rules).length).toMatchObject({ ok: false });
          expect(est.calls).toBe(0);
          expect(offline.calls).toBe(0);
        },
      ),
      { numRuns: 100 },
    );
  });
});
