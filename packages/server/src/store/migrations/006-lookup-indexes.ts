/**
 * The reset flow finds a user by what the person typed, compared lower-case with the UPN and the
 * email address (`lower(upn) = ?`, `lower(email) = ?`). 001's plain (tenant_id, upn) and
 * (tenant_id, email) indexes cannot serve those comparisons, so each identify scanned the tenant's
 * users: expression indexes on exactly the expressions the query uses replace them.
 */
import { type Kysely, sql } from "kysely";

// biome-ignore lint/suspicious/noExplicitAny: a migration runs against whatever schema existed before it.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex("users_tenant_lower_upn")
    .on("users")
    .expression(sql`tenant_id, lower(upn)`)
    .execute();
  await db.schema
    .createIndex("users_tenant_lower_email")
    .on("users")
    .expression(sql`tenant_id, lower(email)`)
    .execute();
  await db.schema.dropIndex("users_tenant_upn").execute();
  await db.schema.dropIndex("users_tenant_email").execute();
}
