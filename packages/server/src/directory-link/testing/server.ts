/**
 * A real Latchkey server for the directory-link tests: the configuration loaded like `serve` does,
 * a migrated store (a SQLite file, or a PostgreSQL database from createTestDatabase), the tenant,
 * the features exactly as `serve` composes them (portal + directory link, cli/features.ts), and
 * buildApp listening on 127.0.0.1 with a port the system picks. The log is captured in memory.
 * Several servers can share one store (`store` option) to act as several instances.
 * Not used at run time.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { StoreAudit } from "../../audit/emitter.js";
import { buildFeatures, type Features } from "../../cli/features.js";
import type { Runtime } from "../../cli/runtime.js";
import { type LoadedConfig, loadConfig } from "../../config/load.js";
import { type Clock, systemClock } from "../../core/clock.js";
import { buildApp } from "../../http/app.js";
import { createLogger } from "../../logging/logger.js";
import { openStore, type Store } from "../../store/db.js";
import type { AuditEvent, Tenant } from "../../store/schema.js";
import { ensureTenant } from "../../tenants/seed.js";
import type { WritebackOptions } from "../../writeback/service.js";
import { createEnrollmentToken } from "../enrollment.js";
import type { DirectoryLink, DirectoryLinkOptions } from "../index.js";
import { type AgentKeys, enroll, generateAgentKeys, TestAgentLink } from "./agent-client.js";

/** A database for a test: its URL and how to drop it (createTestDatabase() gives one for PostgreSQL). */
export interface TestDatabaseRef {
  url: string;
  drop(): Promise<void>;
}

