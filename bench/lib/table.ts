/** Prints measurements as an aligned plain-text table, with each row's p50 as a ratio to a reference row. */
import { type Measurement, summarise } from "./stats.js";

export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 1) return ms.toFixed(2);
  if (ms >= 0.01) return ms.toFixed(3);
  return ms.toExponential(1);
}

export function printTable(rows: readonly (readonly string[])[], header: readonly string[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ");
  const out = [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
  console.log(out);
  return out;
}

/**
 * One row per measurement: n, p50/p90/p99/max (ms), wall ops/s, CPU ms per op, and p50 ÷ the
 * reference's p50 (e.g. "0.31×" of one Argon2id hash), and the CPU other processes used meanwhile.
 */
export function printMeasurements(measurements: readonly Measurement[], reference?: Measurement): string {
  const refP50 = reference === undefined ? Number.NaN : summarise(reference.samples).p50;
  const rows = measurements.map((m) => {
    const s = summarise(m.samples);
    return [
      m.name,
      String(s.n),
      formatMs(s.p50),
      formatMs(s.p90),
      formatMs(s.p99),
      formatMs(s.max),
      m.opsPerSecond >= 100 ? m.opsPerSecond.toFixed(0) : m.opsPerSecond.toFixed(1),
      formatMs(m.cpuMsPerOp),
      Number.isFinite(refP50) ? `${(s.p50 / refP50).toPrecision(2)}×` : "-",
      Number.isFinite(m.otherCpuPercent) ? m.otherCpuPercent.toFixed(0) : "-",
      m.note ?? "",
    ];
  });
  return printTable(rows, [
    "operation",
    "n",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "ops/s",
    "cpu ms/op",
    "÷ref p50",
    "note",
  ]);
}
