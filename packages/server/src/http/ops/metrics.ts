/**
 * The process's Prometheus registry. Other modules register their metrics here
 * (`new Counter({ name, help, registers: [registry] })`) and /metrics serves them all.
 * Default process metrics are collected from the first `enableDefaultMetrics()` on.
 */
import { collectDefaultMetrics, Histogram, Registry } from "prom-client";

export const registry = new Registry();

/** Request duration by method, route pattern (never the raw URL: ids would explode the labels) and status. */
export const httpRequestDuration = new Histogram({
  name: "latchkey_http_request_duration_seconds",
  help: "HTTP request duration in seconds, by method, route pattern and status code.",
  labelNames: ["method", "route", "status_code"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

let defaultsEnabled = false;

/** Starts the default process metrics (CPU, memory, event loop lag, GC) once per process. */
export function enableDefaultMetrics(): void {
  if (defaultsEnabled) return;
  defaultsEnabled = true;
  collectDefaultMetrics({ register: registry, prefix: "latchkey_" });
}
