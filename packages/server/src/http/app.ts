/**
 * The fastify root. It registers plugins and nothing else: security headers (strict CSP), cookies,
 * form bodies, a generous global per-IP rate limit, the ops endpoints, then the feature plugins it
 * is given (portal, API, admin). It owns the one error handler, so every API error has the same
 * shape, and gives every request an id that is in each log line and in `x-request-id`.
 */
import { createHmac } from "node:crypto";
import cookie from "@fastify/cookie";
import formbody from "@fastify/formbody";
import helmet from "@fastify/helmet";
import rateLimit from "@fastify/rate-limit";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
} from "fastify";
import { z } from "zod";
import type { Config } from "../config/schema.js";
import { readSecretFile } from "../config/secret-file.js";
import type { Clock } from "../core/clock.js";
import { ERRORS, type ErrorCode, isLatchkeyError, LatchkeyError } from "../core/errors.js";
import { newId } from "../core/random.js";
import type { ServerSecrets } from "../core/secrets.js";
import type { Logger } from "../logging/logger.js";
import type { Store } from "../store/db.js";
import { OPS_ROUTES, opsPlugin } from "./ops/index.js";

export interface AppDeps {
  config: Config;
  store: Store;
  clock: Clock;
  secrets: ServerSecrets;
  logger: Logger;
  /** Feature plugins (portal, API, admin…), registered after the root's own, in order. */
  plugins?: FastifyPluginAsync[];
  /** Global rate limit per client IP and minute. Default 600: generous; flows have their own throttles. */
  rateLimitPerMinute?: number;
  /** How long /readyz waits for the store. Default 1000 ms. */
  readyTimeoutMs?: number;
}

/** The Content-Security-Policy of every response: no inline script or style, no other host, no framing. */
export const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", "data:"],
  objectSrc: ["'none'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
} as const;

/** The JSON body of every API error. Field paths only for validation errors; never values. */
export interface ErrorBody {
  error: { code: ErrorCode; messageId: string; fields?: string[] };
}

function errorBody(code: ErrorCode, fields?: string[]): ErrorBody {
  return { error: { code, messageId: ERRORS[code].messageId, ...(fields ? { fields } : {}) } };
}

function zodFields(e: z.ZodError): string[] {
  return [...new Set(e.issues.map((i) => i.path.map(String).join(".")))];
}

function isZodError(e: unknown): e is z.ZodError {
  return e instanceof z.ZodError || (e instanceof Error && e.name === "ZodError" && "issues" in e);
}

function send(reply: FastifyReply, status: number, body: ErrorBody): FastifyReply {
  return reply
    .code(status)
    .header("cache-control", "no-store")
    .type("application/json; charset=utf-8")
    .send(body);
}

/** Derives the cookie-signing key from the HMAC key, so no third key has to be configured. */
function cookieSecret(secrets: ServerSecrets): Buffer {
  return createHmac("sha256", secrets.hmacKey).update("latchkey cookie signing v1").digest();
}

/** Fastify takes a hop count as a function (proxy-addr's form); the rest passes through. */
function trustProxyOf(
  t: Config["server"]["trustProxy"],
): boolean | string[] | ((addr: string, hop: number) => boolean) {
  return typeof t === "number" ? (_addr, hop) => hop < t : t;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: () => newId(),
    // Never take a request id from the client: it would let anyone forge log correlation.
    requestIdHeader: false,
    trustProxy: trustProxyOf(config.server.trustProxy),
    bodyLimit: 256 * 1024,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: true },
  });

  app.addHook("onRequest", async (req, reply) => {
    reply.header("x-request-id", req.id);
  });

  app.setErrorHandler((err: FastifyError | Error, req, reply) => {
    if (isLatchkeyError(err)) {
      if (err.status >= 500) req.log.error({ err }, "request failed");
      else req.log.info({ errorCode: err.code }, "request refused");
      return send(reply, err.status, errorBody(err.code));
    }
    if (isZodError(err)) {
      const fields = zodFields(err);
      req.log.info({ errorCode: "VALIDATION_FAILED", fields }, "request refused");
      return send(reply, 400, errorBody("VALIDATION_FAILED", fields));
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      const fields = [
        ...new Set(
          fe.validation.map(
            (v) =>
              `${fe.validationContext ?? "body"}${v.instancePath.replace(/\//g, ".")}${
                typeof v.params?.missingProperty === "string" ? `.${v.params.missingProperty}` : ""
              }`,
          ),
        ),
      ];
      req.log.info({ errorCode: "VALIDATION_FAILED", fields }, "request refused");
      return send(reply, 400, errorBody("VALIDATION_FAILED", fields));
    }
    // Fastify's own client errors (malformed JSON, body too large, unsupported media type…).
    if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
      const code: ErrorCode =
        fe.statusCode === 429 ? "THROTTLED" : fe.statusCode === 404 ? "NOT_FOUND" : "VALIDATION_FAILED";
      req.log.info({ errorCode: code, statusCode: fe.statusCode }, "request refused");
      return send(reply, fe.statusCode, errorBody(code));
    }
    req.log.error({ err }, "unexpected error");
    return send(reply, 500, errorBody("INTERNAL"));
  });

  app.setNotFoundHandler((_req, reply) => send(reply, 404, errorBody("NOT_FOUND")));

  await app.register(helmet, {
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    referrerPolicy: { policy: "no-referrer" },
    crossOriginOpenerPolicy: { policy: "same-origin" },
    frameguard: { action: "deny" },
  });
  await app.register(cookie, { secret: cookieSecret(deps.secrets) });
  await app.register(formbody, { bodyLimit: 64 * 1024 });
  await app.register(rateLimit, {
    global: true,
    max: deps.rateLimitPerMinute ?? 600,
    timeWindow: 60_000,
    // Probes and scrapers must never be turned away by the limit meant for people.
    allowList: (req) => (OPS_ROUTES as readonly string[]).includes(req.routeOptions.url ?? ""),
    errorResponseBuilder: () => new LatchkeyError("THROTTLED", "global per-IP rate limit"),
  });
  const m = deps.config.server.metrics;
  await app.register(opsPlugin, {
    store: deps.store,
    readyTimeoutMs: deps.readyTimeoutMs,
    metrics:
      m.access === "token" && m.tokenFile
        ? { access: "token", token: readSecretFile(m.tokenFile, "server.metrics.tokenFile").trim() }
        : { access: m.access === "public" ? "public" : "loopback" },
  });

  for (const plugin of deps.plugins ?? []) await app.register(plugin);
  return app;
}
