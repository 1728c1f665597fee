import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase } from "../../../../test-env/env.js";
import { StoreAudit } from "../audit/emitter.js";
import { parseTenantSettings } from "../config/tenant-settings.js";
import { ManualClock } from "../core/clock.js";
import { openStore, type Store } from "../store/db.js";
import { DAY, HOUR, MINUTE, throttlePolicies, userThrottleKeys } from "./policies.js";
import { Throttle } from "./throttle.js";

let store: Store;
let clock: ManualClock;
let throttle: Throttle;
const T = "tenant-1";
const L = { limit: 5, windowMs: HOUR, lockMs: DAY };

beforeEach(async () => {
  store = openStore({ url: ":memory:" });
  await store.migrate();
  clock = new ManualClock();
  throttle = new Throttle(store.db, clock, new StoreAudit(store.db, clock));
});
afterEach(async () => {
  await store.close();
});

describe("Throttle.hit", () => {
  it("allows `limit` hits in a window, then locks for lockMs", async () => {
    const seen = [];
    for (let i = 0; i < 5; i++) seen.push(await throttle.hit(T, "k", L));
    expect(seen.map((r) => r.allowed)).toEqual([true, true, true, true, true]);
    expect(seen.map((r) => r.remaining)).toEqual([4, 3, 2, 1, 0]);
    const sixth = await throttle.hit(T, "k", L);
    expect(sixth).toEqual({ allowed: false, remaining: 0, lockedUntil: clock.now() + DAY, justLocked: true });
  });

  it("refuses every hit while locked without moving the lock, and starts fresh after it", async () => {
    for (let i = 0; i < 6; i++) await throttle.hit(T, "k", L);
    const lockedUntil = clock.now() + DAY;
    clock.advance(23 * HOUR);
    const during = await throttle.hit(T, "k", L);
    expect(during).toEqual({ allowed: false, remaining: 0, lockedUntil, justLocked: false });
    clock.advance(HOUR - 1);
    expect((await throttle.hit(T, "k", L)).allowed).toBe(false);
    clock.advance(1);
    const after = await throttle.hit(T, "k", L);
    expect(after).toEqual({ allowed: true, remaining: 4, lockedUntil: null, justLocked: false });
  });

  it("resets the count when the window has passed (fixed window from the first hit)", async () => {
    for (let i = 0; i < 5; i++) await throttle.hit(T, "k", L);
    clock.advance(HOUR - 1);
    expect((await throttle.hit(T, "k", L)).allowed).toBe(false);
    await throttle.reset(T, "k");
    for (let i = 0; i < 5; i++) await throttle.hit(T, "k", L);
    clock.advance(HOUR);
    expect(await throttle.hit(T, "k", L)).toMatchObject({ allowed: true, remaining: 4 });
  });

  it("keeps keys and tenants apart", async () => {
    for (let i = 0; i < 6; i++) await throttle.hit(T, "a", L);
    expect((await throttle.hit(T, "b", L)).allowed).toBe(true);
    expect((await throttle.hit("tenant-2", "a", L)).allowed).toBe(true);
  });

  it("with lockMs 0 refuses until the window ends but sets no lock", async () => {
    const l = { limit: 2, windowMs: MINUTE, lockMs: 0 };
    await throttle.hit(T, "k", l);
    await throttle.hit(T, "k", l);
    expect(await throttle.hit(T, "k", l)).toEqual({
      allowed: false,
      remaining: 0,
      lockedUntil: null,
      justLocked: false,
    });
    clock.advance(MINUTE);
    expect((await throttle.hit(T, "k", l)).allowed).toBe(true);
  });

  it("lets exactly `limit` of 20 parallel hits through", async () => {
    const results = await Promise.all(
      Array.from({ length: 20 }, () => throttle.hit(T, "race", { ...L, limit: 10 })),
    );
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    expect(results.filter((r) => r.justLocked)).toHaveLength(1);
  });

  it("holds across two store connections on one SQLite file (two instances)", async () => {
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const file = join(mkdtempSync(join(tmpdir(), "lk-throttle-")), "db.sqlite");
    const a = openStore({ url: file });
    await a.migrate();
    const b = openStore({ url: file });
    try {
      const ta = new Throttle(a.db, clock);
      const tb = new Throttle(b.db, clock);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? ta : tb).hit(T, "shared", { ...L, limit: 10 })),
      );
      expect(results.filter((r) => r.allowed)).toHaveLength(10);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("records throttle.locked once, naming the key", async () => {
    for (let i = 0; i < 8; i++) await throttle.hit(T, "verify:u1:sms", L);
    const rows = await store.db
      .selectFrom("audit_events")
      .selectAll()
      .where("event", "=", "throttle.locked")
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.target).toBe("verify:u1:sms");
  });

  it("refuses nonsense limits", async () => {
    await expect(throttle.hit(T, "k", { limit: 0, windowMs: 1, lockMs: 1 })).rejects.toMatchObject({
      code: "CONFIG_INVALID",
    });
  });
});

