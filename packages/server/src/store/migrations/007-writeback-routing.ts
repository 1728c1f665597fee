/**
 * Writeback across instances (issue 5): an operation row can be handed to the instance that holds
 * the chosen agent's link. `attempt_state` is the hand-off of the current attempt (queued → claimed
 * → answered), `claimed_by` the instance that claimed it, `attempt_request` the op.request without
 * its sealed payload (no secret), and `attempt_result` the answer (or the loss) the link holder wrote
 * for the submitting instance. The main `state` keeps its meaning (claimed / pending_notify / final).
 */
import type { Kysely } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against whatever schema existed before it.
export async function up(db: Kysely<any>): Promise<void> {
  // SQLite adds one column per ALTER TABLE.
  await db.schema.alterTable("writeback_operations").addColumn("attempt_state", "text").execute();
  await db.schema.alterTable("writeback_operations").addColumn("claimed_by", "text").execute();
  await db.schema.alterTable("writeback_operations").addColumn("attempt_request", "text").execute();
  await db.schema.alterTable("writeback_operations").addColumn("attempt_result", "text").execute();
  // The link holder's claim looks for queued attempts of its agents.
  await db.schema
    .createIndex("writeback_operations_attempt")
    .on("writeback_operations")
    .columns(["attempt_state", "agent_id"])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex("writeback_operations_attempt").execute();
  for (const c of ["attempt_result", "attempt_request", "claimed_by", "attempt_state"])
    await db.schema.alterTable("writeback_operations").dropColumn(c).execute();
}