/** A SQLite file in a temporary directory. */
export function sqliteDatabase(): TestDatabaseRef {
  const dir = mkdtempSync(join(tmpdir(), "lk-link-"));
  return {
    url: `sqlite:${join(dir, "latchkey.db")}`,
    drop: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface SharedStore {
  store: Store;
  url: string;
  /** Closes the store and drops the database. */
  dispose(): Promise<void>;
}

/** A migrated store on the database (default: a fresh SQLite file). */
export async function testStore(database: TestDatabaseRef = sqliteDatabase()): Promise<SharedStore> {
  const store = openStore({ url: database.url, poolSize: 5 });
  await store.migrate();
  return {
    store,
    url: database.url,
    async dispose() {
      await store.close().catch(() => {});
      await database.drop();
    },
  };
}

export interface LinkServerOptions {
  /** A store shared with other servers (instances); the server does not close it. */
  shared?: SharedStore;
  /** The database of the server's own store (default a fresh SQLite file); ignored with `shared`. */
  database?: TestDatabaseRef;
  clock?: Clock;
  link?: Partial<DirectoryLinkOptions>;
  /** `directories` of the configuration (ids only matter to the link). */
  directories?: string[];
  /** Tenant settings for the portal. */
  settings?: Record<string, unknown>;
  /** The root's per-IP rate limit (default generous). */
  rateLimitPerMinute?: number;
  /** Send email to this SMTP port on 127.0.0.1 (the test environment's sink: getTestEnv().smtp.port). */
  smtpPort?: number;
  /** Writeback timings (writeback/ tests shorten them). */
  writeback?: Partial<WritebackOptions>;
  /** Outbox poll interval. */
  outboxPollMs?: number;
  /** SMS and voice providers (the configuration's `sms` / `voice`), e.g. an HTTP gateway a test runs. */
  sms?: Record<string, unknown>;
  voice?: Record<string, unknown>;
}

export interface LinkServer {
  baseUrl: string;
  app: FastifyInstance;
  store: Store;
  tenant: Tenant;
  features: Features;
  link: DirectoryLink;
  /** The server's secrets (registering TOTP for a test user needs them). */
  secrets: LoadedConfig["secrets"];
  clock: Clock;
  logLines(): string[];
  /** A one-time enrollment token for the tenant. */
  token(opts?: { ttlMs?: number; directoryId?: string | null }): Promise<string>;
  /** Enrolls a new agent with fresh keys; throws unless it worked. */
  enrollAgent(opts?: {
    directoryId?: string | null;
    name?: string;
  }): Promise<{ agentId: string; keys: AgentKeys }>;
  /** Enrolls (unless given) and opens an authenticated link. */
  connectAgent(opts?: {
    agent?: { agentId: string; keys: AgentKeys };
    directories?: { id: string; dialect: "ad" | "openldap"; description: string }[];
    directoryId?: string | null;
  }): Promise<{ agentId: string; keys: AgentKeys; link: TestAgentLink }>;
  audit(event?: string): Promise<AuditEvent[]>;
  /** Closes the app (links get 1012), the features, and the store unless it is shared. */
  close(): Promise<void>;
}

export async function startLinkServer(opts: LinkServerOptions = {}): Promise<LinkServer> {
  const shared = opts.shared ?? (await testStore(opts.database));
  const owned = opts.shared === undefined;
  const dir = mkdtempSync(join(tmpdir(), "lk-link-cfg-"));
  // The configuration's directories need a (here unused) service password file, owner-only.
  const passwordFile = join(dir, "directory-password");
  writeFileSync(passwordFile, "unused", { mode: 0o600 });
  const loaded = await loadConfig({
    cwd: dir,
    env: {
      LATCHKEY_SECRETS_HMAC_KEY: randomBytes(32).toString("base64"),
      LATCHKEY_SECRETS_DATA_KEY: randomBytes(32).toString("base64"),
    },
    overrides: {
      server: { host: "127.0.0.1", port: 0, cookieSecure: false },
      database: { url: shared.url },
      logging: { level: "debug" },
      ...(opts.smtpPort !== undefined
        ? {
            smtp: {
              host: "127.0.0.1",
              port: opts.smtpPort,
              secure: false,
              startTls: false,
              from: "Latchkey <no-reply@latchkey.test>",
            },
          }
        : {}),
      ...(opts.sms ? { sms: opts.sms } : {}),
      ...(opts.voice ? { voice: opts.voice } : {}),
      tenant: { slug: "link-test", name: "Link Test", settings: opts.settings ?? {} },
      directories: (opts.directories ?? []).map((id) => ({
        id,
        url: "ldaps://127.0.0.1:636",
        bindDn: "CN=unused",
        bindPasswordFile: passwordFile,
        baseDn: "DC=lab,DC=example,DC=test",
      })),
    },
  });
  const lines: string[] = [];
  const logger = createLogger({
    level: "debug",
    destination: {
      write(line: string) {
        lines.push(line);
      },
    },
  });
  const clock = opts.clock ?? systemClock;
  const store = shared.store;
  const audit = new StoreAudit(store.db, clock);
  const { tenant } = await ensureTenant(
    { db: store.db, clock, audit },
    { slug: "link-test", name: "Link Test", settings: opts.settings ?? {} },
  );
  const runtime: Runtime = { loaded, store, logger, clock: systemClock, audit, close: async () => {} };
  // The features as `serve` composes them, with the link's test timings.
  const features = await buildFeatures(
    { ...runtime, clock },
    {
      ...(opts.link ? { directoryLink: opts.link } : {}),
      ...(opts.writeback ? { writeback: opts.writeback } : {}),
      ...(opts.outboxPollMs !== undefined ? { outboxPollMs: opts.outboxPollMs } : {}),
    },
  );
  const app = await buildApp({
    config: loaded.config,
    store,
    clock,
    secrets: loaded.secrets,
    logger,
    plugins: features.plugins,
    rateLimitPerMinute: opts.rateLimitPerMinute ?? 100_000,
  });
  const baseUrl = await app.listen({ host: "127.0.0.1", port: 0 });
  features.start();
  const link = features.directoryLink;

  const server: LinkServer = {
    baseUrl,
    app,
    store,
    tenant,
    features,
    link,
    secrets: loaded.secrets,
    clock,
    logLines: () => lines,
    async token(t = {}) {
      const made = await createEnrollmentToken(
        { db: store.db, clock, audit },
        {
          tenantId: tenant.id,
          ...(t.ttlMs !== undefined ? { ttlMs: t.ttlMs } : {}),
          directoryId: t.directoryId ?? null,
        },
      );
      return made.token;
    },
    async enrollAgent(e = {}) {
      const keys = generateAgentKeys();
      const r = await enroll(baseUrl, await server.token({ directoryId: e.directoryId ?? null }), keys, {
        ...(e.name ? { name: e.name } : {}),
      });
      if (!r.enrolled) throw new Error(`enrollment failed: ${r.status} ${JSON.stringify(r.body)}`);
      return { agentId: r.enrolled.agentId, keys };
    },
    async connectAgent(c = {}) {
      const agent = c.agent ?? (await server.enrollAgent({ directoryId: c.directoryId ?? null }));
      const link = await TestAgentLink.open(baseUrl);
      await link.authenticate({
        ...agent,
        directories: c.directories ?? [{ id: "corp", dialect: "ad", description: "test" }],
      });
      return { ...agent, link };
    },
    async audit(event) {
      let q = store.db.selectFrom("audit_events").selectAll().where("tenant_id", "=", tenant.id);
      if (event) q = q.where("event", "=", event);
      return q.orderBy("occurred_at").orderBy("id").execute();
    },
    async close() {
      await app.close();
      await features.close();
      if (owned) await shared.dispose();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
