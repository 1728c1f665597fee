/**
 * Test fixtures for the method suites: a migrated SQLite store (a file, so its raw bytes can be
 * scanned) with one tenant and user, the services the methods need wired to the real outbox and
 * worker (delivering to the demo transport, which keeps what was sent in memory), a Random whose
 * integers a test can script, and a scan of every table and of the database file for secrets.
 * Not used at run time.
 */
import { randomInt } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { parseTenantSettings, type TenantSettings } from "../../config/tenant-settings.js";
import { ManualClock } from "../../core/clock.js";
import { cryptoRandom, newId, type Random } from "../../core/random.js";
import { randomSecrets, type ServerSecrets } from "../../core/secrets.js";
import { DemoOutboxTransport } from "../../notify/demo.js";
import { Outbox, OutboxWorker } from "../../notify/outbox.js";
import { openStore, type Store } from "../../store/db.js";
import type { AuthMethod, Tenant, User } from "../../store/schema.js";
import type { ChallengeContext, MethodServices } from "../types.js";

/** Crypto randomness, except for integers a test queued with `script`. */
export class ScriptedRandom implements Random {
  private queue: number[] = [];
  script(...ints: number[]): void {
    this.queue.push(...ints);
  }
  bytes(n: number): Buffer {
    return cryptoRandom.bytes(n);
  }
  int(min: number, max: number): number {
    const v = this.queue.shift();
    if (v === undefined) return randomInt(min, max);
    if (v < min || v >= max) throw new Error(`scripted ${v} outside [${min}, ${max})`);
    return v;
  }
}

/** A deterministic Random (mulberry32) for distribution checks. */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { bytes: (n) => cryptoRandom.bytes(n), int: (min, max) => min + Math.floor(next() * (max - min)) };
}

export interface Fixture {
  store: Store;
  file: string;
  clock: ManualClock;
  random: ScriptedRandom;
  secrets: ServerSecrets;
  tenant: Tenant;
  user: User;
  settings: TenantSettings;
  outbox: Outbox;
  worker: OutboxWorker;
  delivered: DemoOutboxTransport;
  services: MethodServices;
  /** A user's auth_methods rows, freshly read. */
  methods(userId?: string): Promise<AuthMethod[]>;
  /** A challenge context for a new flow of `user` (null for a phantom). */
  ctx(user: User | null, overrides?: Partial<ChallengeContext>): Promise<ChallengeContext>;
  addUser(username: string): Promise<User>;
  /** Delivers what is queued; returns the messages delivered by this call, oldest first. */
  deliver(): Promise<ReturnType<DemoOutboxTransport["list"]>>;
  outboxCount(): Promise<number>;
  /** Every text value of every table, plus the raw database file and its WAL. */
  dumpEverything(): Promise<string>;
  close(): Promise<void>;
}

export async function createFixture(opts: { settings?: object } = {}): Promise<Fixture> {
  const file = join(mkdtempSync(join(tmpdir(), "lk-methods-")), "db.sqlite");
  const store = openStore({ url: file });
  await store.migrate();
  const clock = new ManualClock();
  const random = new ScriptedRandom();
  const secrets = randomSecrets();
  const settings = parseTenantSettings(opts.settings ?? {});
  const now = clock.now();
  const tenant: Tenant = {
    id: newId(),
    slug: `t-${newId().slice(0, 8).toLowerCase()}`,
    name: "Test Tenant",
    settings_json: JSON.stringify(settings),
    created_at: now,
    updated_at: now,
  };
  await store.db.insertInto("tenants").values(tenant).execute();
  const addUser = async (username: string): Promise<User> => {
    const user: User = {
      id: newId(),
      tenant_id: tenant.id,
      kind: "cloud",
      username,
      upn: `${username}@example.test`,
      email: null,
      display_name: username,
      given_name: null,
      surname: null,
      mobile: null,
      office_phone: null,
      enabled: 1,
      locked: 0,
      is_admin: 0,
      in_scope: 1,
      source_anchor: null,
      directory_id: null,
      password_hash: null,
      password_changed_at: null,
      created_at: now,
      updated_at: now,
    };
    await store.db.insertInto("users").values(user).execute();
    return user;
  };
  const user = await addUser("alice");
  const outbox = new Outbox({ db: store.db, clock, secrets });
  const delivered = new DemoOutboxTransport(1000, () => clock.now());
  const worker = new OutboxWorker({
    db: store.db,
    engine: store.engine,
    clock,
    secrets,
    transports: { email: delivered, sms: delivered, voice: delivered },
  });
  const services: MethodServices = {
    db: store.db,
    clock,
    random,
    secrets,
    enqueue: async (m) => {
      await outbox.enqueue(m);
    },
  };
  const methods = (userId = user.id) =>
    store.db
      .selectFrom("auth_methods")
      .selectAll()
      .where("user_id", "=", userId)
      .orderBy("created_at")
      .execute();
  return {
    store,
    file,
    clock,
    random,
    secrets,
    tenant,
    user,
    settings,
    outbox,
    worker,
    delivered,
    services,
    methods,
    addUser,
    async ctx(u, overrides = {}) {
      return {
        tenant,
        settings,
        flowId: newId(),
        user: u,
        methods: u ? await methods(u.id) : [],
        locale: "en",
        ...overrides,
      };
    },
    async deliver() {
      const before = delivered.list().length;
      await worker.drainOnce();
      return delivered
        .list()
        .slice(0, delivered.list().length - before)
        .reverse();
    },
    async outboxCount() {
      const r = await store.db
        .selectFrom("outbox")
        .select((eb) => eb.fn.countAll<number>().as("n"))
        .executeTakeFirst();
      return Number(r?.n ?? 0);
    },
    async dumpEverything() {
      const tables = await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(
        store.db,
      );
      const parts: string[] = [];
      for (const { name } of tables.rows) {
        const rows = await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(store.db);
        // Text values only: a secret is text, and epoch-ms numbers would make digit codes match by chance.
        for (const row of rows.rows) {
          for (const v of Object.values(row)) if (typeof v === "string") parts.push(v);
        }
      }
      await sql`pragma wal_checkpoint(PASSIVE)`.execute(store.db);
      parts.push(readFileSync(file).toString("latin1"));
      try {
        parts.push(readFileSync(`${file}-wal`).toString("latin1"));
      } catch {
        // no WAL file
      }
      return parts.join("\n");
    },
    close: () => store.close(),
  };
}
