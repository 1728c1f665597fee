/**
 * The reset service's steps end to end, without HTTP: a cloud user's reset (the store then holds the
 * new hash; history, sessions, notification and audit), administrators (two gates, never security
 * questions, in either disclosure mode), phantoms (nothing sent, nothing passes), and the
 * "contact your administrator" path.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isLatchkeyError, type LatchkeyError } from "../../core/errors.js";
import { verifyPassword } from "../../core/password-hash.js";
import type { User } from "../../store/schema.js";
import type { PasswordRejectedError, ResetView } from "./service.js";
import { ANSWERS, createResetFixture, EMAIL, PHONE, type ResetFixture } from "./testing/fixture.js";

let fx: ResetFixture;
let alice: User;
let admin: User;

beforeAll(async () => {
  fx = await createResetFixture();
  alice = await fx.fullUser("alice2", { password: "Old-Password-1!" });
  admin = await fx.fullUser("root", { isAdmin: true });
});
afterAll(async () => {
  await fx.close();
});

async function refusal(p: Promise<unknown>): Promise<LatchkeyError> {
  try {
    await p;
  } catch (e) {
    if (isLatchkeyError(e)) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

function offered(view: ResetView): string[] {
  return view.state === "verify" ? view.methods.map((m) => m.type) : [];
}

function questionIds(view: ResetView): string[] {
  const p = view.state === "verify" ? view.challenge?.prompt : undefined;
  return p?.kind === "questions" ? p.questions.map((q) => q.id) : [];
}

function rightAnswers(ids: string[]): Record<string, string> {
  return Object.fromEntries(ids.map((id) => [id, ANSWERS.find((a) => a.questionId === id)?.answer ?? ""]));
}

describe("a cloud user's reset", () => {
  it("guided: masked methods, email code and new password; the store holds the new hash", async () => {
    fx.configure({ reset: { disclosure: "guided" } });
    const w = await fx.begin();
    const view = await w.identify("ALICE2 ");
    expect(view.state === "verify" && view.methods).toEqual([
      { type: "email", hint: "a•••@e•••.test", needsContact: false },
      { type: "sms", hint: "•••• •••• 00", needsContact: false },
      { type: "totp", hint: "Authenticator app", needsContact: false },
      { type: "questions", hint: "Security questions", needsContact: false },
    ]);
    await w.challengeWithCode("email", "246810");
    const [sent] = await fx.deliver();
    expect(sent).toMatchObject({ channel: "email", to: EMAIL });
    expect(sent?.text).toContain("246810");
    expect((await w.verify({ code: "246810" })).state).toBe("new_password");

    // The policy refuses the current password (history) and shows why.
    const e = (await refusal(w.password("Old-Password-1!"))) as PasswordRejectedError;
    expect(e.code).toBe("PASSWORD_REJECTED");
    expect(e.verdict.rules.find((r) => r.id === "history")?.ok).toBe(false);

    expect((await w.password("Granite-Otter-Lantern-58")).state).toBe("completed");
    const row = await fx.store.db
      .selectFrom("users")
      .selectAll()
      .where("id", "=", alice.id)
      .executeTakeFirstOrThrow();
    expect(await verifyPassword(row.password_hash ?? "", "Granite-Otter-Lantern-58")).toBe(true);
    expect(await verifyPassword(row.password_hash ?? "", "Old-Password-1!")).toBe(false);
    const notice = (await fx.deliver()).find((m) => m.to === EMAIL);
    expect(notice?.subject).toContain("your password was reset");
    const events = (await fx.auditEvents()).map((a) => a.event);
    expect(events).toEqual(
      expect.arrayContaining(["password.rejected", "password.reset", "reset_flow.completed"]),
    );
    // The completed flow cannot be used again.
    expect((await refusal(w.password("Another-Fine-Password-77"))).code).toBe("FLOW_WRONG_STATE");
  });

  it("strict: the same list for everybody, the contact typed must match", async () => {
    fx.configure({ reset: { disclosure: "strict" } });
    const w = await fx.begin();
    const view = await w.identify("alice2");
    expect(view.state === "verify" && view.methods.map((m) => [m.type, m.hint, m.needsContact])).toEqual([
      ["email", null, true],
      ["sms", null, true],
      ["totp", null, false],
      ["questions", null, false],
    ]);
    expect(view.state === "verify" && view.gatesRequired).toBeNull();
    expect((await refusal(w.challenge("sms"))).code).toBe("VALIDATION_FAILED");
    await w.challenge("sms", "+1 500 555 0199");
    expect(await fx.deliver()).toEqual([]);
    await w.challengeWithCode("sms", "135790", "+1 (500) 555-0100");
    const [sms] = await fx.deliver();
    expect(sms).toMatchObject({ channel: "sms", to: PHONE });
    expect((await w.verify({ code: "135790" })).state).toBe("new_password");
  });
});

describe("administrators", () => {
  it("guided: two gates, security questions never offered nor accepted", async () => {
    fx.configure({ reset: { disclosure: "guided", gates: 1 } });
    const w = await fx.begin();
    const view = await w.identify("root");
    expect(offered(view)).toEqual(["email", "sms", "totp"]);
    expect(view.state === "verify" && view.gatesRequired).toBe(2);
    expect((await refusal(w.challenge("questions"))).code).toBe("METHOD_NOT_AVAILABLE");
    await w.challenge("totp");
    const after = await w.verify({ code: fx.totp() });
    expect(after.state).toBe("verify");
    expect(offered(after)).toEqual(["email", "sms"]);
    expect((await refusal(w.challenge("totp"))).code).toBe("METHOD_NOT_AVAILABLE");
    await w.challengeWithCode("email", "112233");
    expect((await w.verify({ code: "112233" })).state).toBe("new_password");
    fx.clock.advance(60_000); // the next test's TOTP code must be a new step
  });

  it("strict: questions are in the list, but right answers never pass for an admin", async () => {
    fx.configure({ reset: { disclosure: "strict", gates: 1 } });
    const w = await fx.begin();
    await w.identify("root");
    expect(offered(w.view)).toContain("questions");
    await w.challenge("totp");
    const first = await w.verify({ code: fx.totp() });
    expect(first.state === "verify" && first.gatesRequired).toBe(2);
    await w.challenge("questions");
    const ids = questionIds(w.view);
    expect(ids).toHaveLength(2);
    // Asked from the whole catalogue, as for a phantom: the admin's own questions are not used.
    const e = await refusal(w.verify({ answers: rightAnswers(ids) }));
    expect(e.code).toBe("VERIFICATION_FAILED");
    expect(w.view.state).toBe("verify");
    // Whatever the draw, the admin's registered answers never open the gate.
    for (let i = 0; i < 3; i++) {
      await w.challenge("questions");
      const all = Object.fromEntries(ANSWERS.map((a) => [a.questionId, a.answer]));
      const asked = questionIds(w.view);
      const answers = Object.fromEntries(asked.map((id) => [id, all[id] ?? "x"]));
      expect((await refusal(w.verify({ answers }))).code).toBe("VERIFICATION_FAILED");
    }
    const failed = (await fx.auditEvents()).filter((a) => a.event === "verification.failed");
    expect(failed.length).toBeGreaterThanOrEqual(4);
  });

  it("a regular user's right answers do pass (the control for the admin case)", async () => {
    await fx.store.db.deleteFrom("throttle_counters").execute();
    fx.configure({ reset: { disclosure: "strict", gates: 1 } });
    const w = await fx.begin();
    await w.identify("alice2");
    await w.challenge("questions");
    expect((await w.verify({ answers: rightAnswers(questionIds(w.view)) })).state).toBe("new_password");
  });
});

describe("phantoms", () => {
  it("an unknown name walks the same steps, sends nothing and never passes", async () => {
    await fx.store.db.deleteFrom("throttle_counters").execute();
    fx.configure({ reset: { disclosure: "strict" } });
    await fx.deliver(); // what earlier tests queued
    const w = await fx.begin();
    expect((await w.identify("nobody")).state).toBe("verify");
    await w.challengeWithCode("email", "424242", EMAIL);
    await w.challenge("sms", PHONE);
    expect(await fx.deliver()).toEqual([]);
    await w.challengeWithCode("email", "424242", EMAIL);
    expect((await refusal(w.verify({ code: "424242" }))).code).toBe("VERIFICATION_FAILED");
    const flow = await fx.store.db
      .selectFrom("flows")
      .selectAll()
      .where("id", "=", w.view.flowId)
      .executeTakeFirst();
    expect(flow).toMatchObject({ phantom: 1, user_id: null });
  });

  it("an ineligible user in strict mode is a phantom too, even with the right code", async () => {
    fx.configure({ reset: { disclosure: "strict" } });
    await fx.store.db.updateTable("users").set({ enabled: 0 }).where("id", "=", alice.id).execute();
    try {
      const w = await fx.begin();
      await w.identify("alice2");
      await w.challengeWithCode("email", "777777", EMAIL);
      expect(await fx.deliver()).toEqual([]);
      expect((await refusal(w.verify({ code: "777777" }))).code).toBe("VERIFICATION_FAILED");
    } finally {
      await fx.store.db.updateTable("users").set({ enabled: 1 }).where("id", "=", alice.id).execute();
    }
  });
});

describe("contact your administrator", () => {
  it("guided: an ineligible user is blocked and can notify the admins, a limited number of times", async () => {
    await fx.store.db.deleteFrom("throttle_counters").execute();
    await fx.deliver();
    fx.configure({ reset: { disclosure: "guided" }, notifications: { contactAdminPerUserPerDay: 1 } });
    const bob = await fx.addUser("bob");
    const w = await fx.begin();
    const view = await w.identify("bob");
    expect(view).toMatchObject({ state: "blocked", reason: "contact_admin", lockedUntil: null });
    const done = await fx.service.contactAdmin(w.step());
    expect(done).toMatchObject({ state: "blocked", adminContacted: true });
    // The notice is queued after the answer (so its cost does not tell real accounts apart): wait for it.
    let mail = await fx.deliver();
    for (let i = 0; i < 100 && mail.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      mail = await fx.deliver();
    }
    expect(mail.map((m) => m.to)).toEqual([EMAIL]); // root, the only administrator
    expect(mail[0]?.text).toContain("bob");
    // The second request the same day is answered alike but sends nothing.
    const again = await fx.begin();
    await again.identify("bob");
    expect(await fx.service.contactAdmin(again.step())).toMatchObject({ adminContacted: true });
    await new Promise((r) => setTimeout(r, 100));
    expect(await fx.deliver()).toEqual([]);
    expect(bob.is_admin).toBe(0);
    expect(admin.is_admin).toBe(1);
  });
});
