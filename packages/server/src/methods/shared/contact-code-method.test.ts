/**
 * The behaviour email, SMS and voice codes share, run for each of the three, with the code
 * delivered through the real outbox and worker. A scan at the end checks that no code sent or
 * typed is anywhere in the database.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { User } from "../../store/schema.js";
import { createEmailCodeMethod, registerEmail } from "../email-code/index.js";
import { createSmsCodeMethod } from "../sms-code/index.js";
import { createFixture, type Fixture } from "../testing/fixtures.js";
import type { MethodServices, VerificationMethod } from "../types.js";
import { createVoiceCodeMethod } from "../voice-code/index.js";
import { MAX_ATTEMPTS_PER_CHALLENGE } from "./challenges.js";
import { registerPhone } from "./phone.js";

interface Case {
  type: "email" | "sms" | "voice";
  create(s: MethodServices): VerificationMethod;
  register(fx: Fixture, user: User, contact: string, confirmed?: boolean): Promise<string>;
  contact: string;
  /** The same contact as a person might type it. */
  typed: string;
  other: string;
  masked: RegExp;
}

const CASES: Case[] = [
  {
    type: "email",
    create: createEmailCodeMethod,
    register: (fx, u, address, confirmed = true) =>
      registerEmail(fx.store.db, {
        tenantId: fx.tenant.id,
        userId: u.id,
        address,
        confirmed,
        clock: fx.clock,
      }),
    contact: "alice.smith@contoso.com",
    typed: "  Alice.Smith@CONTOSO.com ",
    other: "alice.smith@contoso.org",
    masked: /^a•••@c•••\.com$/,
  },
  {
    type: "sms",
    create: createSmsCodeMethod,
    register: (fx, u, number, confirmed = true) =>
      registerPhone(fx.store.db, {
        tenantId: fx.tenant.id,
        userId: u.id,
        number,
        channel: "sms",
        confirmed,
        clock: fx.clock,
      }),
    contact: "+4915112345689",
    typed: "0049 (151) 1234-5689",
    other: "+4915112345688",
    masked: /^•••• •••• 89$/,
  },
  {
    type: "voice",
    create: createVoiceCodeMethod,
    register: (fx, u, number, confirmed = true) =>
      registerPhone(fx.store.db, {
        tenantId: fx.tenant.id,
        userId: u.id,
        number,
        channel: "voice",
        confirmed,
        clock: fx.clock,
      }),
    contact: "+33612345678",
    typed: "+33 6 12 34 56 78",
    other: "+33612345679",
    masked: /^•••• •••• 78$/,
  },
];

/** Every code that was sent or typed in this file; none may be found in the database. */
const usedCodes = new Set<string>();

