/**
 * The one place audit events are written. Callers pass a typed event; details are checked so that a
 * secret-bearing key can never be recorded (defence in depth: callers should not pass them anyway).
 */
import type { Kysely } from "kysely";
import type { Clock } from "../core/clock.js";
import { newId } from "../core/random.js";
import type { Database } from "../store/schema.js";
import type { AuditEventName, ReasonCode } from "./catalogue.js";

export interface AuditRecord {
  tenantId: string;
  event: AuditEventName;
  result: "success" | "failure" | "info";
  actor?: string | null;
  target?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  reason?: ReasonCode | (string & {}) | null;
  flowId?: string | null;
  details?: Record<string, unknown>;
}

const FORBIDDEN_KEYS = /pass(word)?|secret|code|otp|answer|token|pin/i;

/** Removes any detail whose key could name a secret. Values of allowed keys must be non-secret by contract. */
export function scrubDetails(details: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(details)) {
    if (FORBIDDEN_KEYS.test(k) && !k.endsWith("Ids") && k !== "reasonCode" && k !== "resultCode") continue;
    out[k] = v;
  }
  return out;
}

/**
 * Audit ids sort in the order the events were written by this process: the time (12 hex digits),
 * a counter within the millisecond (6 hex digits), then a random part. Several events of one step
 * share a millisecond (password set, sessions revoked, flow completed); ordering by
 * (occurred_at, id) must keep their real order, or a timeline would show them shuffled. Lower-case
 * hex sorts the same under byte order (SQLite) and any PostgreSQL collation.
 */
let lastMs = -1;
let seq = 0;
export function auditId(now: number): string {
  if (now === lastMs) seq += 1;
  else {
    lastMs = now;
    seq = 0;
  }
  const time = Math.max(0, Math.floor(now)).toString(16).padStart(12, "0");
  return `${time}${(seq % 0x1000000).toString(16).padStart(6, "0")}${newId().slice(0, 10)}`;
}

export interface AuditSink {
  emit(record: AuditRecord): Promise<void>;
}

export class StoreAudit implements AuditSink {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  async emit(r: AuditRecord): Promise<void> {
    const now = this.clock.now();
    await this.db
      .insertInto("audit_events")
      .values({
        id: auditId(now),
        tenant_id: r.tenantId,
        occurred_at: now,
        event: r.event,
        actor: r.actor ?? null,
        target: r.target ?? null,
        ip: r.ip ?? null,
        user_agent: r.userAgent ? r.userAgent.slice(0, 300) : null,
        result: r.result,
        reason: r.reason ?? null,
        flow_id: r.flowId ?? null,
        details_json: JSON.stringify(scrubDetails(r.details ?? {})),
      })
      .execute();
  }
}
