/**
 * Opens the store: SQLite (better-sqlite3, WAL) by default, PostgreSQL (pg) for a postgres:// URL.
 * The rest of the server only sees `Store`, so both engines run the same code.
 */
import { mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from "kysely";
import type pgTypes from "pg";
import { migrationProvider } from "./migrations/index.js";
import type { Database } from "./schema.js";

export type Engine = "sqlite" | "postgres";

export interface Store {
  readonly db: Kysely<Database>;
  readonly engine: Engine;
  /** Apply pending migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  /** True when a trivial query answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface OpenStoreOptions {
  /** `sqlite:./data/latchkey.db`, a plain file path, `:memory:`, or `postgres://…` */
  url: string;
  /** PostgreSQL pool size. */
  poolSize?: number;
}

let pgModule: typeof pgTypes | null = null;

/** pg is loaded only when a PostgreSQL store is opened: SQLite deployments never pay its start-up cost. */
function loadPg(): typeof pgTypes {
  if (!pgModule) {
    pgModule = createRequire(import.meta.url)("pg") as typeof pgTypes;
    // int8 (bigint) columns hold epoch milliseconds, well inside Number's safe range.
    pgModule.types.setTypeParser(20, (v: string) => Number(v));
  }
  return pgModule;
}

export function engineOf(url: string): Engine {
  return /^postgres(ql)?:\/\//.test(url) ? "postgres" : "sqlite";
}

export function sqlitePath(url: string): string {
  const p = url.replace(/^sqlite:(\/\/)?/, "");
  return p === ":memory:" ? p : resolve(p);
}

export function openStore(opts: OpenStoreOptions): Store {
  const engine = engineOf(opts.url);
  let db: Kysely<Database>;
  if (engine === "postgres") {
    const pool = new (loadPg().Pool)({ connectionString: opts.url, max: opts.poolSize ?? 10 });
    // An idle client's error (server restart) must not crash the process; the next query reconnects.
    pool.on("error", () => {});
    db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  } else {
    const path = sqlitePath(opts.url);
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const sqlite = new SqliteDatabase(path);
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("foreign_keys = ON");
    sqlite.pragma("busy_timeout = 5000");
    sqlite.pragma("synchronous = NORMAL");
    db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  }
  return {
    db,
    engine,
    async migrate() {
      const migrator = new Migrator({ db, provider: migrationProvider });
      const { error, results } = await migrator.migrateToLatest();
      if (error) throw error;
      return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
    },
    async ping() {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await db.destroy();
    },
  };
}
