/**
 * One small HTTPS client for the agent's only plain HTTP call (enrollment): JSON in, JSON out, strict
 * TLS (an optional CA file, verification always on), the outbound proxy, a deadline, and a cap on the
 * size of the answer.
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { proxyAgentFor } from "./proxy.js";

export interface JsonResponse {
  status: number;
  /** The parsed JSON body, or undefined when it is not JSON. */
  body: unknown;
}

export interface PostJsonOptions {
  /** PEM CA(s) of the server; the system's CAs when absent. */
  ca?: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  maxBytes?: number;
}

/** A transport failure: nothing (or nothing usable) came back. `code` is Node's error code. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = "TransportError";
  }
}

export function postJson(url: URL, payload: unknown, opts: PostJsonOptions = {}): Promise<JsonResponse> {
  const body = Buffer.from(JSON.stringify(payload), "utf8");
  const maxBytes = opts.maxBytes ?? 64 * 1024;
  const secure = url.protocol === "https:";
  const agent = proxyAgentFor(url, opts.env);
  return new Promise<JsonResponse>((resolve, reject) => {
    const req = (secure ? httpsRequest : httpRequest)(
      url,
      {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          "content-length": String(body.length),
        },
        ...(agent ? { agent } : {}),
        ...(secure ? { rejectUnauthorized: true, minVersion: "TLSv1.2" as const } : {}),
        ...(secure && opts.ca ? { ca: [opts.ca] } : {}),
        timeout: opts.timeoutMs ?? 15_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > maxBytes) {
            req.destroy(new TransportError("the server's answer is too large", "ETOOBIG"));
            return;
          }
          chunks.push(c);
        });
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on("error", (e) => reject(asTransport(e)));
      },
    );
    req.on("timeout", () =>
      req.destroy(new TransportError("the server did not answer in time", "ETIMEDOUT")),
    );
    req.on("error", (e) => reject(asTransport(e)));
    req.end(body);
  });
}

function asTransport(e: Error): TransportError {
  if (e instanceof TransportError) return e;
  const code = (e as NodeJS.ErrnoException).code ?? "EUNKNOWN";
  return new TransportError(describeNetworkError(code, e.message), code);
}

/** A short, secret-free sentence for a network or TLS error code. */
export function describeNetworkError(code: string, fallback: string): string {
  switch (code) {
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host name not found";
    case "ETIMEDOUT":
    case "ESOCKETTIMEDOUT":
      return "timed out";
    case "ECONNRESET":
      return "connection reset";
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return "host unreachable";
    case "DEPTH_ZERO_SELF_SIGNED_CERT":
    case "SELF_SIGNED_CERT_IN_CHAIN":
    case "UNABLE_TO_VERIFY_LEAF_SIGNATURE":
    case "UNABLE_TO_GET_ISSUER_CERT_LOCALLY":
      return `the server's TLS certificate is not trusted (${code}); give its CA with --ca-file / server.caFile`;
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return "the server's TLS certificate does not name this host";
    case "CERT_HAS_EXPIRED":
      return "the server's TLS certificate has expired";
    default:
      return fallback.replace(/\s+/g, " ").slice(0, 200);
  }
}
