import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { backoffDelay, backoffWindow } from "./backoff.js";

describe("backoff with full jitter", () => {
  it("doubles the window from 500 ms and caps it at 30 s", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 30, 1000].map((a) => backoffWindow(a))).toEqual([
      500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000,
    ]);
  });

  it("every delay lies in [0, window) and uses the whole window", () => {
    fc.assert(
      fc.property(
        fc.nat(200),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, r) => {
          const d = backoffDelay(attempt, () => r, { initialMs: 100, maxMs: 5000 });
          expect(d).toBeGreaterThanOrEqual(0);
          expect(d).toBeLessThan(backoffWindow(attempt, { initialMs: 100, maxMs: 5000 }));
          expect(d).toBe(Math.floor(r * backoffWindow(attempt, { initialMs: 100, maxMs: 5000 })));
        },
      ),
    );
  });
});
