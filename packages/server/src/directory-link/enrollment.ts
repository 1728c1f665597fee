/**
 * Agent enrollment. An administrator makes a one-time token (`latchkey admin agent-token`); only
 * its SHA-256 is stored. The agent posts it once, with its two public keys, to AGENT_ENROLL_PATH.
 * The token is consumed by one conditional update (unused and unexpired), so of two concurrent uses
 * exactly one wins, in the same transaction that creates the agent. Unknown, used and expired tokens
 * get one and the same answer.
 *
 * The token is looked up by its hash: the database compares SHA-256 values, which reveal nothing
 * about the token, so the lookup's timing cannot be used to guess it byte by byte.
 */
import { createHash } from "node:crypto";
import {
  AGENT_ENROLL_PATH,
  AGENT_LINK_PATH,
  type EnrollResponse,
  enrollRequestSchema,
} from "@latchkey/protocol";
import type { FastifyInstance } from "fastify";
import type { Kysely } from "kysely";
import type { AuditSink } from "../audit/emitter.js";
import type { Clock } from "../core/clock.js";
import { LatchkeyError } from "../core/errors.js";
import { cryptoRandom, newId, type Random } from "../core/random.js";
import type { Database } from "../store/schema.js";
import { ed25519PublicKey, isX25519PublicKey } from "./keys.js";

/** Default and longest life of an enrollment token. */
export const DEFAULT_TOKEN_TTL_MS = 15 * 60_000;
export const MAX_TOKEN_TTL_MS = 60 * 60_000;
export const MIN_TOKEN_TTL_MS = 60_000;

export function tokenHash(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export interface TokenDeps {
  db: Kysely<Database>;
  clock: Clock;
  audit: AuditSink;
  random?: Random;
}

export interface CreatedToken {
  /** 32 random bytes, base64url. Shown once; never stored, logged or audited. */
  token: string;
  id: string;
  expiresAt: number;
  directoryId: string | null;
}

/** Makes a one-time enrollment token for a tenant, optionally bound to one directory. */
export async function createEnrollmentToken(
  deps: TokenDeps,
  opts: { tenantId: string; ttlMs?: number; directoryId?: string | null; actor?: string },
): Promise<CreatedToken> {
  const ttlMs = opts.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
  if (!Number.isInteger(ttlMs) || ttlMs < MIN_TOKEN_TTL_MS || ttlMs > MAX_TOKEN_TTL_MS) {
    throw new LatchkeyError("VALIDATION_FAILED", "token life must be from 1 minute to 1 hour");
  }
  const random = deps.random ?? cryptoRandom;
  const token = random.bytes(32).toString("base64url");
  const now = deps.clock.now();
  const id = newId(random);
  const directoryId = opts.directoryId ?? null;
  await deps.db
    .insertInto("agent_enrollment_tokens")
    .values({
      id,
      tenant_id: opts.tenantId,
      token_hash: tokenHash(token),
      created_at: now,
      expires_at: now + ttlMs,
      used_at: null,
      directory_id: directoryId,
    })
    .execute();
  await deps.audit.emit({
    tenantId: opts.tenantId,
    event: "agent.token_created",
    result: "success",
    actor: opts.actor ?? "admin",
    target: id,
    details: { directoryId, ttlSeconds: Math.round(ttlMs / 1000), expiresAt: now + ttlMs },
  });
  return { token, id, expiresAt: now + ttlMs, directoryId };
}

export interface EnrollRouteOptions extends TokenDeps {
  /** The tenant a refused enrollment is recorded under (the token did not say which). */
  failureTenantId(): Promise<string | null>;
  /** Enrollment attempts per client IP and minute. */
  perMinute: number;
}

/** POST AGENT_ENROLL_PATH. */
export async function enrollRoutes(app: FastifyInstance, opts: EnrollRouteOptions): Promise<void> {
  const random = opts.random ?? cryptoRandom;
  app.post(
    AGENT_ENROLL_PATH,
    { config: { rateLimit: { max: opts.perMinute, timeWindow: 60_000 } } },
    async (req, reply) => {
      const body = enrollRequestSchema.parse(req.body ?? {});
      const ed = ed25519PublicKey(body.ed25519Public);
      const fields = [
        ...(ed ? [] : ["ed25519Public"]),
        ...(isX25519PublicKey(body.x25519Public) ? [] : ["x25519Public"]),
      ];
      if (fields.length > 0) {
        throw new LatchkeyError("VALIDATION_FAILED", `invalid ${fields.join(", ")}`, {
          field: fields.join(","),
        });
      }
      const now = opts.clock.now();
      const agentId = newId(random);
      const enrolled = await opts.db.transaction().execute(async (trx) => {
        const token = await trx
          .updateTable("agent_enrollment_tokens")
          .set({ used_at: now })
          .where("token_hash", "=", tokenHash(body.token))
          .where("used_at", "is", null)
          .where("expires_at", ">", now)
          .returning(["id", "tenant_id", "directory_id"])
          .executeTakeFirst();
        if (!token) return null;
        await trx
          .insertInto("agents")
          .values({
            id: agentId,
            tenant_id: token.tenant_id,
            name: body.name,
            directory_id: token.directory_id,
            x25519_public: body.x25519Public,
            ed25519_public: body.ed25519Public,
            version: body.version,
            enrolled_at: now,
            revoked_at: null,
            last_heartbeat_at: null,
            directories_json: "[]",
            link_instance: null,
            link_connected_at: null,
          })
          .execute();
        return token;
      });
      const ip = req.ip ?? null;
      const userAgent = typeof req.headers["user-agent"] === "string" ? req.headers["user-agent"] : null;
      if (!enrolled) {
        const tenantId = await opts.failureTenantId();
        if (tenantId) {
          await opts.audit.emit({
            tenantId,
            event: "agent.enroll_failed",
            result: "failure",
            reason: "token_invalid",
            ip,
            userAgent,
            details: { name: body.name, version: body.version },
          });
        }
        req.log.info({ errorCode: "ENROLL_TOKEN_INVALID" }, "agent enrollment refused");
        throw new LatchkeyError("ENROLL_TOKEN_INVALID");
      }
      await opts.audit.emit({
        tenantId: enrolled.tenant_id,
        event: "agent.enrolled",
        result: "success",
        target: agentId,
        ip,
        userAgent,
        details: { name: body.name, version: body.version, directoryId: enrolled.directory_id },
      });
      req.log.info({ agentId, directoryId: enrolled.directory_id }, "agent enrolled");
      const answer: EnrollResponse = { agentId, tenantId: enrolled.tenant_id, linkPath: AGENT_LINK_PATH };
      return reply.code(201).header("cache-control", "no-store").send(answer);
    },
  );
}
