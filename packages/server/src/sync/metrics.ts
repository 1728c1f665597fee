/** Directory sync's Prometheus metrics, in the process registry that /metrics serves. */
import { Counter, Gauge, Histogram } from "prom-client";
import { registry } from "../http/ops/metrics.js";

export const syncUsers = new Counter({
  name: "latchkey_sync_users_total",
  help: "Synced users processed, by directory and outcome (created, updated, unchanged, removed, rejected).",
  labelNames: ["directory", "outcome"] as const,
  registers: [registry],
});

export const syncBatchDuration = new Histogram({
  name: "latchkey_sync_batch_duration_seconds",
  help: "Time to apply one sync batch (one transaction), by directory and pass (full, incremental).",
  labelNames: ["directory", "pass"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const syncLastFull = new Gauge({
  name: "latchkey_sync_last_full_seconds",
  help: "Duration of the last completed full sync pass of a directory (first batch received to last applied).",
  labelNames: ["directory"] as const,
  registers: [registry],
});

export const syncLastFullTimestamp = new Gauge({
  name: "latchkey_sync_last_full_timestamp_seconds",
  help: "When the last full sync pass of a directory completed (Unix time), for alerting on stale data.",
  labelNames: ["directory"] as const,
  registers: [registry],
});

export const syncBatchesRefused = new Counter({
  name: "latchkey_sync_batches_refused_total",
  help: "Whole sync batches refused (SYNC_REJECTED), by reason.",
  labelNames: ["reason"] as const,
  registers: [registry],
});
