/**
 * The two-sample Kolmogorov–Smirnov test, for "can these two timing samples be told apart?".
 * D is the largest distance between the two empirical distribution functions; the p-value is the
 * asymptotic one, Q_KS(D·√(nm/(n+m))) with Kolmogorov's limiting distribution
 * Q_KS(λ) = 2 Σ_{j≥1} (−1)^{j−1} e^{−2j²λ²} (as scipy.stats.kstwobign.sf). It needs no assumption
 * about the shape of the distributions, which suits response times (skewed, with long tails).
 */

export interface KsResult {
  /** sup |F_a(x) − F_b(x)|, in [0, 1]. */
  d: number;
  /** Asymptotic two-sided p-value: small when the samples come from different distributions. */
  p: number;
  n: number;
  m: number;
}

/** Kolmogorov's limiting survival function Q_KS(λ) = P(K > λ). */
export function kolmogorovQ(lambda: number): number {
  if (!(lambda > 0)) return 1;
  // For small λ the alternating series converges slowly; use the dual (Jacobi theta) form there.
  if (lambda < 1.18) {
    const y = Math.exp(-(Math.PI * Math.PI) / (8 * lambda * lambda));
    let s = 0;
    for (let k = 1; k <= 50; k++) {
      const term = y ** ((2 * k - 1) ** 2);
      s += term;
      if (term < 1e-17) break;
    }
    return Math.min(1, Math.max(0, 1 - (Math.sqrt(2 * Math.PI) / lambda) * s));
  }
  let sum = 0;
  for (let j = 1; j <= 100; j++) {
    const term = Math.exp(-2 * j * j * lambda * lambda);
    sum += (j % 2 === 1 ? 1 : -1) * term;
    if (term < 1e-17) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/** The KS statistic D of two samples (ties handled: both distribution functions step together). */
export function ksStatistic(a: readonly number[], b: readonly number[]): number {
  if (a.length === 0 || b.length === 0) throw new Error("ks: both samples must be non-empty");
  const x = [...a].sort((p, q) => p - q);
  const y = [...b].sort((p, q) => p - q);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i] as number, y[j] as number);
    while (i < x.length && (x[i] as number) <= v) i++;
    while (j < y.length && (y[j] as number) <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  return d;
}

export function ksTwoSample(a: readonly number[], b: readonly number[]): KsResult {
  const d = ksStatistic(a, b);
  const n = a.length;
  const m = b.length;
  return { d, p: kolmogorovQ(d * Math.sqrt((n * m) / (n + m))), n, m };
}
