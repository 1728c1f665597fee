import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFixture, type Fixture } from "../testing/fixtures.js";
import type { ChallengeContext, VerificationMethod } from "../types.js";
import { createTotpMethod, generateTotpSecret, registerTotp, totpUri } from "./index.js";

const STEP = 30_000;
let fx: Fixture;
let method: VerificationMethod;
let secretBase32: string;
const usedTokens = new Set<string>();

function tokenAt(timestamp: number, secret = secretBase32): string {
  const t = TOTP.generate({
    secret: Secret.fromBase32(secret),
    algorithm: "SHA1",
    digits: 6,
    period: 30,
    timestamp,
  });
  usedTokens.add(t);
  return t;
}

async function attempt(token: string, ctx?: ChallengeContext) {
  const c = ctx ?? (await fx.ctx(fx.user));
  const { challengeId, prompt } = await method.start(c, {});
  expect(prompt).toEqual({ kind: "totp", digits: 6 });
  return method.verify(c, { challengeId, response: { code: token } });
}

beforeAll(async () => {
  fx = await createFixture();
  method = createTotpMethod(fx.services);
  // Start mid-step so ±1 step stays inside the same clock arithmetic.
  fx.clock.set(Date.UTC(2026, 0, 1, 12, 0, 15));
  ({ secretBase32 } = await registerTotp(fx.store.db, fx.secrets, {
    tenantId: fx.tenant.id,
    userId: fx.user.id,
    issuer: "Example Org",
    accountName: "alice@example.test",
    confirmed: true,
    clock: fx.clock,
  }));
});

afterAll(async () => {
  const everything = await fx.dumpEverything();
  expect(everything).not.toContain(secretBase32);
  // Also the raw key bytes, in the encodings a careless implementation might use.
  const raw = Buffer.from(Secret.fromBase32(secretBase32).buffer);
  expect(everything).not.toContain(raw.toString("hex"));
  expect(everything).not.toContain(raw.toString("base64"));
  for (const t of usedTokens) expect(everything.includes(t), `token ${t} found in the database`).toBe(false);
  await fx.close();
});

