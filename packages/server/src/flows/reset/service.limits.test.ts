/**
 * Lifetimes and throttles of the reset flow with a ManualClock, through the service itself (Entra's
 * defaults, see shared/reference/entra-sspr.md §3): a flow lives 15 minutes, a code 5; 5 wrong codes
 * on one method within an hour, or 5 failed identity proofs within 24 hours, lock self-service for
 * 24 hours, shown with its end; 10 emails in 10 minutes lock it too; the lock lifts after 24 hours;
 * flow starts are limited per client address.
 */
import { afterAll, describe, expect, it } from "vitest";
import { isLatchkeyError, type LatchkeyError } from "../../core/errors.js";
import type { User } from "../../store/schema.js";
import type { ResetView } from "./service.js";
import { ANSWERS, createResetFixture, type ResetFixture, type Walk } from "./testing/fixture.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const fixtures: ResetFixture[] = [];
afterAll(async () => {
  for (const f of fixtures) await f.close();
});

async function setup(settings: object = {}): Promise<{ fx: ResetFixture; alice: User }> {
  const fx = await createResetFixture();
  fixtures.push(fx);
  fx.configure({ ...settings, reset: { disclosure: "guided", ...(settings as { reset?: object }).reset } });
  const alice = await fx.fullUser("alice2");
  return { fx, alice };
}

