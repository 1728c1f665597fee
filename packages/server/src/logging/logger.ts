/**
 * The server's logger: pino, one JSON object a line. Security is the product, so two layers keep
 * secrets out of the log:
 * 1. pino `redact` with the paths where we know secrets travel (request headers, bodies);
 * 2. a `formatters.log` (and bindings, and the req/res/err serializers) that walks every logged object
 *    to any depth and censors each key that could name a secret — pino's redact paths cannot
 *    wildcard every depth, and a flow object nested three levels down must be covered too.
 * A handful of keys that match the pattern but never hold a secret (HTTP `statusCode`, our stable
 * `errorCode`/`reasonCode`/`resultCode`) are let through, so logs stay useful.
 */
import pino, { type DestinationStream, type Logger, type LoggerOptions } from "pino";

export type { Logger };

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Any key that could name a secret. */
export const SECRET_KEY_PATTERN = /pass(word)?|secret|otp|code|answer|token|authorization|cookie/i;

/** Keys that match the pattern but are identifiers or HTTP facts, never secrets. */
const SAFE_KEYS = new Set(["statusCode", "errorCode", "reasonCode", "resultCode", "messageId"]);

export const CENSORED = "[redacted]";

/** Where secrets are known to travel; the deep walk below catches the rest. */
export const REDACT_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["proxy-authorization"]',
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  "headers.authorization",
  "headers.cookie",
  "body.password",
  "body.newPassword",
  "body.confirmPassword",
  "body.code",
  "body.answers",
  "body.token",
  "*.password",
  "*.newPassword",
  "*.answers",
  "*.token",
  "*.secret",
];

const MAX_DEPTH = 10;

function isSecretKey(key: string): boolean {
  return !SAFE_KEYS.has(key) && SECRET_KEY_PATTERN.test(key);
}

/**
 * Returns a copy of `value` in which every property whose key could name a secret is replaced by
 * "[redacted]", at any depth. Cycles become "[circular]", very deep nesting "[truncated]".
 * Errors keep their name, message and stack; Dates and Buffers are left for JSON to render.
 */
export function censorDeep(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Date || Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return value;
  if (seen.has(value)) return "[circular]";
  if (depth >= MAX_DEPTH) return "[truncated]";
  seen.add(value);
  try {
    if (Array.isArray(value)) return value.map((v) => censorDeep(v, depth + 1, seen));
    const out: Record<string, unknown> = {};
    if (value instanceof Error) {
      out.type = value.name;
      out.message = value.message;
      if (value.stack) out.stack = value.stack;
    }
    const source = value instanceof Map ? Object.fromEntries(value) : (value as Record<string, unknown>);
    for (const [k, v] of Object.entries(source)) {
      out[k] = isSecretKey(k) ? CENSORED : censorDeep(v, depth + 1, seen);
    }
    return out;
  } finally {
    seen.delete(value);
  }
}

interface RequestLike {
  id?: unknown;
  method?: unknown;
  url?: unknown;
  ip?: unknown;
  routeOptions?: { url?: unknown };
  headers?: Record<string, unknown>;
  socket?: { remoteAddress?: unknown };
}

/** What a request looks like in a log line: no body, headers censored. */
function serializeRequest(req: unknown): unknown {
  if (req === null || typeof req !== "object") return req;
  const r = req as RequestLike;
  const out: Record<string, unknown> = {
    id: r.id,
    method: r.method,
    url: r.url,
    remoteAddress: r.ip ?? r.socket?.remoteAddress,
  };
  if (r.routeOptions?.url !== undefined) out.route = r.routeOptions.url;
  if (r.headers && typeof r.headers === "object") out.headers = censorDeep(r.headers);
  return out;
}

function serializeResponse(res: unknown): unknown {
  if (res === null || typeof res !== "object") return res;
  const r = res as { statusCode?: unknown };
  return { statusCode: r.statusCode };
}

function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return censorDeep(err);
  const out = censorDeep(err) as Record<string, unknown>;
  // An error's own `code` (ECONNREFUSED, FLOW_EXPIRED) identifies it and is never a secret.
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" || typeof code === "number") out.code = code;
  if (err.cause !== undefined) out.cause = serializeError(err.cause);
  return out;
}

/** Keys whose values the serializers above render themselves (possibly class instances). */
const SERIALIZED_KEYS = new Set(["req", "res", "err", "error"]);

function censorLogObject(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (SERIALIZED_KEYS.has(k)) out[k] = v;
    else out[k] = isSecretKey(k) ? CENSORED : censorDeep(v, 1);
  }
  return out;
}

export interface CreateLoggerOptions {
  level?: LogLevel;
  /** Where lines go; stdout when absent. Tests pass a stream to capture the output. */
  destination?: DestinationStream;
  /** Fields on every line (e.g. {instance}). Censored like everything else. */
  base?: Record<string, unknown>;
}

/**
 * The last pass over each finished line. pino applies the bindings formatter only to the root
 * logger's bindings (a child's `log.child({token})` bypasses it), so the line is checked once more
 * as JSON: cheap next to the I/O, and it closes every path the formatters cannot see.
 */
export function censorLine(line: string): string {
  if (!SECRET_KEY_PATTERN.test(line)) return line;
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return line;
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return line;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (isSecretKey(k)) out[k] = CENSORED;
    else if ((k === "err" || k === "error") && v !== null && typeof v === "object") {
      const code = (v as { code?: unknown }).code;
      const censored = censorDeep(v, 1) as Record<string, unknown>;
      if (typeof code === "string" || typeof code === "number") censored.code = code;
      out[k] = censored;
    } else out[k] = censorDeep(v, 1);
  }
  return `${JSON.stringify(out)}\n`;
}

/** The pino options, exported so fastify and child loggers share exactly the same rules. */
export function loggerOptions(level: LogLevel = "info", base: Record<string, unknown> = {}): LoggerOptions {
  return {
    level,
    base: { pid: process.pid, ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: CENSORED },
    serializers: {
      req: serializeRequest,
      res: serializeResponse,
      err: serializeError,
      error: serializeError,
    },
    formatters: {
      log: censorLogObject,
      bindings: (b) => censorLogObject(b),
    },
    hooks: { streamWrite: censorLine },
  };
}

export function createLogger(opts: CreateLoggerOptions = {}): Logger {
  const options = loggerOptions(opts.level ?? "info", opts.base);
  return opts.destination ? pino(options, opts.destination) : pino(options);
}