describe("Throttle.peek and reset", () => {
  it("reports state without counting", async () => {
    expect(await throttle.peek(T, "k")).toBeNull();
    await throttle.hit(T, "k", L);
    await throttle.hit(T, "k", L);
    const p1 = await throttle.peek(T, "k", L);
    const p2 = await throttle.peek(T, "k", L);
    expect(p1).toEqual({
      allowed: true,
      remaining: 3,
      lockedUntil: null,
      count: 2,
      windowStart: clock.now(),
    });
    expect(p2).toEqual(p1);
    expect((await throttle.hit(T, "k", L)).remaining).toBe(2);
  });

  it("shows the lock, and forgets an elapsed window when given the limits", async () => {
    for (let i = 0; i < 6; i++) await throttle.hit(T, "k", L);
    expect(await throttle.peek(T, "k")).toMatchObject({ allowed: false, lockedUntil: clock.now() + DAY });
    await throttle.reset(T, "k");
    expect(await throttle.peek(T, "k")).toBeNull();
    await throttle.hit(T, "k", L);
    clock.advance(HOUR);
    expect(await throttle.peek(T, "k", L)).toBeNull();
    expect(await throttle.peek(T, "k")).toMatchObject({ allowed: true, lockedUntil: null });
  });

  it("clears one user's counters and nobody else's", async () => {
    const p = throttlePolicies(parseTenantSettings({}).throttles);
    for (const pol of [
      p.verify("u1", "sms"),
      p.verify("u1", "email"),
      p.email("u1"),
      p.identity("u1"),
      p.email("u10"),
      p.verify("u10", "sms"),
    ]) {
      await throttle.hit(T, pol.key, pol);
    }
    const { keys, prefixes } = userThrottleKeys("u1");
    for (const k of keys) await throttle.reset(T, k);
    for (const pre of prefixes) await throttle.resetPrefix(T, pre);
    const left = await store.db.selectFrom("throttle_counters").select("key").orderBy("key").execute();
    expect(left.map((r) => r.key)).toEqual(["email:u10", "verify:u10:sms"]);
  });
});

describe("throttlePolicies", () => {
  it("maps Entra's defaults", () => {
    const p = throttlePolicies(parseTenantSettings({}).throttles);
    expect(p.verify("u", "sms")).toEqual({ key: "verify:u:sms", limit: 5, windowMs: HOUR, lockMs: DAY });
    expect(p.email("u")).toEqual({ key: "email:u", limit: 10, windowMs: 10 * MINUTE, lockMs: DAY });
    expect(p.message("u", "email")).toEqual(p.email("u"));
    expect(p.message("u", "sms")).toEqual({ key: "sms:u", limit: 10, windowMs: 10 * MINUTE, lockMs: DAY });
    expect(p.identity("u")).toEqual({ key: "identity:u", limit: 5, windowMs: DAY, lockMs: DAY });
    expect(p.ipStart("192.0.2.1")).toEqual({
      key: "ip:192.0.2.1:start",
      limit: 30,
      windowMs: MINUTE,
      lockMs: MINUTE,
    });
  });

  it("follows the tenant's settings", () => {
    const s = parseTenantSettings({
      throttles: { verifyAttemptsPerMethodPerHour: 3, lockoutMinutes: 60 },
    }).throttles;
    expect(throttlePolicies(s).verify("u", "totp")).toMatchObject({ limit: 3, lockMs: HOUR });
  });

  it("the verify policy locks the sixth attempt for 24 h", async () => {
    const pol = throttlePolicies(parseTenantSettings({}).throttles).verify("u", "sms");
    const allowed = [];
    for (let i = 0; i < 6; i++) allowed.push((await throttle.hit(T, pol.key, pol)).allowed);
    expect(allowed).toEqual([true, true, true, true, true, false]);
    clock.advance(DAY - 1);
    expect((await throttle.hit(T, pol.key, pol)).allowed).toBe(false);
    clock.advance(1);
    expect((await throttle.hit(T, pol.key, pol)).allowed).toBe(true);
  });
});

describe("Throttle on PostgreSQL", () => {
  it("counts, locks and lets exactly `limit` of 40 parallel hits from two instances through", async () => {
    const db = await createTestDatabase();
    const a = openStore({ url: db.url, poolSize: 8 });
    const b = openStore({ url: db.url, poolSize: 8 });
    try {
      await a.migrate();
      const pgClock = new ManualClock();
      const ta = new Throttle(a.db, pgClock);
      const tb = new Throttle(b.db, pgClock);
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? ta : tb).hit(T, "race", { ...L, limit: 10 })),
      );
      expect(results.filter((r) => r.allowed)).toHaveLength(10);
      expect(results.filter((r) => r.justLocked)).toHaveLength(1);
      expect(await ta.peek(T, "race")).toMatchObject({
        allowed: false,
        lockedUntil: pgClock.now() + DAY,
        count: 40,
      });
      pgClock.advance(DAY);
      expect(await tb.hit(T, "race", { ...L, limit: 10 })).toEqual({
        allowed: true,
        remaining: 9,
        lockedUntil: null,
        justLocked: false,
      });
      pgClock.advance(HOUR);
      expect((await ta.hit(T, "race", { ...L, limit: 10 })).remaining).toBe(9);
      expect(await ta.resetPrefix(T, "ra")).toBe(1);
      expect(await ta.peek(T, "race")).toBeNull();
    } finally {
      await a.close();
      await b.close();
      await db.drop();
    }
  });
});
