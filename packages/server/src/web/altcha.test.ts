import { randomBytes } from "node:crypto";
import { solveChallenge, verifySolution } from "altcha-lib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../../../../test-env/env.js";
import { ManualClock } from "../core/clock.js";
import { openStore, type Store } from "../store/db.js";
import {
  type Captcha,
  type CaptchaChallenge,
  createCaptcha,
  memoryUsedStore,
  throttleTableUsedStore,
  type UsedChallengeStore,
} from "./altcha.js";

const MAX = 2000; // small, so solving in the test takes milliseconds

/** Solves a challenge the way the browser widget does, and encodes the payload as it submits it. */
async function solve(c: CaptchaChallenge, overrides: Record<string, unknown> = {}): Promise<string> {
  const solution = await solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber).promise;
  if (!solution) throw new Error("challenge not solvable");
  const payload = {
    algorithm: c.algorithm,
    challenge: c.challenge,
    number: solution.number,
    salt: c.salt,
    signature: c.signature,
  };
  return Buffer.from(JSON.stringify({ ...payload, ...overrides })).toString("base64");
}

function setup(usedStore?: (clock: ManualClock) => UsedChallengeStore) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const hmacKey = randomBytes(32);
  const captcha = createCaptcha({
    hmacKey,
    clock,
    maxNumber: MAX,
    expiresInMs: 5 * 60_000,
    usedStore: usedStore?.(clock),
  });
  return { clock, hmacKey, captcha };
}

describe("createCaptcha()", () => {
  it("issues a challenge the browser widget understands", async () => {
    const { captcha } = setup();
    const c = await captcha.challenge();
    expect(c.algorithm).toBe("SHA-256");
    expect(c.maxnumber).toBe(MAX);
    expect(c.challenge).toMatch(/^[0-9a-f]{64}$/);
    expect(c.signature).toMatch(/^[0-9a-f]{64}$/);
    expect(c.salt).toMatch(/\?expires=\d+&$/);
  });

  it("accepts a solution found by altcha-lib's solver, once", async () => {
    const { captcha } = setup();
    const payload = await solve(await captcha.challenge());
    expect(await captcha.verify(payload)).toBe(true);
    expect(await captcha.verify(payload)).toBe(false);
  });

  it("signs with a key derived from the server key, never the raw key", async () => {
    // The captcha signs with a key derived from the server key, so the raw key must not verify.
    const { captcha, hmacKey } = setup();
    const payload = await solve(await captcha.challenge());
    expect(await verifySolution(payload, hmacKey.toString("hex"), false)).toBe(false);
    expect(await captcha.verify(payload)).toBe(true);
  });

  it("refuses tampered payloads", async () => {
    const { captcha } = setup();
    const c = await captcha.challenge();
    const good = JSON.parse(Buffer.from(await solve(c), "base64").toString()) as {
      number: number;
      salt: string;
    };
    const tampered: Record<string, unknown>[] = [
      { number: (good.number + 1) % MAX },
      { signature: "0".repeat(64) },
      { salt: good.salt.replace(/expires=\d+/, "expires=99999999999") },
      { challenge: "a".repeat(64) },
      { algorithm: "SHA-1" },
      { number: -1 },
      { number: 1.5 },
      { number: "12" },
    ];
    for (const change of tampered) {
      expect(await captcha.verify(await solve(c, change)), JSON.stringify(change)).toBe(false);
    }
    for (const junk of ["", "not base64 at all!", Buffer.from("[]").toString("base64"), "x".repeat(5000)]) {
      expect(await captcha.verify(junk)).toBe(false);
    }
    // Still accepted untampered afterwards: the failures above did not burn it.
    expect(await captcha.verify(await solve(c))).toBe(true);
  });

  it("refuses a challenge signed by another server key", async () => {
    const a = setup();
    const b = setup();
    expect(await b.captcha.verify(await solve(await a.captcha.challenge()))).toBe(false);
  });

  it("refuses an expired solution, judged by the injected clock", async () => {
    const { captcha, clock } = setup();
    const c = await captcha.challenge();
    const payload = await solve(c);
    clock.advance(5 * 60_000 + 1000);
    expect(await captcha.verify(payload)).toBe(false);
  });

  it("rejects invalid options", () => {
    const clock = new ManualClock();
    expect(() => createCaptcha({ hmacKey: randomBytes(32), clock, maxNumber: 0 })).toThrow(/maxNumber/);
    expect(() => createCaptcha({ hmacKey: randomBytes(32), clock, expiresInMs: 10 })).toThrow(/expiresInMs/);
  });
});

describe("memoryUsedStore()", () => {
  it("forgets a signature only after it expired", async () => {
    const clock = new ManualClock(0);
    const store = memoryUsedStore(clock);
    expect(await store.markUsed("s", 1000)).toBe(true);
    expect(await store.markUsed("s", 1000)).toBe(false);
    clock.set(2000);
    expect(await store.markUsed("s", 3000)).toBe(true);
  });
});

/**
 * The store-backed replay memory, on both engines. PostgreSQL needs the test environment's database
 * (test-env global setup); without it that half is reported as skipped, never passed.
 */
function usedStoreContract(
  engine: string,
  open: () => Promise<{ store: Store; cleanup: () => Promise<void> }>,
) {
  describe(`throttleTableUsedStore() on ${engine}`, () => {
    let store: Store;
    let cleanup: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      ({ store, cleanup } = await open());
      await store.migrate();
    });
    afterAll(async () => {
      await store?.close();
      await cleanup?.();
    });

    it("refuses a replay, also from a second captcha instance sharing the store, even when racing", async () => {
      const clock = new ManualClock(Date.UTC(2026, 0, 1));
      const hmacKey = randomBytes(32);
      const make = () =>
        createCaptcha({
          hmacKey,
          clock,
          maxNumber: MAX,
          usedStore: throttleTableUsedStore(store.db, { clock }),
        });
      const one: Captcha = make();
      const two: Captcha = make();
      const payload = await solve(await one.challenge());
      const results = await Promise.all([one.verify(payload), two.verify(payload), one.verify(payload)]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await two.verify(payload)).toBe(false);
      const rows = await store.db
        .selectFrom("throttle_counters")
        .selectAll()
        .where("key", "like", "altcha:%")
        .execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]?.tenant_id).toBe("_system");
    });

    it("sweeps rows whose challenge expired", async () => {
      const clock = new ManualClock(Date.UTC(2026, 1, 1));
      const used = throttleTableUsedStore(store.db, { clock, tenantId: "_sweep", sweepEveryMs: 1000 });
      expect(await used.markUsed("aa", clock.now() + 500)).toBe(true);
      clock.advance(2000);
      expect(await used.markUsed("bb", clock.now() + 500)).toBe(true);
      const keys = await store.db
        .selectFrom("throttle_counters")
        .select("key")
        .where("tenant_id", "=", "_sweep")
        .execute();
      expect(keys.map((k) => k.key)).toEqual(["altcha:bb"]);
    });
  });
}

usedStoreContract("SQLite", async () => ({ store: openStore({ url: ":memory:" }), cleanup: async () => {} }));

// The global setup always provides PostgreSQL: without it this file fails rather than skips.
const pgDatabase = await createTestDatabase();
usedStoreContract("PostgreSQL", async () => ({
  store: openStore({ url: pgDatabase.url, poolSize: 4 }),
  cleanup: pgDatabase.drop,
}));