async function refusal(p: Promise<unknown>): Promise<LatchkeyError> {
  try {
    await p;
  } catch (e) {
    if (isLatchkeyError(e)) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

function blockedUntil(view: ResetView): number | null {
  expect(view.state).toBe("blocked");
  return view.state === "blocked" && view.reason === "throttled" ? view.lockedUntil : null;
}

/** A new flow for alice, identified; returns the walk. */
async function identified(fx: ResetFixture, username = "alice2"): Promise<Walk> {
  const w = await fx.begin();
  await w.identify(username);
  return w;
}

async function wrongCode(w: Walk, method: "email" | "sms" = "sms"): Promise<ResetView | LatchkeyError> {
  await w.challengeWithCode(method, "111111", undefined);
  try {
    return await w.verify({ code: "999999" });
  } catch (e) {
    if (isLatchkeyError(e)) return e;
    throw e;
  }
}

describe("lifetimes", () => {
  it("a flow expires after 15 minutes: FLOW_EXPIRED, and reset_flow.expired is recorded", async () => {
    const { fx } = await setup();
    const w = await fx.begin();
    expect(w.view.expiresAt - fx.clock.now()).toBe(15 * MINUTE);
    fx.clock.advance(15 * MINUTE - 1);
    await w.identify("alice2");
    expect(w.view.state).toBe("verify");
    fx.clock.advance(1);
    expect((await refusal(w.challenge("totp"))).code).toBe("FLOW_EXPIRED");
    expect((await refusal(fx.service.view(fx.tenantNow(), w.view.flowId, w.step().binding))).code).toBe(
      "FLOW_EXPIRED",
    );
    expect((await fx.auditEvents()).map((e) => e.event)).toContain("reset_flow.expired");
  });

  it("a code expires after 5 minutes", async () => {
    const { fx } = await setup();
    const w = await identified(fx);
    await w.challengeWithCode("email", "123456");
    fx.clock.advance(5 * MINUTE);
    expect((await refusal(w.verify({ code: "123456" }))).code).toBe("VERIFICATION_FAILED");
    const failed = (await fx.auditEvents()).filter((e) => e.event === "verification.failed");
    expect(failed.at(-1)?.reason).toBe("code_expired");

    const v = await identified(fx);
    await v.challengeWithCode("email", "654321");
    fx.clock.advance(5 * MINUTE - 1);
    expect((await v.verify({ code: "654321" })).state).toBe("new_password");
  });
});

describe("wrong codes: 5 per method per hour, then 24 hours locked", () => {
  it("the fifth wrong code locks at once, shows the end of the lock, and refuses even a right code", async () => {
    const { fx } = await setup();
    const w = await identified(fx);
    for (let i = 1; i <= 4; i++) {
      const r = await wrongCode(w);
      expect(isLatchkeyError(r) && r.code, `try ${i}`).toBe("VERIFICATION_FAILED");
    }
    const lockedAt = fx.clock.now();
    const fifth = await wrongCode(w);
    expect(isLatchkeyError(fifth)).toBe(false);
    expect(blockedUntil(fifth as ResetView)).toBe(lockedAt + DAY);
    expect((await fx.auditEvents()).map((e) => e.event)).toContain("throttle.locked");

    // A new flow: guided mode says so at identify, with the end; strict mode when a method is chosen.
    const next = await identified(fx);
    expect(blockedUntil(next.view)).toBe(lockedAt + DAY);
    fx.configure({ reset: { disclosure: "strict" } });
    const strict = await identified(fx);
    expect(strict.view.state).toBe("verify");
    const e = await refusal(strict.challenge("totp"));
    expect(e).toMatchObject({ code: "THROTTLED", context: { until: lockedAt + DAY } });
  });

  it("counts per method and per hour (with the proof limit out of the way)", async () => {
    const { fx } = await setup({ throttles: { failedIdentityProofsPer24h: 100 } });
    const w = await identified(fx);
    for (let i = 0; i < 4; i++) await wrongCode(w, "sms");
    for (let i = 0; i < 4; i++) await wrongCode(w, "email");
    expect(w.view.state).toBe("verify");
    fx.clock.advance(HOUR);
    const v = await identified(fx);
    for (let i = 0; i < 4; i++) {
      const r = await wrongCode(v, "sms");
      expect(isLatchkeyError(r) && r.code).toBe("VERIFICATION_FAILED");
    }
    expect(blockedUntil((await wrongCode(v, "sms")) as ResetView)).toBe(fx.clock.now() + DAY);
  });
});

describe("failed identity proofs: 5 in 24 hours, then 24 hours locked", () => {
  it("spread over methods and hours, the fifth failure locks, and no further proof is checked", async () => {
    const { fx } = await setup();
    const w = await identified(fx);
    await wrongCode(w, "sms");
    await wrongCode(w, "sms");
    fx.clock.advance(3 * HOUR);
    const v = await identified(fx);
    await wrongCode(v, "email");
    await v.challenge("questions");
    const asked = v.view.state === "verify" && v.view.challenge?.prompt.kind === "questions";
    expect(asked).toBe(true);
    expect((await refusal(v.verify({ answers: { "lk.first-pet": "wrong" } }))).code).toBe(
      "VERIFICATION_FAILED",
    );
    fx.clock.advance(20 * HOUR);
    const u = await identified(fx);
    await u.challenge("totp");
    const lockedAt = fx.clock.now();
    const fifth = await u.verify({ code: "000000" }).catch((e: LatchkeyError) => e);
    expect(blockedUntil(fifth as ResetView)).toBe(lockedAt + DAY);
    // The right TOTP code in a new flow is not even looked at.
    const t = await identified(fx);
    expect(blockedUntil(t.view)).toBe(lockedAt + DAY);
  });

  it("failures older than 24 hours no longer count", async () => {
    const { fx } = await setup();
    const w = await identified(fx);
    for (let i = 0; i < 4; i++) await wrongCode(w, i % 2 ? "sms" : "email");
    fx.clock.advance(DAY);
    const v = await identified(fx);
    for (let i = 0; i < 4; i++) {
      const r = await wrongCode(v, "email");
      expect(isLatchkeyError(r) && r.code).toBe("VERIFICATION_FAILED");
    }
  });
});

describe("emails: 10 in 10 minutes, then 24 hours locked", () => {
  it("sends ten, refuses the eleventh with the end of the lock", async () => {
    const { fx } = await setup();
    const w = await identified(fx);
    for (let i = 0; i < 10; i++) {
      await w.challenge("email");
      expect(w.view.state).toBe("verify");
      fx.clock.advance(30_000);
    }
    expect((await fx.deliver()).filter((m) => m.channel === "email")).toHaveLength(10);
    const eleventh = await w.challenge("email");
    expect(blockedUntil(eleventh)).toBe(fx.clock.now() + DAY);
    expect(await fx.deliver()).toEqual([]);
    expect(blockedUntil((await identified(fx)).view)).toBe(fx.clock.now() + DAY);
  });

  it("ten spread over more than 10 minutes are fine", async () => {
    const { fx } = await setup();
    const w = await identified(fx);
    for (let i = 0; i < 15; i++) {
      await w.challenge("email");
      expect(w.view.state).toBe("verify");
      fx.clock.advance(MINUTE + 1);
    }
  });
});

describe("a lockout lifts after 24 hours", () => {
  it("and the user can then reset", async () => {
    const { fx } = await setup();
    const w = await identified(fx);
    for (let i = 0; i < 5; i++) await wrongCode(w, "sms");
    const until = blockedUntil(w.view);
    expect(until).toBe(fx.clock.now() + DAY);
    fx.clock.advance(DAY - 1);
    expect(blockedUntil((await identified(fx)).view)).toBe(until);
    fx.clock.advance(1);
    const v = await identified(fx);
    expect(v.view.state).toBe("verify");
    await v.challenge("totp");
    expect((await v.verify({ code: fx.totp() })).state).toBe("new_password");
    expect((await v.password("Granite-Otter-Lantern-58")).state).toBe("completed");
  });
});

describe("a successful reset", () => {
  it("starts the failure counters again", async () => {
    const { fx } = await setup();
    const w = await identified(fx);
    for (let i = 0; i < 4; i++) await wrongCode(w, "sms");
    await w.challenge("totp");
    expect((await w.verify({ code: fx.totp() })).state).toBe("new_password");
    expect((await w.password("Granite-Otter-Lantern-58")).state).toBe("completed");
    const left = await fx.store.db.selectFrom("throttle_counters").select("key").execute();
    expect(left.map((r) => r.key).filter((k) => k.includes(":u:"))).toEqual([]);
    // Four more failures do not lock: the earlier four were forgotten.
    const v = await identified(fx);
    for (let i = 0; i < 4; i++) {
      const r = await wrongCode(v, "email");
      expect(isLatchkeyError(r) && r.code).toBe("VERIFICATION_FAILED");
    }
  });
});

describe("flow starts per client address", () => {
  it("refuses starts past the per-minute limit with the end of the lock, per address, for a minute", async () => {
    const { fx } = await setup({ throttles: { perIpPerMinute: 3 } });
    for (let i = 0; i < 3; i++) await fx.begin();
    const e = await refusal(fx.begin());
    expect(e).toMatchObject({ code: "THROTTLED", context: { until: fx.clock.now() + MINUTE } });
    expect((await fx.auditEvents()).filter((a) => a.reason === "ip_throttled")).toHaveLength(1);
    // Another address is not affected.
    await fx.begin({ ip: "192.0.2.99" });
    fx.clock.advance(MINUTE);
    await fx.begin();
  });
});

describe("questions and phones share the limits", () => {
  it("a wrong SMS code and wrong answers count as failed proofs of the same user", async () => {
    const { fx } = await setup({ throttles: { failedIdentityProofsPer24h: 2 } });
    const w = await identified(fx);
    await wrongCode(w, "sms");
    await w.challenge("questions");
    const prompt = w.view.state === "verify" ? w.view.challenge?.prompt : null;
    const ids = prompt?.kind === "questions" ? prompt.questions.map((q) => q.id) : [];
    expect(ids.length).toBe(2);
    const answers = Object.fromEntries(
      ids.map((id) => [id, ANSWERS.find((a) => a.questionId === id)?.answer]),
    );
    // One wrong answer among right ones fails the whole set.
    answers[ids[0] ?? ""] = "wrong";
    const second = await w.verify({ answers }).catch((e: LatchkeyError) => e);
    expect(blockedUntil(second as ResetView)).toBe(fx.clock.now() + DAY);
  });
});
