/**
 * Creating tenants and their first users: at start (`ensureTenant`: the configured tenant when the
 * store has none), and for seeds (`seedTenant`: a tenant plus cloud users from a list, as the demo
 * does). Both are idempotent and safe when several instances start at once: the tenant is inserted
 * with ON CONFLICT DO NOTHING on its unique slug, users on (tenant, username).
 */
import type { Kysely } from "kysely";
import type { AuditSink } from "../audit/emitter.js";
import { type TenantSettings, tenantSettingsSchema } from "../config/tenant-settings.js";
import type { Clock } from "../core/clock.js";
import { hashPassword } from "../core/password-hash.js";
import { newId } from "../core/random.js";
import type { Database, Tenant, User } from "../store/schema.js";

export interface TenantSpec {
  slug: string;
  name: string;
  /** Validated with tenantSettingsSchema; defaults fill what is missing. */
  settings?: unknown;
}

export interface SeedUser {
  /** Account name; stored lower-cased. */
  username: string;
  /** Plaintext only in memory: hashed with argon2id before it is stored. */
  password: string;
  email?: string | null;
  upn?: string | null;
  displayName?: string | null;
  givenName?: string | null;
  surname?: string | null;
  mobile?: string | null;
  isAdmin?: boolean;
}

export interface SeedDeps {
  db: Kysely<Database>;
  clock: Clock;
  /** When given, creations are recorded (`tenant.created`, `user.created`). */
  audit?: AuditSink;
}

/** The tenant with this slug, or undefined. */
export async function findTenant(db: Kysely<Database>, slug: string): Promise<Tenant | undefined> {
  return db.selectFrom("tenants").selectAll().where("slug", "=", slug).executeTakeFirst();
}

/** All tenants, oldest first. */
export async function listTenants(db: Kysely<Database>): Promise<Tenant[]> {
  return db.selectFrom("tenants").selectAll().orderBy("created_at").orderBy("slug").execute();
}

/** Creates the tenant unless one with its slug exists; returns it and whether this call created it. */
export async function createTenant(
  deps: SeedDeps,
  spec: TenantSpec,
): Promise<{ tenant: Tenant; created: boolean }> {
  const settings: TenantSettings = tenantSettingsSchema.parse(spec.settings ?? {});
  // The organisation's name shown on pages defaults to the tenant's name, not the schema's placeholder.
  if (settings.branding.organisationName === tenantSettingsSchema.parse({}).branding.organisationName) {
    settings.branding.organisationName = spec.name;
  }
  const now = deps.clock.now();
  const id = newId();
  await deps.db
    .insertInto("tenants")
    .values({
      id,
      slug: spec.slug,
      name: spec.name,
      settings_json: JSON.stringify(settings),
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.column("slug").doNothing())
    .execute();
  const tenant = await findTenant(deps.db, spec.slug);
  if (!tenant) throw new Error(`tenant ${spec.slug} was neither created nor found`);
  const created = tenant.id === id;
  if (created) {
    await deps.audit?.emit({
      tenantId: tenant.id,
      event: "tenant.created",
      result: "success",
      actor: "system",
      details: { slug: tenant.slug },
    });
  }
  return { tenant, created };
}

/**
 * At start: when the store holds no tenant, creates the configured one. When tenants exist, changes
 * nothing (the configuration seeds; the console governs) and returns the configured slug's tenant,
 * or else the oldest one.
 */
export async function ensureTenant(
  deps: SeedDeps,
  spec: TenantSpec,
): Promise<{ tenant: Tenant; created: boolean }> {
  const existing = await listTenants(deps.db);
  if (existing.length === 0) return createTenant(deps, spec);
  const tenant = existing.find((t) => t.slug === spec.slug) ?? existing[0];
  if (!tenant) throw new Error("unreachable: a non-empty tenant list without a first element");
  return { tenant, created: false };
}

/**
 * Creates the tenant (unless it exists) and each cloud user that does not exist yet. Passwords are
 * hashed with argon2id; users that already exist are left untouched (their passwords too).
 */
export async function seedTenant(
  deps: SeedDeps,
  spec: TenantSpec,
  users: readonly SeedUser[],
): Promise<{ tenant: Tenant; created: boolean; users: User[]; createdUsers: string[] }> {
  const { tenant, created } = await createTenant(deps, spec);
  const createdUsers: string[] = [];
  for (const u of users) {
    const username = u.username.trim().toLowerCase();
    const now = deps.clock.now();
    const id = newId();
    const res = await deps.db
      .insertInto("users")
      .values({
        id,
        tenant_id: tenant.id,
        kind: "cloud",
        username,
        upn: u.upn ?? null,
        email: u.email ?? null,
        display_name: u.displayName ?? null,
        given_name: u.givenName ?? null,
        surname: u.surname ?? null,
        mobile: u.mobile ?? null,
        office_phone: null,
        enabled: 1,
        locked: 0,
        is_admin: u.isAdmin ? 1 : 0,
        in_scope: 1,
        source_anchor: null,
        directory_id: null,
        password_hash: await hashPassword(u.password),
        password_changed_at: now,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.columns(["tenant_id", "username"]).doNothing())
      .executeTakeFirst();
    if (Number(res.numInsertedOrUpdatedRows ?? 0) > 0) {
      createdUsers.push(username);
      await deps.audit?.emit({
        tenantId: tenant.id,
        event: "user.created",
        result: "success",
        actor: "seed",
        target: id,
        details: { kind: "cloud", isAdmin: !!u.isAdmin },
      });
    }
  }
  const all = await deps.db
    .selectFrom("users")
    .selectAll()
    .where("tenant_id", "=", tenant.id)
    .where(
      "username",
      "in",
      users.length > 0 ? users.map((u) => u.username.trim().toLowerCase()) : ["\u0000"],
    )
    .orderBy("username")
    .execute();
  return { tenant, created, users: all, createdUsers };
}
