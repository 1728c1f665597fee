/**
 * Administration of enrolled agents through the store, usable from any process: the CLI, the
 * admin console later, and the link server. Revocation is a store write; the instance holding the
 * agent's link notices it at the agent's next heartbeat (or at once, when the revocation goes
 * through DirectoryLink.revoke on that instance).
 */
import type { Kysely } from "kysely";
import type { AuditSink } from "../audit/emitter.js";
import type { Clock } from "../core/clock.js";
import type { Database } from "../store/schema.js";

export type RevokeResult = "revoked" | "already_revoked" | "unknown";

/** Sets revoked_at (once) and records `agent.revoked`. */
export async function revokeAgent(
  deps: { db: Kysely<Database>; clock: Clock; audit: AuditSink },
  opts: { tenantId: string; agentId: string; actor?: string },
): Promise<RevokeResult> {
  const now = deps.clock.now();
  const done = await deps.db
    .updateTable("agents")
    .set({ revoked_at: now })
    .where("tenant_id", "=", opts.tenantId)
    .where("id", "=", opts.agentId)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  if (Number(done.numUpdatedRows) === 0) {
    const row = await deps.db
      .selectFrom("agents")
      .select("id")
      .where("tenant_id", "=", opts.tenantId)
      .where("id", "=", opts.agentId)
      .executeTakeFirst();
    return row ? "already_revoked" : "unknown";
  }
  await deps.audit.emit({
    tenantId: opts.tenantId,
    event: "agent.revoked",
    result: "success",
    actor: opts.actor ?? "admin",
    target: opts.agentId,
  });
  return "revoked";
}
