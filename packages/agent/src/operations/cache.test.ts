import { describe, expect, it } from "vitest";
import { Limiter, ResultCache } from "./cache.js";

describe("ResultCache", () => {
  it("remembers results for ttl, evicts the least recently used beyond maxEntries", async () => {
    let now = 0;
    const cache = new ResultCache<number>({ maxEntries: 2, ttlMs: 1000, clock: { now: () => now } });
    let runs = 0;
    const run = (v: number) => async () => {
      runs++;
      return v;
    };
    expect(await cache.run("a", run(1))).toEqual({ value: 1, cached: false });
    expect(await cache.run("a", run(9))).toEqual({ value: 1, cached: true });
    await cache.run("b", run(2));
    cache.get("a"); // a is now more recent than b
    await cache.run("c", run(3));
    expect(cache.size).toBe(2);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")).toBe(1);
    now = 1001;
    expect(cache.get("a")).toBeUndefined();
    expect(runs).toBe(3);
  });

  it("a second call with the same key while the first runs waits for it (one run)", async () => {
    const cache = new ResultCache<string>({ maxEntries: 10, ttlMs: 1000, clock: { now: () => 0 } });
    let release!: (v: string) => void;
    let runs = 0;
    const first = cache.run("k", () => {
      runs++;
      return new Promise<string>((r) => {
        release = r;
      });
    });
    const second = cache.run("k", async () => {
      runs++;
      return "second";
    });
    release("first");
    expect(await first).toEqual({ value: "first", cached: false });
    expect(await second).toEqual({ value: "first", cached: true });
    expect(runs).toBe(1);
  });
});

describe("Limiter", () => {
  it("runs at most `limit` tasks at once", async () => {
    const l = new Limiter(2);
    let active = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        l.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setTimeout(r, 2));
          active--;
        }),
      ),
    );
    expect(peak).toBe(2);
  });
});
