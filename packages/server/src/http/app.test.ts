import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { configSchema } from "../config/schema.js";
import { ManualClock } from "../core/clock.js";
import { LatchkeyError } from "../core/errors.js";
import { randomSecrets } from "../core/secrets.js";
import { createLogger } from "../logging/logger.js";
import { openStore, type Store } from "../store/db.js";
import { type AppDeps, buildApp } from "./app.js";
import { pingWithin } from "./ops/index.js";

const open: { app: FastifyInstance; store: Store }[] = [];
afterEach(async () => {
  for (const { app, store } of open.splice(0)) {
    await app.close();
    await store.close();
  }
});

function logCapture() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const testRoutes: FastifyPluginAsync = async (app) => {
  app.get("/t/latchkey", async () => {
    throw new LatchkeyError("FLOW_EXPIRED", "flow f1 expired at 12:00");
  });
  app.post("/t/zod", async (req) => {
    z.object({ user: z.object({ name: z.string().min(1) }), age: z.number() }).parse(req.body);
    return { ok: true };
  });
  app.post(
    "/t/schema",
    { schema: { body: { type: "object", required: ["name"], properties: { name: { type: "string" } } } } },
    async () => ({ ok: true }),
  );
  app.get("/t/crash", async () => {
    throw new Error("database password is hunter2");
  });
  app.post("/t/form", async (req) => ({ got: req.body }));
  app.get("/t/cookie", async (_req, reply) => {
    reply.setCookie("lk", "v", { signed: true, httpOnly: true, path: "/" });
    return { ok: true };
  });
};

async function build(over: Partial<AppDeps> = {}, plugins: FastifyPluginAsync[] = [testRoutes]) {
  const store = openStore({ url: "sqlite::memory:" });
  await store.migrate();
  const logs = logCapture();
  const app = await buildApp({
    config: configSchema.parse({}),
    store,
    clock: new ManualClock(),
    secrets: randomSecrets(),
    logger: createLogger({ level: "info", destination: logs.stream }),
    plugins,
    ...over,
  });
  open.push({ app, store });
  return { app, store, logs };
}

describe("ops endpoints", () => {
  it("/healthz answers with the security headers and a fresh request id", async () => {
    const { app } = await build();
    const a = await app.inject({ method: "GET", url: "/healthz" });
    const b = await app.inject({ method: "GET", url: "/healthz" });
    expect(a.statusCode).toBe(200);
    expect(a.json()).toEqual({ status: "ok" });
    expect(a.headers["content-security-policy"]).toBe(
      "default-src 'self';script-src 'self';style-src 'self';img-src 'self' data:;object-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'self'",
    );
    expect(a.headers["x-frame-options"]).toBe("DENY");
    expect(a.headers["x-content-type-options"]).toBe("nosniff");
    expect(a.headers["x-request-id"]).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(a.headers["x-request-id"]).not.toBe(b.headers["x-request-id"]);
  });

  it("ignores a request id sent by the client", async () => {
    const { app } = await build();
    const res = await app.inject({ method: "GET", url: "/healthz", headers: { "x-request-id": "forged" } });
    expect(res.headers["x-request-id"]).not.toBe("forged");
  });

  it("/readyz is 200 while the store answers and 503 once it does not", async () => {
    const { app, store } = await build();
    const ok = await app.inject({ method: "GET", url: "/readyz" });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({ status: "ready" });
    await store.close();
    const down = await app.inject({ method: "GET", url: "/readyz" });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toMatchObject({ status: "unavailable", checks: { store: "failing" } });
    open.pop(); // already closed
    await app.close();
  });

  it("pingWithin gives up on a store that never answers", async () => {
    expect(await pingWithin(() => new Promise<boolean>(() => {}), 20)).toBe(false);
    expect(await pingWithin(async () => true, 1000)).toBe(true);
    expect(await pingWithin(async () => Promise.reject(new Error("down")), 1000)).toBe(false);
  });

  it("/metrics has default process metrics and request durations by route pattern and status", async () => {
    const { app } = await build();
    await app.inject({ method: "GET", url: "/healthz" });
    await app.inject({ method: "GET", url: "/t/latchkey" });
    await app.inject({ method: "GET", url: "/no/such/page/123" });
    const res = await app.inject({ method: "GET", url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toContain("text/plain");
    expect(res.body).toContain("latchkey_process_cpu_user_seconds_total");
    expect(res.body).toMatch(
      /latchkey_http_request_duration_seconds_count\{method="GET",route="\/healthz",status_code="200"\} \d+/,
    );
    expect(res.body).toContain('route="/t/latchkey",status_code="410"');
    expect(res.body).toContain('route="unmatched",status_code="404"');
    expect(res.body).not.toContain("/no/such/page/123");
  });

  it("/metrics answers loopback clients by default, a bearer token when so configured, and refuses others", async () => {
    const { app } = await build();
    const remote = await app.inject({ method: "GET", url: "/metrics", remoteAddress: "203.0.113.5" });
    expect(remote.statusCode).toBe(403);
    expect(remote.json()).toEqual({
      error: { code: "METRICS_FORBIDDEN", messageId: "error.metrics_forbidden" },
    });
    expect(remote.body).not.toContain("latchkey_");
    expect((await app.inject({ method: "GET", url: "/metrics", remoteAddress: "::1" })).statusCode).toBe(200);

    const dir = mkdtempSync(join(tmpdir(), "latchkey-metrics-"));
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, "s3cret-metrics-token\n", { mode: 0o600 });
    const config = configSchema.parse({ server: { metrics: { access: "token", tokenFile } } });
    const tokened = (await build({ config })).app;
    const ask = (authorization?: string) =>
      tokened.inject({
        method: "GET",
        url: "/metrics",
        remoteAddress: "203.0.113.5",
        headers: authorization ? { authorization } : {},
      });
    expect((await ask("Bearer s3cret-metrics-token")).statusCode).toBe(200);
    expect((await ask("Bearer s3cret-metrics-tokem")).statusCode).toBe(403);
    expect((await ask("Bearer ")).statusCode).toBe(403);
    expect((await ask()).statusCode).toBe(403);
    rmSync(dir, { recursive: true, force: true });

    expect(() => configSchema.parse({ server: { metrics: { access: "token" } } })).toThrow(
      /access: token needs a token/,
    );
  });
});

describe("the one error handler", () => {
  it("answers a LatchkeyError with its status, code and message id, and no detail", async () => {
    const { app } = await build();
    const res = await app.inject({ method: "GET", url: "/t/latchkey" });
    expect(res.statusCode).toBe(410);
    expect(res.json()).toEqual({ error: { code: "FLOW_EXPIRED", messageId: "error.flow_expired" } });
    expect(res.body).not.toContain("12:00");
  });

  it("answers a zod error with 400 VALIDATION_FAILED and the field paths, never the values", async () => {
    const { app } = await build();
    const res = await app.inject({
      method: "POST",
      url: "/t/zod",
      payload: { user: { name: "" }, age: "secret-ish" },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({
      error: {
        code: "VALIDATION_FAILED",
        messageId: "error.validation_failed",
        fields: ["user.name", "age"],
      },
    });
    expect(res.body).not.toContain("secret-ish");
  });

  it("answers fastify schema validation and malformed JSON with 400 VALIDATION_FAILED", async () => {
    const { app } = await build();
    const schema = await app.inject({ method: "POST", url: "/t/schema", payload: {} });
    expect(schema.statusCode).toBe(400);
    expect(schema.json().error).toMatchObject({ code: "VALIDATION_FAILED", fields: ["body.name"] });
    const bad = await app.inject({
      method: "POST",
      url: "/t/schema",
      headers: { "content-type": "application/json" },
      payload: '{"name": ',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe("VALIDATION_FAILED");
  });

  it("answers anything else with 500 INTERNAL and no detail, and logs it with the request id", async () => {
    const { app, logs } = await build();
    const res = await app.inject({ method: "GET", url: "/t/crash" });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: { code: "INTERNAL", messageId: "error.internal" } });
    expect(res.body).not.toContain("hunter2");
    const reqId = res.headers["x-request-id"];
    const lines = logs.lines().filter((l) => l.reqId === reqId);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.some((l) => l.msg === "unexpected error")).toBe(true);
  });

  it("answers an unknown route with 404 NOT_FOUND", async () => {
    const { app } = await build();
    const res = await app.inject({ method: "GET", url: "/nope" });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: "NOT_FOUND", messageId: "error.not_found" } });
  });
});

