/**
 * Small shared benchmark helpers: timing loops that record every sample, percentiles, and the CPU
 * each operation cost (process-wide, so worker threads count). Numbers are for ratios within one run
 * (see shared/reference/performance.md §D), not for absolute claims.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";

/** Busy CPU time of the whole machine so far, in ms (Linux /proc/stat); NaN elsewhere. */
export function machineBusyMs(): number {
  try {
    const fields = readFileSync("/proc/stat", "utf8")
      .split("\n", 1)[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
    // USER_HZ is 100 on every Linux we run on: one jiffy is 10 ms.
    return (user + nice + system + irq + softirq + steal) * 10;
  } catch {
    return Number.NaN;
  }
}

export interface Measurement {
  name: string;
  /** Wall-clock milliseconds per operation, in the order they ran. */
  samples: number[];
  /** Process CPU (user + system, all threads) per operation, in ms. */
  cpuMsPerOp: number;
  /** Wall-clock operations per second over the whole loop. */
  opsPerSecond: number;
  /**
   * CPU used by OTHER processes during the loop, as a percentage of the machine (all cores).
   * Above ~5% the run is noisy (performance.md §D.3): read its tails with care.
   */
  otherCpuPercent: number;
  note?: string;
}

/** The p-th percentile (0–100) by nearest rank; NaN for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarise(samples: readonly number[]): Summary {
  const n = samples.length;
  const mean = n === 0 ? Number.NaN : samples.reduce((a, b) => a + b, 0) / n;
  return {
    n,
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    max: n === 0 ? Number.NaN : Math.max(...samples),
    mean,
  };
}

export interface MeasureOptions {
  /** Untimed runs first (JIT, caches, lazy workers). Default 5% of iterations, at least 3. */
  warmup?: number;
  note?: string;
}

/**
 * Runs `op(i)` `iterations` times, one after another (concurrency 1), timing each call.
 * `op` may be sync or async.
 */
export async function measure(
  name: string,
  iterations: number,
  op: (i: number) => unknown,
  options: MeasureOptions = {},
): Promise<Measurement> {
  const warmup = options.warmup ?? Math.max(3, Math.floor(iterations * 0.05));
  for (let i = 0; i < warmup; i++) await op(i);
  const samples = new Array<number>(iterations);
  const cpu0 = process.cpuUsage();
  const busy0 = machineBusyMs();
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    await op(i);
    samples[i] = performance.now() - start;
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const ownMs = (cpu.user + cpu.system) / 1000;
  const othersMs = Math.max(0, machineBusyMs() - busy0 - ownMs);
  const m: Measurement = {
    name,
    samples,
    cpuMsPerOp: ownMs / iterations,
    opsPerSecond: iterations / (wall / 1000),
    otherCpuPercent: (100 * othersMs) / (wall * availableParallelism()),
  };
  if (options.note !== undefined) m.note = options.note;
  return m;
}
