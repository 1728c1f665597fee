/**
 * "My account" (issue 6): sessions remember how the person signed in (the methods used, as an
 * AMR list), when they last proved one of their verification methods during the session (step-up,
 * required before adding or changing a method when they already have some) and the session's own
 * CSRF token; users remember when they last confirmed that their methods are still right (the
 * "are these still right?" interrupt).
 */
import type { Kysely } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against whatever schema existed before it.
export async function up(db: Kysely<any>): Promise<void> {
  // SQLite adds one column per ALTER TABLE.
  await db.schema
    .alterTable("sessions")
    .addColumn("amr_json", "text", (c) => c.notNull().defaultTo("[]"))
    .execute();
  await db.schema
    .alterTable("sessions")
    .addColumn("csrf_token", "text", (c) => c.notNull().defaultTo(""))
    .execute();
  await db.schema.alterTable("sessions").addColumn("step_up_at", "bigint").execute();
  await db.schema.alterTable("sessions").addColumn("step_up_method", "text").execute();
  await db.schema.alterTable("users").addColumn("methods_reviewed_at", "bigint").execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>): Promise<void> {
  for (const [table, column] of [
    ["users", "methods_reviewed_at"],
    ["sessions", "step_up_method"],
    ["sessions", "step_up_at"],
    ["sessions", "csrf_token"],
    ["sessions", "amr_json"],
  ] as const) {
    await db.schema.alterTable(table).dropColumn(column).execute();
  }
}