describe("root plugins", () => {
  it("every log line of a request carries its id; secrets in headers never reach the log", async () => {
    const { app, logs } = await build();
    const res = await app.inject({
      method: "GET",
      url: "/healthz",
      headers: { authorization: "Bearer topsecret-token", cookie: "lk_flow=binding-secret" },
    });
    const reqId = res.headers["x-request-id"];
    const lines = logs.lines().filter((l) => "reqId" in l);
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) expect(l.reqId).toBe(reqId);
    const text = JSON.stringify(logs.lines());
    expect(text).not.toContain("topsecret-token");
    expect(text).not.toContain("binding-secret");
  });

  it("parses form bodies and signs cookies", async () => {
    const { app } = await build();
    const form = await app.inject({
      method: "POST",
      url: "/t/form",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: "a=1&b=two",
    });
    expect(form.json()).toEqual({ got: { a: "1", b: "two" } });
    const c = await app.inject({ method: "GET", url: "/t/cookie" });
    const set = c.cookies.find((k) => k.name === "lk");
    expect(set?.value).toMatch(/^v\.[A-Za-z0-9+/_-]+/);
    expect(set?.httpOnly).toBe(true);
  });

  it("limits requests per IP with a THROTTLED answer, but never the ops endpoints", async () => {
    const { app } = await build({ rateLimitPerMinute: 3 });
    const codes: number[] = [];
    for (let i = 0; i < 4; i++)
      codes.push((await app.inject({ method: "GET", url: "/t/latchkey" })).statusCode);
    expect(codes).toEqual([410, 410, 410, 429]);
    const limited = await app.inject({ method: "GET", url: "/t/latchkey" });
    expect(limited.json()).toEqual({ error: { code: "THROTTLED", messageId: "error.throttled" } });
    expect(limited.headers["retry-after"]).toBeDefined();
    for (let i = 0; i < 5; i++)
      expect((await app.inject({ method: "GET", url: "/healthz" })).statusCode).toBe(200);
    // Another client is not affected.
    expect(
      (await app.inject({ method: "GET", url: "/t/latchkey", remoteAddress: "192.0.2.9" })).statusCode,
    ).toBe(410);
  });

  it("registers the plugins it is given, after its own", async () => {
    const seen: string[] = [];
    const feature: FastifyPluginAsync = async (app) => {
      seen.push(app.hasPlugin("@fastify/helmet") ? "after-helmet" : "before-helmet");
      app.get("/feature", async () => ({ feature: true }));
    };
    const { app } = await build({}, [feature]);
    expect(seen).toEqual(["after-helmet"]);
    expect((await app.inject({ method: "GET", url: "/feature" })).json()).toEqual({ feature: true });
  });
});
