/**
 * The agent link and directory sync (issue 4): synced users can be marked deleted (kept, so audit
 * records keep their target), carry their password expiry and the last full sync pass that saw
 * them; a user is unique per (tenant, directory, source anchor); agents remember the directories
 * they announced and which server instance holds their link; enrollment tokens can be bound to a
 * directory; and each sync pass has a row, so its batches are applied once and in order even when
 * the agent reconnects to another instance.
 */
import type { Kysely } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against whatever schema existed before it.
export async function up(db: Kysely<any>): Promise<void> {
  // SQLite adds one column per ALTER TABLE.
  await db.schema.alterTable("users").addColumn("deleted_at", "bigint").execute();
  await db.schema.alterTable("users").addColumn("password_expires_at", "bigint").execute();
  await db.schema.alterTable("users").addColumn("last_full_sync_id", "text").execute();
  await db.schema
    .createIndex("users_tenant_directory_anchor_unique")
    .on("users")
    .columns(["tenant_id", "directory_id", "source_anchor"])
    .unique()
    .execute();
  // 001's plain index on the same columns is now redundant.
  await db.schema.dropIndex("users_tenant_anchor").execute();

  await db.schema
    .alterTable("agents")
    .addColumn("directories_json", "text", (c) => c.notNull().defaultTo("[]"))
    .execute();
  await db.schema.alterTable("agents").addColumn("link_instance", "text").execute();
  await db.schema.alterTable("agents").addColumn("link_connected_at", "bigint").execute();
  await db.schema.createIndex("agents_tenant").on("agents").column("tenant_id").execute();

  await db.schema.alterTable("agent_enrollment_tokens").addColumn("directory_id", "text").execute();

  await db.schema
    .createTable("sync_passes")
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("directory_id", "text", (c) => c.notNull())
    .addColumn("sync_id", "text", (c) => c.notNull())
    .addColumn("agent_id", "text", (c) => c.notNull())
    .addColumn("full", "integer", (c) => c.notNull())
    .addColumn("next_seq", "integer", (c) => c.notNull())
    .addColumn("upserted", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("removed", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("rejected", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("started_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .addColumn("completed_at", "bigint")
    .addPrimaryKeyConstraint("sync_passes_pk", ["tenant_id", "directory_id", "sync_id"])
    .execute();
  await db.schema
    .createIndex("sync_passes_updated")
    .on("sync_passes")
    .columns(["tenant_id", "directory_id", "updated_at"])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("sync_passes").ifExists().execute();
  await db.schema.dropIndex("agents_tenant").ifExists().execute();
  await db.schema.dropIndex("users_tenant_directory_anchor_unique").ifExists().execute();
  await db.schema
    .createIndex("users_tenant_anchor")
    .on("users")
    .columns(["tenant_id", "directory_id", "source_anchor"])
    .execute();
  for (const [table, column] of [
    ["agent_enrollment_tokens", "directory_id"],
    ["agents", "link_connected_at"],
    ["agents", "link_instance"],
    ["agents", "directories_json"],
    ["users", "last_full_sync_id"],
    ["users", "password_expires_at"],
    ["users", "deleted_at"],
  ] as const) {
    await db.schema.alterTable(table).dropColumn(column).execute();
  }
}
