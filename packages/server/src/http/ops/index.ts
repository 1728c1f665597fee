/**
 * Operations endpoints: /healthz (the process answers), /readyz (the store answers within a short
 * time, so a load balancer stops sending work to an instance that cannot do it) and /metrics
 * (Prometheus). The plugin also times every request of the whole app into the duration histogram,
 * which is why it is not encapsulated.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from "fastify";
import { isLoopbackHost } from "../../config/schema.js";
import { LatchkeyError } from "../../core/errors.js";
import type { Store } from "../../store/db.js";
import { enableDefaultMetrics, httpRequestDuration, registry } from "./metrics.js";

export const OPS_ROUTES = ["/healthz", "/readyz", "/metrics"] as const;

export interface OpsOptions {
  store: Pick<Store, "ping">;
  /** How long /readyz waits for the store before answering 503. Default 1000 ms. */
  readyTimeoutMs?: number;
  /** Who may read /metrics (server.metrics). Default: loopback clients only. */
  metrics?: MetricsAccess;
}

export type MetricsAccess =
  | { access: "loopback" }
  | { access: "public" }
  | { access: "token"; token: string };

const digest = (s: string) => createHash("sha256").update(s).digest();

/** Whether this request may read /metrics. The token is compared in constant time (digests of equal length). */
export function metricsAllowed(req: Pick<FastifyRequest, "ip" | "headers">, rule: MetricsAccess): boolean {
  if (rule.access === "public") return true;
  if (rule.access === "loopback") return isLoopbackHost(req.ip.replace(/^::ffff:/, ""));
  const header = req.headers.authorization ?? "";
  const presented = /^Bearer (.+)$/.exec(header)?.[1] ?? "";
  return timingSafeEqual(digest(presented), digest(rule.token)) && presented.length > 0;
}

/** Resolves true when `ping` answers true within `ms`; false on timeout, false or error. */
export async function pingWithin(ping: () => Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([ping().catch(() => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const opsPlugin: FastifyPluginAsync<OpsOptions> = async (app: FastifyInstance, opts) => {
  enableDefaultMetrics();
  const readyTimeoutMs = opts.readyTimeoutMs ?? 1000;

  app.addHook("onResponse", async (req, reply) => {
    httpRequestDuration.observe(
      {
        method: req.method,
        route: req.routeOptions.url ?? "unmatched",
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  const noStore = { "cache-control": "no-store" };

  app.get("/healthz", async (_req, reply) => reply.headers(noStore).send({ status: "ok" }));

  app.get("/readyz", async (_req, reply) => {
    const ready = await pingWithin(() => opts.store.ping(), readyTimeoutMs);
    return reply
      .code(ready ? 200 : 503)
      .headers(noStore)
      .send({ status: ready ? "ready" : "unavailable", checks: { store: ready ? "ok" : "failing" } });
  });

  const metricsRule: MetricsAccess = opts.metrics ?? { access: "loopback" };
  app.get("/metrics", async (req, reply) => {
    if (!metricsAllowed(req, metricsRule)) throw new LatchkeyError("METRICS_FORBIDDEN", "metrics refused");
    return reply.headers({ ...noStore, "content-type": registry.contentType }).send(await registry.metrics());
  });
};

// Not encapsulated (what fastify-plugin does): the timing hook must see every route of the app.
(opsPlugin as unknown as Record<symbol, boolean>)[Symbol.for("skip-override")] = true;

export { opsPlugin, registry };
