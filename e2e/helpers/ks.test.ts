/**
 * The KS helper against reference values (scipy.stats.kstwobign.sf for Q_KS; D computed by hand)
 * and on samples whose answer is known: the same distribution is not rejected, a shifted one is.
 */
import { describe, expect, it } from "vitest";
import { kolmogorovQ, ksStatistic, ksTwoSample } from "./ks.js";

/** Deterministic uniform [0, 1) (mulberry32), so the sample tests never flake. */
function uniform(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Log-normal draws: shaped like response times. */
function timings(seed: number, n: number, shift = 0): number[] {
  const u = uniform(seed);
  return Array.from({ length: n }, () => {
    const z = Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
    return Math.exp(0.5 + 0.4 * z) + shift;
  });
}

describe("Kolmogorov distribution", () => {
  it("matches scipy's kstwobign.sf", () => {
    expect(kolmogorovQ(1.358)).toBeCloseTo(0.05002679733444698, 8);
    expect(kolmogorovQ(1.628)).toBeCloseTo(0.009975522431181053, 8);
    expect(kolmogorovQ(0.5)).toBeCloseTo(0.9639452436648751, 8);
    expect(kolmogorovQ(0.23 * Math.sqrt(500 / 45))).toBeCloseTo(0.5991955719698889, 8);
    expect(kolmogorovQ(3)).toBeCloseTo(3.045995948942526e-8, 12);
    expect(kolmogorovQ(1e-3)).toBe(1);
    expect(kolmogorovQ(0)).toBe(1);
  });

  it("is continuous where the two series meet and decreasing", () => {
    expect(Math.abs(kolmogorovQ(1.18 - 1e-9) - kolmogorovQ(1.18 + 1e-9))).toBeLessThan(1e-8);
    let previous = 1;
    for (let l = 0.05; l < 4; l += 0.05) {
      const q = kolmogorovQ(l);
      expect(q).toBeLessThanOrEqual(previous);
      previous = q;
    }
  });
});

describe("two-sample KS", () => {
  it("computes D by hand-checked examples, ties included", () => {
    expect(ksStatistic([1, 2, 3], [1, 2, 3])).toBe(0);
    expect(ksStatistic([1, 2, 3], [4, 5, 6])).toBe(1);
    // F_a jumps to 1/6, 3/6, 1 at 1, 2, 3; F_b to 1/7, 3/7, 5/7, 6/7, 1 at 2..6: the gap at 3 is 1 − 3/7.
    expect(ksStatistic([1, 2, 2, 3, 3, 3], [2, 3, 3, 4, 4, 5, 6])).toBeCloseTo(4 / 7, 12);
    const a = [0.61, 0.29, 0.06, 0.59, -1.73, -0.74, 0.51, -0.56, 0.39, 1.64, 0.05, -0.06, 0.64];
    const b = [2.2, 1.66, 1.38, 0.2, 0.36, 0, 0.96, 1.56, 0.44, 1.5, -0.3, 0.66, 2.31, 3.29];
    expect(ksStatistic(a, b)).toBe(ksStatistic(b, a));
    expect(() => ksStatistic([], [1])).toThrow();
  });

  it("does not tell apart two samples of one distribution", () => {
    for (const seed of [1, 2, 3]) {
      const r = ksTwoSample(timings(seed, 500), timings(seed + 100, 500));
      expect(r.p).toBeGreaterThan(0.01);
      expect(r.n).toBe(500);
    }
  });

  it("tells apart a shift of a fifth of the spread", () => {
    const r = ksTwoSample(timings(7, 500), timings(8, 500, 0.15));
    expect(r.p).toBeLessThan(0.01);
    expect(ksTwoSample([1, 2, 3, 4], [1, 2, 3, 4]).p).toBe(1);
    expect(ksTwoSample(timings(9, 200), timings(10, 200, 10)).d).toBe(1);
  });
});
