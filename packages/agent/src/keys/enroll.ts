/**
 * Enrollment: make the agent's key pairs, register the public halves with the server using a
 * one-time token, and only when the server accepted them, write the key file (agent id, server URL,
 * keys; mode 0600; atomic). A refused token, an unreachable server or an invalid answer leaves no
 * key file behind. The token is sent once and never written or logged.
 */
import { hostname } from "node:os";
import { type EnrollResponse, enrollRequestSchema, enrollResponseSchema } from "@latchkey/protocol";
import { postJson, TransportError } from "../net/http.js";
import { checkServerUrl, enrollUrl } from "../net/urls.js";
import { agentVersion } from "../version.js";
import {
  beginKeyFile,
  generateAgentKeys,
  KEY_FILE_FORMAT,
  type KeyFileContent,
  serializeKeyFile,
} from "./key-file.js";

export interface EnrollOptions {
  server: string;
  token: string;
  /** Shown to administrators; default: this host's name. */
  name?: string;
  keyFile: string;
  force?: boolean;
  /** PEM CA of the server's certificate. */
  ca?: string;
  allowInsecure?: boolean;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  now?: () => Date;
}

export type EnrollFailure =
  /** The token is malformed, unknown, used or expired. */
  | "token"
  /** The server could not be reached, or answered with a server error or something unreadable. */
  | "unreachable"
  /** The URL or the key file is not usable (insecure scheme, existing key file…). */
  | "usage";

export class EnrollError extends Error {
  constructor(
    message: string,
    readonly failure: EnrollFailure,
  ) {
    super(message);
    this.name = "EnrollError";
  }
}

export interface EnrollResult {
  agentId: string;
  tenantId: string;
  keyFile: string;
  server: string;
}

function errorCode(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const b = body as Record<string, unknown>;
  for (const k of ["code", "error"]) {
    const v = b[k];
    if (typeof v === "string") return v;
    if (typeof v === "object" && v !== null && typeof (v as Record<string, unknown>).code === "string")
      return (v as Record<string, string>).code;
  }
  return undefined;
}

export async function enrollAgent(opts: EnrollOptions): Promise<EnrollResult> {
  let server: URL;
  try {
    server = checkServerUrl(opts.server, opts.allowInsecure);
  } catch (e) {
    throw new EnrollError((e as Error).message, "usage");
  }
  const keys = generateAgentKeys();
  const request = {
    token: opts.token.trim(),
    name: (opts.name ?? hostname()).slice(0, 100) || "agent",
    version: agentVersion(),
    x25519Public: keys.x25519.public,
    ed25519Public: keys.ed25519.public,
  };
  const valid = enrollRequestSchema.safeParse(request);
  if (!valid.success) {
    const field = valid.error.issues[0]?.path.join(".");
    throw new EnrollError(
      field === "token"
        ? "the token is not a valid enrollment token (copy it again from `latchkey admin agent-token`)"
        : `invalid enrollment request (${field})`,
      field === "token" ? "token" : "usage",
    );
  }

  let pending: ReturnType<typeof beginKeyFile>;
  try {
    pending = beginKeyFile(opts.keyFile, { force: opts.force });
  } catch (e) {
    throw new EnrollError((e as Error).message, "usage");
  }
  try {
    const url = enrollUrl(server);
    let res: Awaited<ReturnType<typeof postJson>>;
    try {
      res = await postJson(url, valid.data, {
        ...(opts.ca ? { ca: opts.ca } : {}),
        timeoutMs: opts.timeoutMs ?? 15_000,
        env: opts.env ?? process.env,
      });
    } catch (e) {
      const why = e instanceof TransportError ? e.message : "network error";
      throw new EnrollError(`cannot reach the server at ${url.origin}: ${why}`, "unreachable");
    }
    const code = errorCode(res.body);
    if (code === "ENROLL_TOKEN_INVALID" || res.status === 401 || res.status === 403 || res.status === 410)
      throw new EnrollError(
        "the server refused the enrollment token (unknown, already used or expired); make a new one with `latchkey admin agent-token`",
        "token",
      );
    if (res.status < 200 || res.status >= 300)
      throw new EnrollError(
        `the server at ${url.origin} answered the enrollment with HTTP ${res.status}${code ? ` (${code})` : ""}`,
        res.status >= 400 && res.status < 500 && res.status !== 404 && res.status !== 429
          ? "usage"
          : "unreachable",
      );
    const parsed = enrollResponseSchema.safeParse(res.body);
    if (!parsed.success)
      throw new EnrollError(
        `the server at ${url.origin} answered with an invalid enrollment response`,
        "unreachable",
      );
    const answer: EnrollResponse = parsed.data;
    const content: KeyFileContent = {
      format: KEY_FILE_FORMAT,
      agentId: answer.agentId,
      tenantId: answer.tenantId,
      name: valid.data.name,
      server: server.href.replace(/\/+$/, ""),
      linkPath: answer.linkPath,
      enrolledAt: (opts.now?.() ?? new Date()).toISOString(),
      ed25519: keys.ed25519,
      x25519: keys.x25519,
    };
    pending.commit(serializeKeyFile(content));
    return {
      agentId: answer.agentId,
      tenantId: answer.tenantId,
      keyFile: opts.keyFile,
      server: content.server,
    };
  } catch (e) {
    pending.discard();
    throw e;
  }
}
