/**
 * The initial schema. Column types are chosen so the same DDL means the same thing on SQLite and
 * PostgreSQL: text ids, bigint epoch-millisecond times, integer 0/1 booleans, JSON as text.
 */
import type { Kysely } from "kysely";

// Migrations must not depend on the current Database type: they describe history.
// biome-ignore lint/suspicious/noExplicitAny: a migration runs against whatever schema existed before it.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("latchkey_meta")
    .addColumn("key", "text", (c) => c.primaryKey())
    .addColumn("value", "text", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("tenants")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("slug", "text", (c) => c.notNull().unique())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("settings_json", "text", (c) => c.notNull().defaultTo("{}"))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .execute();

  await db.schema
    .createTable("users")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("tenant_id", "text", (c) => c.notNull().references("tenants.id").onDelete("cascade"))
    .addColumn("kind", "text", (c) => c.notNull())
    .addColumn("username", "text", (c) => c.notNull())
    .addColumn("upn", "text")
    .addColumn("email", "text")
    .addColumn("display_name", "text")
    .addColumn("given_name", "text")
    .addColumn("surname", "text")
    .addColumn("mobile", "text")
    .addColumn("office_phone", "text")
    .addColumn("enabled", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("locked", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("is_admin", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("in_scope", "integer", (c) => c.notNull().defaultTo(1))
    .addColumn("source_anchor", "text")
    .addColumn("directory_id", "text")
    .addColumn("password_hash", "text")
    .addColumn("password_changed_at", "bigint")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .addUniqueConstraint("users_tenant_username", ["tenant_id", "username"])
    .execute();
  await db.schema.createIndex("users_tenant_upn").on("users").columns(["tenant_id", "upn"]).execute();
  await db.schema.createIndex("users_tenant_email").on("users").columns(["tenant_id", "email"]).execute();
  await db.schema
    .createIndex("users_tenant_anchor")
    .on("users")
    .columns(["tenant_id", "directory_id", "source_anchor"])
    .execute();

  await db.schema
    .createTable("password_history")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("password_hash", "text", (c) => c.notNull())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("password_history_user")
    .on("password_history")
    .columns(["user_id", "created_at"])
    .execute();

  await db.schema
    .createTable("auth_methods")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("label", "text")
    .addColumn("data_json", "text", (c) => c.notNull().defaultTo("{}"))
    .addColumn("confirmed_at", "bigint")
    .addColumn("last_used_at", "bigint")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("auth_methods_user").on("auth_methods").columns(["user_id", "type"]).execute();

  await db.schema
    .createTable("flows")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("user_id", "text")
    .addColumn("phantom", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("binding_hash", "text", (c) => c.notNull())
    .addColumn("csrf_token", "text", (c) => c.notNull())
    .addColumn("gates_passed_json", "text", (c) => c.notNull().defaultTo("[]"))
    .addColumn("context_json", "text", (c) => c.notNull().defaultTo("{}"))
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema.createIndex("flows_expires").on("flows").column("expires_at").execute();

  await db.schema
    .createTable("challenges")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("flow_id", "text", (c) => c.notNull())
    .addColumn("user_id", "text")
    .addColumn("method_type", "text", (c) => c.notNull())
    .addColumn("code_hmac", "text")
    .addColumn("data_json", "text", (c) => c.notNull().defaultTo("{}"))
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .addColumn("used_at", "bigint")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex("challenges_flow")
    .on("challenges")
    .columns(["flow_id", "method_type"])
    .execute();

  await db.schema
    .createTable("throttle_counters")
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("key", "text", (c) => c.notNull())
    .addColumn("window_start", "bigint", (c) => c.notNull())
    .addColumn("count", "integer", (c) => c.notNull())
    .addColumn("locked_until", "bigint")
    .addPrimaryKeyConstraint("throttle_counters_pk", ["tenant_id", "key"])
    .execute();

  await db.schema
    .createTable("audit_events")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("occurred_at", "bigint", (c) => c.notNull())
    .addColumn("event", "text", (c) => c.notNull())
    .addColumn("actor", "text")
    .addColumn("target", "text")
    .addColumn("ip", "text")
    .addColumn("user_agent", "text")
    .addColumn("result", "text", (c) => c.notNull())
    .addColumn("reason", "text")
    .addColumn("flow_id", "text")
    .addColumn("details_json", "text", (c) => c.notNull().defaultTo("{}"))
    .execute();
  await db.schema
    .createIndex("audit_events_tenant_time")
    .on("audit_events")
    .columns(["tenant_id", "occurred_at"])
    .execute();
  await db.schema.createIndex("audit_events_flow").on("audit_events").column("flow_id").execute();

  await db.schema
    .createTable("agents")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("directory_id", "text")
    .addColumn("x25519_public", "text", (c) => c.notNull())
    .addColumn("ed25519_public", "text", (c) => c.notNull())
    .addColumn("version", "text")
    .addColumn("enrolled_at", "bigint", (c) => c.notNull())
    .addColumn("revoked_at", "bigint")
    .addColumn("last_heartbeat_at", "bigint")
    .execute();

  await db.schema
    .createTable("agent_enrollment_tokens")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("token_hash", "text", (c) => c.notNull().unique())
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .addColumn("used_at", "bigint")
    .execute();

  await db.schema
    .createTable("writeback_operations")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("target_anchor", "text", (c) => c.notNull())
    .addColumn("directory_id", "text")
    .addColumn("agent_id", "text")
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("sealed_payload", "text")
    .addColumn("result_code", "text")
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("updated_at", "bigint", (c) => c.notNull())
    .addColumn("completed_at", "bigint")
    .execute();
  await db.schema
    .createIndex("writeback_operations_state")
    .on("writeback_operations")
    .columns(["state", "created_at"])
    .execute();

  await db.schema
    .createTable("outbox")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("channel", "text", (c) => c.notNull())
    .addColumn("template", "text", (c) => c.notNull())
    .addColumn("payload_sealed", "text")
    .addColumn("state", "text", (c) => c.notNull())
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "bigint", (c) => c.notNull())
    .addColumn("last_error", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("sent_at", "bigint")
    .execute();
  await db.schema.createIndex("outbox_due").on("outbox").columns(["state", "next_attempt_at"]).execute();

  await db.schema
    .createTable("sessions")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("tenant_id", "text", (c) => c.notNull())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.id").onDelete("cascade"))
    .addColumn("token_hash", "text", (c) => c.notNull().unique())
    .addColumn("ip", "text")
    .addColumn("user_agent", "text")
    .addColumn("created_at", "bigint", (c) => c.notNull())
    .addColumn("last_seen_at", "bigint", (c) => c.notNull())
    .addColumn("expires_at", "bigint", (c) => c.notNull())
    .addColumn("revoked_at", "bigint")
    .execute();
  await db.schema.createIndex("sessions_user").on("sessions").column("user_id").execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up().
export async function down(db: Kysely<any>): Promise<void> {
  for (const t of [
    "sessions",
    "outbox",
    "writeback_operations",
    "agent_enrollment_tokens",
    "agents",
    "audit_events",
    "throttle_counters",
    "challenges",
    "flows",
    "auth_methods",
    "password_history",
    "users",
    "tenants",
    "latchkey_meta",
  ]) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
