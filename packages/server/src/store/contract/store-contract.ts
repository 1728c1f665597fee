/**
 * The store contract: one suite that every engine must pass (store.sqlite.test.ts and
 * store.postgres.test.ts run it). It pins down what the rest of the server relies on without
 * looking at the engine: migrations, the portable value conventions (epoch-ms numbers, 0/1
 * booleans, JSON text), constraints, cascades and the atomic counter upsert behind throttling.
 */
import { type Insertable, type Kysely, sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../core/random.js";
import type { Engine, Store } from "../db.js";
import { migrationProvider } from "../migrations/index.js";
import type { Database } from "../schema.js";

export interface ContractTarget {
  /** Opens a new Store on the target database; each call is a new connection (pool). */
  open(): Store;
  /** The SQLite file, when the target is one (to check WAL). */
  sqliteFile?: string;
  /** Drops the target database or schema. */
  cleanup(): Promise<void>;
}

/** Every table of the schema; `satisfies` makes a table added to Database without a test fail to compile. */
const TABLES = [
  "tenants",
  "users",
  "password_history",
  "auth_methods",
  "flows",
  "challenges",
  "throttle_counters",
  "audit_events",
  "agents",
  "agent_enrollment_tokens",
  "sync_passes",
  "writeback_operations",
  "outbox",
  "sessions",
  "latchkey_meta",
] as const satisfies readonly (keyof Database)[];
type TableName = (typeof TABLES)[number];
// Compile-time check the other way: every key of Database is in TABLES.
type Missing = Exclude<keyof Database, TableName>;
const allTablesListed: [Missing] extends [never] ? true : Missing = true;

/** Tables without tenant_id: the tenant itself and process-wide metadata. */
const NO_TENANT = new Set<TableName>(["tenants", "latchkey_meta"]);

// Past 2^31 and 2^32, so a 32-bit column or a string-typed bigint would show.
const T0 = 1_767_225_600_123;
const T1 = T0 + 86_400_000;

type Rows = { [K in TableName]: Insertable<Database[K]> };

/** One realistic row per table, with every column set (nulls where the schema allows them). */
function sampleRows(tenantId: string): Rows {
  const userId = newId();
  const flowId = newId();
  return {
    tenants: {
      id: tenantId,
      slug: `t-${tenantId.slice(0, 8).toLowerCase()}`,
      name: "Acme — Ünïcødé Ltd",
      settings_json: JSON.stringify({ reset: { gates: 2 }, branding: { organisationName: "Acme ✓" } }),
      created_at: T0,
      updated_at: T0,
    },
    users: {
      id: userId,
      tenant_id: tenantId,
      kind: "cloud",
      username: "alice",
      upn: "alice@acme.test",
      email: "alice@acme.test",
      display_name: "Alice Ångström",
      given_name: "Alice",
      surname: "Ångström",
      mobile: "+447700900123",
      office_phone: null,
      enabled: 1,
      locked: 0,
      is_admin: 1,
      in_scope: 1,
      source_anchor: null,
      directory_id: null,
      password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
      password_changed_at: T0,
      created_at: T0,
      updated_at: T0,
      deleted_at: null,
      password_expires_at: T1,
      last_full_sync_id: null,
      methods_reviewed_at: T1,
    },
    password_history: {
      id: newId(),
      tenant_id: tenantId,
      user_id: userId,
      password_hash: "$argon2id$v=19$m=19456,t=2,p=1$b2xk$b2xkaGFzaA",
      created_at: T0 - 1,
    },
    auth_methods: {
      id: newId(),
      tenant_id: tenantId,
      user_id: userId,
      type: "email",
      label: "a•••@acme.test",
      data_json: JSON.stringify({ address: "alice@acme.test" }),
      confirmed_at: T0,
      last_used_at: null,
      created_at: T0,
    },
    flows: {
      id: flowId,
      tenant_id: tenantId,
      type: "reset",
      state: "identify",
      user_id: userId,
      phantom: 0,
      binding_hash: "a".repeat(64),
      csrf_token: newId(),
      gates_passed_json: JSON.stringify(["email"]),
      context_json: JSON.stringify({ identifier: "alice", nested: { list: [1, 2, 3] } }),
      attempts: 0,
      created_at: T0,
      updated_at: T0,
      expires_at: T1,
    },
    challenges: {
      id: newId(),
      tenant_id: tenantId,
      flow_id: flowId,
      user_id: userId,
      method_type: "email",
      code_hmac: "b".repeat(64),
      data_json: "{}",
      attempts: 2,
      expires_at: T1,
      used_at: null,
      created_at: T0,
    },
    throttle_counters: {
      tenant_id: tenantId,
      key: `verify:${userId}:email`,
      window_start: T0,
      count: 3,
      locked_until: T1,
    },
    audit_events: {
      id: newId(),
      tenant_id: tenantId,
      occurred_at: T0,
      event: "reset_flow.created",
      actor: null,
      target: userId,
      ip: "2001:db8::1",
      user_agent: "Mozilla/5.0",
      result: "info",
      reason: null,
      flow_id: flowId,
      details_json: JSON.stringify({ methods: ["email", "sms"] }),
    },
    agents: {
      id: newId(),
      tenant_id: tenantId,
      name: "dc-agent-1",
      directory_id: "corp",
      x25519_public: "x".repeat(43),
      ed25519_public: "e".repeat(43),
      version: "0.1.0",
      enrolled_at: T0,
      revoked_at: null,
      last_heartbeat_at: T1,
      directories_json: JSON.stringify([{ id: "corp", dialect: "ad", description: "Samba" }]),
      link_instance: null,
      link_connected_at: T0,
    },
    agent_enrollment_tokens: {
      id: newId(),
      tenant_id: tenantId,
      token_hash: newId(),
      created_at: T0,
      expires_at: T1,
      used_at: null,
      directory_id: "corp",
    },
    sync_passes: {
      tenant_id: tenantId,
      directory_id: "corp",
      sync_id: newId(),
      agent_id: newId(),
      full: 1,
      next_seq: 3,
      upserted: 2500,
      removed: 1,
      rejected: 0,
      started_at: T0,
      updated_at: T0,
      completed_at: null,
    },
    writeback_operations: {
      id: newId(),
      tenant_id: tenantId,
      type: "reset",
      user_id: userId,
      target_anchor: "7c3f0c1e-3d1a-4b5e-9f00-0123456789ab",
      directory_id: "corp",
      agent_id: null,
      state: "queued",
      sealed_payload: "sealed.payload.base64url",
      result_code: null,
      attempts: 0,
      created_at: T0,
      updated_at: T0,
      completed_at: null,
      attempt_state: "queued",
      claimed_by: null,
      attempt_request: '{"opId":"x"}',
      attempt_result: null,
    },
    outbox: {
      id: newId(),
      tenant_id: tenantId,
      channel: "email",
      template: "verification.code",
      payload_sealed: "c2VhbGVk",
      state: "queued",
      attempts: 0,
      next_attempt_at: T0,
      last_error: null,
      created_at: T0,
      sent_at: null,
    },
    sessions: {
      id: newId(),
      tenant_id: tenantId,
      user_id: userId,
      token_hash: newId(),
      ip: "192.0.2.10",
      user_agent: null,
      created_at: T0,
      last_seen_at: T0,
      expires_at: T1,
      revoked_at: null,
      amr_json: JSON.stringify(["pwd", "totp"]),
      csrf_token: "csrf-token-value",
      step_up_at: T1,
      step_up_method: "totp",
    },
    latchkey_meta: { key: `contract-${tenantId}`, value: JSON.stringify({ v: 1 }) },
  };
}

/** The column that identifies a sample row (throttle counters: the composite key's second half). */
const ID_COLUMN: Record<TableName, string> = {
  tenants: "id",
  users: "id",
  password_history: "id",
  auth_methods: "id",
  flows: "id",
  challenges: "id",
  throttle_counters: "key",
  audit_events: "id",
  agents: "id",
  agent_enrollment_tokens: "id",
  sync_passes: "sync_id",
  writeback_operations: "id",
  outbox: "id",
  sessions: "id",
  latchkey_meta: "key",
};

/** A changed value of the same type for one column of each table, to prove updates round-trip. */
const UPDATES: { [K in TableName]: Partial<Insertable<Database[K]>> } = {
  tenants: { name: "Renamed", updated_at: T1 },
  users: { locked: 1, enabled: 0, password_changed_at: T1, office_phone: "+442079460000" },
  password_history: { created_at: T1 },
  auth_methods: { last_used_at: T1, label: null },
  flows: { state: "verify", attempts: 4, gates_passed_json: "[]" },
  challenges: { used_at: T1, attempts: 3 },
  throttle_counters: { count: 7, locked_until: null },
  audit_events: { result: "failure", reason: "code_wrong" },
  agents: { revoked_at: T1 },
  agent_enrollment_tokens: { used_at: T1 },
  sync_passes: { next_seq: 4, completed_at: T1, removed: 2 },
  writeback_operations: { state: "succeeded", sealed_payload: null, completed_at: T1, result_code: "OK" },
  outbox: { state: "sent", payload_sealed: null, sent_at: T1 },
  sessions: { revoked_at: T1 },
  latchkey_meta: { value: "2" },
};

// The per-table helpers below are generic over table names, which kysely's types cannot follow;
// an untyped handle keeps them short while the row shapes above stay fully typed.
// biome-ignore lint/suspicious/noExplicitAny: see above.
type AnyDb = Kysely<any>;

async function insertAll(db: Kysely<Database>, rows: Rows): Promise<void> {
  const d = db as AnyDb;
  for (const t of TABLES) await d.insertInto(t).values(rows[t]).execute();
}

async function readRow(db: Kysely<Database>, table: TableName, id: string): Promise<Record<string, unknown>> {
  const row = await (db as AnyDb)
    .selectFrom(table)
    .selectAll()
    .where(ID_COLUMN[table], "=", id)
    .executeTakeFirst();
  expect(row, `${table} row ${id}`).toBeDefined();
  return row as Record<string, unknown>;
}

function idOf(rows: Rows, table: TableName): string {
  return (rows[table] as Record<string, unknown>)[ID_COLUMN[table]] as string;
}

async function newTenant(db: Kysely<Database>): Promise<Rows> {
  const rows = sampleRows(newId());
  await insertAll(db, rows);
  return rows;
}

/** The throttle pattern: one atomic statement, a new window when the old one has passed. */
async function hit(db: Kysely<Database>, tenantId: string, key: string, now: number, windowMs: number) {
  await db
    .insertInto("throttle_counters")
    .values({ tenant_id: tenantId, key, window_start: now, count: 1, locked_until: null })
    .onConflict((oc) =>
      oc.columns(["tenant_id", "key"]).doUpdateSet({
        count: sql`case when throttle_counters.window_start <= ${now - windowMs} then 1 else throttle_counters.count + 1 end`,
        window_start: sql`case when throttle_counters.window_start <= ${now - windowMs} then excluded.window_start else throttle_counters.window_start end`,
      }),
    )
    .execute();
  return db
    .selectFrom("throttle_counters")
    .select(["count", "window_start"])
    .where("tenant_id", "=", tenantId)
    .where("key", "=", key)
    .executeTakeFirstOrThrow();
}

export function storeContract(engine: Engine, setup: () => Promise<ContractTarget>): void {
  describe(`store contract: ${engine}`, () => {
    let target: ContractTarget;
    let store: Store;
    let firstRun: string[];
    const extra: Store[] = [];

    beforeAll(async () => {
      expect(allTablesListed).toBe(true);
      target = await setup();
      store = target.open();
      firstRun = await store.migrate();
    });

    afterAll(async () => {
      for (const s of extra) await s.close();
      await store?.close();
      await target?.cleanup();
    });

    function second(): Store {
      const s = target.open();
      extra.push(s);
      return s;
    }

    it("applies the migrations once; running them again, from any instance, applies nothing", async () => {
      expect(firstRun).toEqual(Object.keys(await migrationProvider.getMigrations()).sort());
      expect(firstRun.slice(0, 2)).toEqual(["001-initial", "002-agent-link-sync"]);
      expect(await store.migrate()).toEqual([]);
      expect(await second().migrate()).toEqual([]);
      expect(await store.ping()).toBe(true);
    });

    it("has exactly the schema's tables, each reachable, each (but tenants/meta) carrying tenant_id", async () => {
      const tables = await store.db.introspection.getTables();
      const names = tables.map((t) => t.name).sort();
      expect(names).toEqual([...TABLES].sort());
      for (const t of tables) {
        const cols = t.columns.map((c) => c.name);
        if (!NO_TENANT.has(t.name as TableName)) {
          expect(cols, `${t.name}.tenant_id`).toContain("tenant_id");
          const tenantCol = t.columns.find((c) => c.name === "tenant_id");
          expect(tenantCol?.isNullable, `${t.name}.tenant_id is not null`).toBe(false);
        }
        const { n } = await (store.db as AnyDb)
          .selectFrom(t.name)
          .select((eb) => eb.fn.countAll().as("n"))
          .executeTakeFirstOrThrow();
        expect(typeof n === "number" || typeof n === "bigint").toBe(true);
      }
    });

    it("round-trips a row of every table with exact types (numbers, 0/1, JSON text, null)", async () => {
      const rows = await newTenant(store.db);
      for (const t of TABLES) {
        const got = await readRow(store.db, t, idOf(rows, t));
        expect(got, t).toEqual(rows[t]);
        for (const [col, value] of Object.entries(rows[t])) {
          expect(typeof got[col], `${t}.${col}`).toBe(value === null ? "object" : typeof value);
        }
      }
      const flow = await readRow(store.db, "flows", idOf(rows, "flows"));
      expect(JSON.parse(flow.context_json as string)).toEqual({
        identifier: "alice",
        nested: { list: [1, 2, 3] },
      });
    });

    it("updates a row of every table and reads back the new values", async () => {
      const rows = await newTenant(store.db);
      for (const t of TABLES) {
        const id = idOf(rows, t);
        await (store.db as AnyDb).updateTable(t).set(UPDATES[t]).where(ID_COLUMN[t], "=", id).execute();
        expect(await readRow(store.db, t, id), t).toEqual({ ...rows[t], ...UPDATES[t] });
      }
    });

    it("enforces unique constraints: (tenant, username), tenant slug, session and token hashes", async () => {
      const a = await newTenant(store.db);
      const b = await newTenant(store.db);
      await expect(
        store.db
          .insertInto("users")
          .values({ ...a.users, id: newId() })
          .execute(),
      ).rejects.toThrow();
      // The same user name in another tenant is another person.
      await store.db
        .insertInto("users")
        .values({ ...a.users, id: newId(), username: "bob" })
        .execute();
      await store.db
        .insertInto("users")
        .values({ ...a.users, id: newId(), tenant_id: b.tenants.id, username: "bob" })
        .execute();
      await expect(
        store.db
          .insertInto("tenants")
          .values({ ...a.tenants, id: newId() })
          .execute(),
      ).rejects.toThrow();
      await expect(
        store.db
          .insertInto("sessions")
          .values({ ...a.sessions, id: newId() })
          .execute(),
      ).rejects.toThrow();
      await expect(
        store.db
          .insertInto("agent_enrollment_tokens")
          .values({ ...a.agent_enrollment_tokens, id: newId() })
          .execute(),
      ).rejects.toThrow();
      await expect(
        store.db
          .insertInto("throttle_counters")
          .values({ ...a.throttle_counters })
          .execute(),
      ).rejects.toThrow();
      // A failed insert left nothing behind.
      const users = await store.db
        .selectFrom("users")
        .select("username")
        .where("tenant_id", "in", [a.tenants.id, b.tenants.id])
        .orderBy("username")
        .execute();
      expect(users.map((u) => u.username)).toEqual(["alice", "alice", "bob", "bob"]);
    });

    it("a synced user is unique per (tenant, directory, source anchor); cloud users carry no anchor", async () => {
      const a = await newTenant(store.db);
      const synced = {
        ...a.users,
        kind: "synced" as const,
        directory_id: "corp",
        source_anchor: "0d6c3e8a-1111-4f4f-9a9a-0123456789ab",
      };
      await store.db
        .insertInto("users")
        .values({ ...synced, id: newId(), username: "s1" })
        .execute();
      await expect(
        store.db
          .insertInto("users")
          .values({ ...synced, id: newId(), username: "s2" })
          .execute(),
      ).rejects.toThrow();
      // The same anchor in another directory is another account.
      await store.db
        .insertInto("users")
        .values({ ...synced, id: newId(), username: "s3", directory_id: "lab" })
        .execute();
      // Any number of cloud users have no anchor (nulls are distinct).
      await store.db
        .insertInto("users")
        .values({ ...a.users, id: newId(), username: "c2" })
        .execute();
    });

    it("deleting a user removes its methods, password history and sessions", async () => {
      const rows = await newTenant(store.db);
      const userId = rows.users.id;
      const count = async (t: "auth_methods" | "password_history" | "sessions") =>
        Number(
          (
            await store.db
              .selectFrom(t)
              .select((eb) => eb.fn.countAll().as("n"))
              .where("user_id", "=", userId)
              .executeTakeFirstOrThrow()
          ).n,
        );
      expect([await count("auth_methods"), await count("password_history"), await count("sessions")]).toEqual(
        [1, 1, 1],
      );
      await store.db.deleteFrom("users").where("id", "=", userId).execute();
      expect([await count("auth_methods"), await count("password_history"), await count("sessions")]).toEqual(
        [0, 0, 0],
      );
    });

    it("deleting a tenant removes its users and, through them, their methods", async () => {
      const rows = await newTenant(store.db);
      await store.db.deleteFrom("tenants").where("id", "=", rows.tenants.id).execute();
      const left = await store.db
        .selectFrom("users")
        .select("id")
        .where("tenant_id", "=", rows.tenants.id)
        .execute();
      expect(left).toEqual([]);
      const methods = await store.db
        .selectFrom("auth_methods")
        .select("id")
        .where("user_id", "=", rows.users.id)
        .execute();
      expect(methods).toEqual([]);
    });

    it("the throttle upsert counts within a window and starts a new one after it", async () => {
      const { tenants } = await newTenant(store.db);
      const key = `ip:198.51.100.7:identify:${newId()}`;
      const minute = 60_000;
      expect(await hit(store.db, tenants.id, key, T0, minute)).toEqual({ count: 1, window_start: T0 });
      expect(await hit(store.db, tenants.id, key, T0 + 1_000, minute)).toEqual({
        count: 2,
        window_start: T0,
      });
      expect(await hit(store.db, tenants.id, key, T0 + 59_999, minute)).toEqual({
        count: 3,
        window_start: T0,
      });
      expect(await hit(store.db, tenants.id, key, T0 + minute, minute)).toEqual({
        count: 1,
        window_start: T0 + minute,
      });
      // Keys are per tenant: the same key elsewhere is its own counter.
      const other = await newTenant(store.db);
      expect(await hit(store.db, other.tenants.id, key, T0, minute)).toEqual({ count: 1, window_start: T0 });
    });

    it("parallel increments from two connections lose no update (10 → 10)", async () => {
      const { tenants } = await newTenant(store.db);
      const key = `race:${newId()}`;
      const other = second();
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          hit(i % 2 === 0 ? store.db : other.db, tenants.id, key, T0, 60_000),
        ),
      );
      const row = await store.db
        .selectFrom("throttle_counters")
        .select("count")
        .where("tenant_id", "=", tenants.id)
        .where("key", "=", key)
        .executeTakeFirstOrThrow();
      expect(row.count).toBe(10);
    });

    it("a transaction that fails leaves nothing behind", async () => {
      const { tenants } = await newTenant(store.db);
      const id = newId();
      await expect(
        store.db.transaction().execute(async (tx) => {
          await tx
            .insertInto("audit_events")
            .values({
              id,
              tenant_id: tenants.id,
              occurred_at: T0,
              event: "user.created",
              result: "info",
              details_json: "{}",
              actor: null,
              target: null,
              ip: null,
              user_agent: null,
              reason: null,
              flow_id: null,
            })
            .execute();
          throw new Error("rollback");
        }),
      ).rejects.toThrow("rollback");
      expect(await store.db.selectFrom("audit_events").select("id").where("id", "=", id).execute()).toEqual(
        [],
      );
    });

    it("finds a user by lower(upn) and lower(email) through indexes, not a scan of the tenant", async () => {
      // The reset flow's identify query (flows/reset/service.ts findUser), in the same shape.
      const lookup = store.db
        .selectFrom("users")
        .select("id")
        .where("deleted_at", "is", null)
        .where((eb) =>
          eb.or([
            eb.and([eb("tenant_id", "=", "t"), eb("username", "=", "x")]),
            eb.and([eb("tenant_id", "=", "t"), eb(eb.fn("lower", ["upn"]), "=", "x")]),
            eb.and([eb("tenant_id", "=", "t"), eb(eb.fn("lower", ["email"]), "=", "x")]),
          ]),
        )
        .compile();
      const rolledBack = new Error("rolled back");
      let plan = "";
      await store.db
        .transaction()
        .execute(async (trx) => {
          // Enough users for the planner to prefer indexes over the tenant's rows; never committed.
          await trx
            .insertInto("tenants")
            .values({
              id: "t",
              slug: "plan",
              name: "Plan",
              settings_json: "{}",
              created_at: 0,
              updated_at: 0,
            })
            .execute();
          for (let start = 0; start < 3000; start += 500) {
            await trx
              .insertInto("users")
              .values(
                Array.from({ length: 500 }, (_, k) => {
                  const i = start + k;
                  return {
                    id: `u${i}`,
                    tenant_id: "t",
                    kind: "cloud" as const,
                    username: `user${i}`,
                    upn: `User${i}@Example.test`,
                    email: `User${i}@Example.test`,
                    display_name: null,
                    given_name: null,
                    surname: null,
                    mobile: null,
                    office_phone: null,
                    enabled: 1 as const,
                    locked: 0 as const,
                    is_admin: 0 as const,
                    in_scope: 1 as const,
                    source_anchor: null,
                    directory_id: null,
                    password_hash: null,
                    password_changed_at: null,
                    created_at: 0,
                    updated_at: 0,
                  };
                }),
              )
              .execute();
          }
          await sql`analyze`.execute(trx);
          plan = await explain(trx);
          throw rolledBack;
        })
        .catch((e: unknown) => {
          if (e !== rolledBack) throw e;
        });
      async function explain(trx: Kysely<Database>): Promise<string> {
        if (engine === "postgres") {
          const r = await trx.executeQuery<{ "QUERY PLAN": string }>({
            ...lookup,
            sql: `explain ${lookup.sql}`,
          });
          return r.rows.map((row) => row["QUERY PLAN"]).join("\n");
        }
        const r = await trx.executeQuery<{ detail: string }>({
          ...lookup,
          sql: `explain query plan ${lookup.sql}`,
        });
        return r.rows.map((row) => row.detail).join("\n");
      }
      expect(plan).toContain("users_tenant_lower_upn");
      expect(plan).toContain("users_tenant_lower_email");
    });

    it("opens the engine it was asked for", () => {
      expect(store.engine).toBe(engine);
    });

    it.runIf(engine === "sqlite")("SQLite files run in WAL mode with foreign keys on", async () => {
      expect(target.sqliteFile).toBeDefined();
      const mode = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(store.db);
      expect(mode.rows[0]?.journal_mode).toBe("wal");
      const fk = await sql<{ foreign_keys: number }>`pragma foreign_keys`.execute(store.db);
      expect(fk.rows[0]?.foreign_keys).toBe(1);
    });
  });
}