describe.each(CASES)("$type code", (c) => {
  let fx: Fixture;
  let method: VerificationMethod;

  beforeAll(async () => {
    // 8 digits: a random 8-digit string appearing by chance in hex or base64 text is negligible, so the scan cannot flake.
    fx = await createFixture({ settings: { reset: { codeDigits: 8 } } });
    method = c.create(fx.services);
    await c.register(fx, fx.user, c.contact);
  });
  afterAll(async () => {
    const everything = await fx.dumpEverything();
    for (const code of usedCodes)
      expect(everything.includes(code), `code ${code} found in the database`).toBe(false);
    await fx.close();
  });
  beforeEach(() => {
    fx.delivered.clear();
  });

  async function startAndRead(claimedContact?: string) {
    const ctx = await fx.ctx(fx.user);
    const started = await method.start(ctx, claimedContact === undefined ? {} : { claimedContact });
    const [message] = await fx.deliver();
    if (message?.text) {
      const code = message.text.match(/\d(?:, \d){7}|\d{8}/)?.[0]?.replaceAll(", ", "") ?? "";
      usedCodes.add(code);
      return { ctx, ...started, message, code };
    }
    return { ctx, ...started, message, code: null };
  }

  async function verify(ctx: Awaited<ReturnType<Fixture["ctx"]>>, challengeId: string, code: unknown) {
    if (typeof code === "string") usedCodes.add(code);
    return method.verify(ctx, { challengeId, response: { code } });
  }

  it("knows whether the user holds it, and masks it", async () => {
    const methods = await fx.methods();
    expect(method.isRegistered(methods)).toBe(true);
    expect(method.maskedHint(methods)).toMatch(c.masked);
    expect(method.isRegistered([])).toBe(false);
    expect(method.maskedHint([])).toBeNull();
  });

  it("guided: sends a code to the registered contact; the right code passes once", async () => {
    const { ctx, challengeId, prompt, message, code } = await startAndRead();
    expect(prompt).toEqual({
      kind: "code",
      channel: c.type,
      digits: 8,
      expiresAt: fx.clock.now() + 5 * 60_000,
      sentToMasked: expect.stringMatching(c.masked),
    });
    expect(message?.to).toBe(c.contact);
    expect(message?.channel).toBe(c.type);
    expect(code).toMatch(/^\d{8}$/);
    expect(await verify(ctx, challengeId, code)).toEqual({ ok: true });
    expect(await verify(ctx, challengeId, code)).toEqual({ ok: false, reason: "code_expired" });
  });

  it("accepts the code typed with spaces or a dash", async () => {
    const { ctx, challengeId, code } = await startAndRead();
    const spaced = `${code?.slice(0, 4)} ${code?.slice(4)}`;
    expect(await method.verify(ctx, { challengeId, response: { code: spaced } })).toEqual({ ok: true });
  });

  it("counts wrong codes on the challenge and spends it after the maximum", async () => {
    const { ctx, challengeId, code } = await startAndRead();
    const wrong = code === "00000000" ? "11111111" : "00000000";
    expect(await verify(ctx, challengeId, wrong)).toEqual({ ok: false, reason: "code_wrong" });
    const row = await fx.store.db
      .selectFrom("challenges")
      .selectAll()
      .where("id", "=", challengeId)
      .executeTakeFirstOrThrow();
    expect(row.attempts).toBe(1);
    for (let i = 1; i < MAX_ATTEMPTS_PER_CHALLENGE; i++) await verify(ctx, challengeId, wrong);
    // Five wrong tries used it up: even the right code no longer passes.
    expect(await verify(ctx, challengeId, code)).toEqual({ ok: false, reason: "code_expired" });
  });

  it("a right code after a few wrong ones still passes", async () => {
    const { ctx, challengeId, code } = await startAndRead();
    await verify(ctx, challengeId, code === "80706050" ? "50607080" : "80706050");
    expect(await verify(ctx, challengeId, code)).toEqual({ ok: true });
  });

  it("refuses an expired code", async () => {
    const { ctx, challengeId, code } = await startAndRead();
    fx.clock.advance(5 * 60_000);
    expect(await verify(ctx, challengeId, code)).toEqual({ ok: false, reason: "code_expired" });
  });

  it("refuses malformed responses without throwing", async () => {
    for (const bad of [80706050, null, { $gt: "" }, "8070605", "abcdefgh", "9".repeat(10_000)]) {
      const { ctx, challengeId } = await startAndRead();
      expect(await method.verify(ctx, { challengeId, response: { code: bad } })).toEqual({
        ok: false,
        reason: "code_wrong",
      });
    }
    const { ctx } = await startAndRead();
    expect(
      await method.verify(ctx, { challengeId: "no-such-challenge", response: { code: "80706050" } }),
    ).toEqual({
      ok: false,
      reason: "code_wrong",
    });
  });

  it("a challenge passes only in its own flow and for its own user", async () => {
    const { ctx, challengeId, code } = await startAndRead();
    const otherFlow = await fx.ctx(fx.user);
    expect(await verify(otherFlow, challengeId, code)).toEqual({ ok: false, reason: "code_wrong" });
    const mallory = await fx.addUser(`mallory-${c.type}`);
    expect(await verify({ ...ctx, user: mallory, methods: [] }, challengeId, code)).toEqual({
      ok: false,
      reason: "code_wrong",
    });
    expect(await verify(ctx, challengeId, code)).toEqual({ ok: true });
  });

  it("lets only one of two concurrent verifications of the right code pass", async () => {
    const { ctx, challengeId, code } = await startAndRead();
    const results = await Promise.all([
      verify(ctx, challengeId, code),
      verify(ctx, challengeId, code),
      verify(ctx, challengeId, code),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
  });

  it("strict: sends only when the typed contact matches (after normalising)", async () => {
    const before = await fx.outboxCount();
    const { ctx, challengeId, prompt, message, code } = await startAndRead(c.typed);
    expect(message?.to).toBe(c.contact);
    expect(prompt).toMatchObject({ kind: "code", sentToMasked: null });
    expect(await fx.outboxCount()).toBe(before + 1);
    expect(await verify(ctx, challengeId, code)).toEqual({ ok: true });
  });

  it("strict: a wrong contact enqueues nothing, answers the same prompt, and can never pass", async () => {
    const matched = await method.start(await fx.ctx(fx.user), { claimedContact: c.contact });
    const before = await fx.outboxCount();
    // The code this challenge draws is known to the test (scripted randomness), yet it must not pass.
    fx.random.script(4, 2, 4, 2, 4, 2, 4, 2);
    const ctx = await fx.ctx(fx.user);
    const missed = await method.start(ctx, { claimedContact: c.other });
    expect(await fx.outboxCount()).toBe(before);
    expect(missed.prompt).toEqual(matched.prompt);
    expect(Object.keys(missed)).toEqual(Object.keys(matched));
    const rows = await fx.store.db
      .selectFrom("challenges")
      .select(["code_hmac", "data_json", "user_id"])
      .where("id", "in", [matched.challengeId, missed.challengeId])
      .execute();
    expect(rows.map((r) => [r.code_hmac?.length, r.data_json, r.user_id])).toEqual([
      [64, "{}", fx.user.id],
      [64, "{}", fx.user.id],
    ]);
    expect(await verify(ctx, missed.challengeId, "42424242")).toEqual({ ok: false, reason: "code_wrong" });
    await fx.deliver();
  });

  it("strict: garbage typed as the contact is just a miss", async () => {
    const before = await fx.outboxCount();
    const { prompt } = await method.start(await fx.ctx(fx.user), {
      claimedContact: "'; drop table users; --",
    });
    expect(prompt).toMatchObject({ kind: "code", sentToMasked: null });
    expect(await fx.outboxCount()).toBe(before);
  });

  it("phantom: same prompt shape, nothing enqueued, never passes even with its own code", async () => {
    const before = await fx.outboxCount();
    fx.random.script(9, 1, 9, 1, 9, 1, 9, 1);
    const ctx = await fx.ctx(null);
    const guided = await method.start(ctx, {});
    expect(guided.prompt).toMatchObject({
      kind: "code",
      channel: c.type,
      digits: 8,
      sentToMasked: expect.stringMatching(/•••/),
    });
    // The fake mask is stable within a flow.
    expect((await method.start(ctx, {})).prompt).toEqual(guided.prompt);
    const strict = await method.start(ctx, { claimedContact: c.contact });
    expect(strict.prompt).toMatchObject({ kind: "code", sentToMasked: null });
    expect(await fx.outboxCount()).toBe(before);
    expect(await verify(ctx, guided.challengeId, "91919191")).toEqual({ ok: false, reason: "code_wrong" });
    const row = await fx.store.db
      .selectFrom("challenges")
      .selectAll()
      .where("id", "=", guided.challengeId)
      .executeTakeFirstOrThrow();
    expect(row.user_id).toBeNull();
    expect(row.attempts).toBe(1);
  });

  it("ignores an unconfirmed contact", async () => {
    const bob = await fx.addUser(`bob-${c.type}`);
    await c.register(fx, bob, c.other, false);
    const methods = await fx.methods(bob.id);
    expect(method.isRegistered(methods)).toBe(false);
    const before = await fx.outboxCount();
    await method.start(await fx.ctx(bob), {});
    expect(await fx.outboxCount()).toBe(before);
    // Confirming it later makes it usable.
    await c.register(fx, bob, c.other, true);
    expect(method.isRegistered(await fx.methods(bob.id))).toBe(true);
    expect((await fx.methods(bob.id)).filter((m) => m.type === c.type)).toHaveLength(1);
  });
});