describe("TOTP", () => {
  it("makes secrets and URIs authenticator apps take", () => {
    const s = generateTotpSecret();
    expect(s).toMatch(/^[A-Z2-7]{32}$/);
    expect(generateTotpSecret()).not.toBe(s);
    const uri = totpUri({ secretBase32: s, issuer: "Example Org", accountName: "alice@example.test" });
    expect(uri).toBe(
      `otpauth://totp/Example%20Org:alice%40example.test?issuer=Example%20Org&secret=${s}&algorithm=SHA1&digits=6&period=30`,
    );
  });

  it("stores the secret sealed and bound to its row", async () => {
    const [row] = await fx.methods();
    const data = JSON.parse(row?.data_json ?? "{}");
    expect(Object.keys(data).sort()).toEqual(["lastCounter", "secretSealed"]);
    expect(data.lastCounter).toBeNull();
    expect(method.isRegistered(await fx.methods())).toBe(true);
    expect(method.maskedHint(await fx.methods())).toBe("Authenticator app");
  });

  it("accepts the current code once; the same time step is refused afterwards", async () => {
    const now = fx.clock.now();
    const token = tokenAt(now);
    expect(await attempt(token)).toEqual({ ok: true });
    expect(await attempt(token)).toEqual({ ok: false, reason: "code_wrong" });
    // Earlier steps are burnt too once a later one was used.
    expect(await attempt(tokenAt(now - STEP))).toEqual({ ok: false, reason: "code_wrong" });
  });

  it("accepts one step either side of the clock, not two", async () => {
    fx.clock.advance(10 * STEP);
    const now = fx.clock.now();
    expect(await attempt(tokenAt(now - 2 * STEP))).toEqual({ ok: false, reason: "code_wrong" });
    expect(await attempt(tokenAt(now - STEP))).toEqual({ ok: true });
    expect(await attempt(tokenAt(now + 2 * STEP))).toEqual({ ok: false, reason: "code_wrong" });
    expect(await attempt(tokenAt(now + STEP))).toEqual({ ok: true });
    // After +1 was used, the current step is behind it and refused.
    expect(await attempt(tokenAt(now))).toEqual({ ok: false, reason: "code_wrong" });
  });

  it("counts wrong codes and spends the challenge after five", async () => {
    fx.clock.advance(10 * STEP);
    const ctx = await fx.ctx(fx.user);
    const { challengeId } = await method.start(ctx, {});
    const right = tokenAt(fx.clock.now());
    const wrong = right === "000000" ? "111111" : "000000";
    for (let i = 0; i < 5; i++) {
      expect(await method.verify(ctx, { challengeId, response: { code: wrong } })).toEqual({
        ok: false,
        reason: "code_wrong",
      });
    }
    expect(await method.verify(ctx, { challengeId, response: { code: right } })).toEqual({
      ok: false,
      reason: "code_expired",
    });
    const row = await fx.store.db
      .selectFrom("challenges")
      .selectAll()
      .where("id", "=", challengeId)
      .executeTakeFirstOrThrow();
    expect(row.attempts).toBe(6);
    expect(row.code_hmac).toBeNull();
  });

  it("refuses after the challenge expired", async () => {
    fx.clock.advance(10 * STEP);
    const ctx = await fx.ctx(fx.user);
    const { challengeId } = await method.start(ctx, {});
    fx.clock.advance(5 * 60_000);
    const token = tokenAt(fx.clock.now());
    expect(await method.verify(ctx, { challengeId, response: { code: token } })).toEqual({
      ok: false,
      reason: "code_expired",
    });
  });

  it("lets one of two concurrent uses of a code pass", async () => {
    fx.clock.advance(10 * STEP);
    const token = tokenAt(fx.clock.now());
    const results = await Promise.all([attempt(token), attempt(token), attempt(token)]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
  });

  it("phantoms and users without TOTP never pass", async () => {
    fx.clock.advance(10 * STEP);
    const token = tokenAt(fx.clock.now());
    expect(await attempt(token, await fx.ctx(null))).toEqual({ ok: false, reason: "code_wrong" });
    const bob = await fx.addUser("bob");
    const bobCtx = await fx.ctx(bob);
    expect(method.isRegistered(bobCtx.methods)).toBe(false);
    expect(await attempt(token, bobCtx)).toEqual({ ok: false, reason: "code_wrong" });
    // Alice's challenge cannot be answered in Bob's name either.
    const aliceCtx = await fx.ctx(fx.user);
    const { challengeId } = await method.start(aliceCtx, {});
    expect(
      await method.verify(
        { ...aliceCtx, user: bob, methods: [] },
        { challengeId, response: { code: token } },
      ),
    ).toEqual({
      ok: false,
      reason: "code_wrong",
    });
    expect(await method.verify(aliceCtx, { challengeId, response: { code: token } })).toEqual({ ok: true });
  });

  it("ignores an unconfirmed or unreadable registration without throwing", async () => {
    const carol = await fx.addUser("carol");
    const { secretBase32: s } = await registerTotp(fx.store.db, fx.secrets, {
      tenantId: fx.tenant.id,
      userId: carol.id,
      issuer: "X",
      accountName: "carol",
      confirmed: false,
      clock: fx.clock,
    });
    fx.clock.advance(10 * STEP);
    expect(await attempt(tokenAt(fx.clock.now(), s), await fx.ctx(carol))).toEqual({
      ok: false,
      reason: "code_wrong",
    });
    await fx.store.db
      .updateTable("auth_methods")
      .set({ confirmed_at: fx.clock.now(), data_json: '{"secretSealed":"garbage"}' })
      .where("user_id", "=", carol.id)
      .execute();
    expect(await attempt(tokenAt(fx.clock.now(), s), await fx.ctx(carol))).toEqual({
      ok: false,
      reason: "code_wrong",
    });
  });
});
