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

export interface AuditSink {
  emit(record: AuditRecord): Promise<void>;
}

export class StoreAudit implements AuditSink {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
  ) {}

  async emit(r: AuditRecord): Promise<void> {
    await this.db
      .insertInto("audit_events")
      .values({
        id: newId(),
        tenant_id: r.tenantId,
        occurred_at: this.clock.now(),
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
