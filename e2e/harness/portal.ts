/**
 * The portal as the end-to-end tests run it: the real server (loadConfig → openStore + migrate →
 * seeded tenant and cloud users with registered methods → createPortal → buildApp) listening on
 * 127.0.0.1 with a port the system picks, mail going to the test environment's SMTP sink, SMS and
 * voice going to a local HTTP server that records what the generic provider protocol sends, and the
 * server's pino log captured in memory.
 *
 * Every secret a test types or reads (passwords, codes, answers) is remembered in `secrets`, so a
 * test can finish with `scan()`: none of them may be found in the database file, in any table, in
 * the audit rows or in the log.
 */
import { randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { sql } from "kysely";
import { StoreAudit } from "../../packages/server/src/audit/emitter.js";
import { loadConfig } from "../../packages/server/src/config/load.js";
import {
  parseTenantSettings,
  type TenantSettings,
} from "../../packages/server/src/config/tenant-settings.js";
import { type Clock, systemClock } from "../../packages/server/src/core/clock.js";
import { cryptoRandom, type Random } from "../../packages/server/src/core/random.js";
import { buildApp } from "../../packages/server/src/http/app.js";
import { createLogger, type Logger } from "../../packages/server/src/logging/logger.js";
import { registerEmail } from "../../packages/server/src/methods/email-code/index.js";
import { registerQuestions } from "../../packages/server/src/methods/questions/index.js";
import { registerPhone } from "../../packages/server/src/methods/shared/phone.js";
import { generateTotpSecret, registerTotp } from "../../packages/server/src/methods/totp/index.js";
import { createPortal, type Portal } from "../../packages/server/src/portal/index.js";
import { openStore, type Store } from "../../packages/server/src/store/db.js";
import type { Tenant, User } from "../../packages/server/src/store/schema.js";
import { findTenant, seedTenant } from "../../packages/server/src/tenants/seed.js";
import { createTestDatabase, getTestEnv, type TestDatabase } from "../../test-env/env.js";

export interface HarnessUserSpec {
  username: string;
  /** The current password (kept as a secret to scan for). */
  password: string;
  displayName?: string;
  givenName?: string;
  surname?: string;
  /** Registers (confirmed) an email code method for this address; also the account's email. */
  email?: string;
  /** Registers (confirmed) an SMS code method for this number. */
  sms?: string;
  /** Registers (confirmed) a voice code method for this number. */
  voice?: string;
  /** Registers a confirmed TOTP authenticator; the base32 secret is returned in `users`. */
  totp?: boolean;
  /** Registers security questions (answers are kept as secrets to scan for). */
  questions?: Array<{ questionId: string; answer: string }>;
  isAdmin?: boolean;
  /** Default true. */
  enabled?: boolean;
  /** Default true. */
  inScope?: boolean;
}

export interface HarnessUser {
  spec: HarnessUserSpec;
  row: User;
  totpSecret: string | null;
}

export interface PhoneMessage {
  channel: "sms" | "voice";
  to: string;
  text: string;
  code: string;
  receivedAt: number;
}

export interface HarnessOptions {
  /** Tenant settings (validated by tenantSettingsSchema; defaults fill the rest). */
  settings?: Record<string, unknown>;
  tenantName?: string;
  users?: HarnessUserSpec[];
  /** "sqlite" (default: a file in a temp directory) or "postgres" (a database from createTestDatabase). */
  database?: "sqlite" | "postgres";
  /** Default: the system clock. Only the throttle and expiry tests pass a ManualClock. */
  clock?: Clock;
  /** Default: crypto randomness. */
  random?: Random;
  /** Offline breached-password filter file for `breached.offlineFile`. */
  breachedFile?: string;
  /** The root's global per-IP limit (default 100 000: the flows' own throttles are what is tested). */
  rateLimitPerMinute?: number;
  /** altcha maxNumber (default 1000: a few milliseconds of work). */
  captchaMaxNumber?: number;
  /** Default true (Chromium keeps Secure cookies for http://127.0.0.1, a potentially trustworthy origin). */
  cookieSecure?: boolean;
}

export interface SecretFinding {
  /** The secret, masked to its first two characters. */
  secret: string;
  where: string;
}

export interface PortalHarness {
  baseUrl: string;
  store: Store;
  portal: Portal;
  app: FastifyInstance;
  logger: Logger;
  tenant: Tenant;
  users: Record<string, HarnessUser>;
  /** Every password, code and answer used so far (seeded ones included). */
  secrets: Set<string>;
  remember(...values: string[]): void;
  /** What the SMS and voice gateway received, oldest first. */
  phoneMessages(): PhoneMessage[];
  smsMessages(): PhoneMessage[];
  /** Waits for the first phone message to `to` received at or after `since` (epoch ms). */
  waitForPhone(query: {
    to: string;
    since: number;
    channel?: "sms" | "voice";
    timeoutMs?: number;
  }): Promise<PhoneMessage>;
  /** The captured log lines (JSON). */
  logLines(): string[];
  /** The tenant's current settings. */
  settings(): Promise<TenantSettings>;
  /** Deep-merges `patch` into the tenant's settings (read per request, so it applies at once). */
  setSettings(patch: Record<string, unknown>): Promise<TenantSettings>;
  /** The user's row as stored now. */
  user(username: string): Promise<User>;
  /**
   * Looks for each value (default: every remembered secret) in the database (every text value of
   * every table, and for SQLite the raw database and WAL files), in the audit rows and in the log.
   */
  scan(values?: Iterable<string>): Promise<SecretFinding[]>;
  close(): Promise<void>;
}

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function deepMerge(base: Raw, over: Raw): Raw {
  const out: Raw = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** A local SMS/voice gateway: records each request of the generic HTTP provider protocol, answers 200. */
async function startPhoneGateway(): Promise<{ server: Server; url: string; messages: PhoneMessage[] }> {
  const messages: PhoneMessage[] = [];
  const server = createServer((req, res) => {
    readBody(req).then(
      (body) => {
        const channel = req.url?.startsWith("/voice") ? "voice" : "sms";
        try {
          const parsed = JSON.parse(body) as { to?: string; text?: string; code?: string };
          messages.push({
            channel,
            to: parsed.to ?? "",
            text: parsed.text ?? "",
            code: parsed.code ?? "",
            receivedAt: Date.now(),
          });
          res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
        } catch {
          res.writeHead(400).end();
        }
      },
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}`, messages };
}

/** Crypto bytes; integers from a seeded generator a test can restart (so two flows draw alike). */
export class ReseedableRandom implements Random {
  private state: number | null = null;
  reseed(seed: number): void {
    this.state = seed >>> 0;
  }
  bytes(n: number): Buffer {
    return cryptoRandom.bytes(n);
  }
  int(min: number, max: number): number {
    if (this.state === null) return randomInt(min, max);
    // mulberry32
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    return min + Math.floor(u * (max - min));
  }
}

const PHONE_BODY = '{"to":"{{to}}","text":"{{text}}","code":"{{code}}"}';

export async function startPortal(opts: HarnessOptions = {}): Promise<PortalHarness> {
  const env = getTestEnv();
  const dir = mkdtempSync(join(tmpdir(), "lk-e2e-"));
  const clock = opts.clock ?? systemClock;
  const phone = await startPhoneGateway();
  let pg: TestDatabase | null = null;
  let dbUrl = `sqlite:${join(dir, "latchkey.db")}`;
  if (opts.database === "postgres") {
    pg = await createTestDatabase();
    dbUrl = pg.url;
  }
  const sqliteFile = opts.database === "postgres" ? null : join(dir, "latchkey.db");
  const tenantSlug = "e2e";
  const tenantName = opts.tenantName ?? "Contoso";

  const loaded = await loadConfig({
    cwd: dir,
    env: {
      LATCHKEY_SECRETS_HMAC_KEY: randomBytes(32).toString("base64"),
      LATCHKEY_SECRETS_DATA_KEY: randomBytes(32).toString("base64"),
    },
    overrides: {
      server: { host: "127.0.0.1", port: 0, cookieSecure: opts.cookieSecure ?? true },
      database: { url: dbUrl },
      smtp: {
        host: "127.0.0.1",
        port: env.smtp.port,
        secure: false,
        startTls: false,
        from: "Latchkey <no-reply@latchkey.test>",
      },
      sms: { type: "http", url: `${phone.url}/sms`, bodyTemplate: PHONE_BODY },
      voice: { type: "http", url: `${phone.url}/voice`, bodyTemplate: PHONE_BODY },
      breached: { offlineFile: opts.breachedFile ?? null },
      logging: { level: "debug" },
      tenant: { slug: tenantSlug, name: tenantName, settings: opts.settings ?? {} },
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

  const store = openStore({ url: loaded.config.database.url });
  await store.migrate();
  const audit = new StoreAudit(store.db, clock);
  const secrets = new Set<string>();
  const remember = (...values: string[]) => {
    for (const v of values) if (v) secrets.add(v);
  };

  const specs = opts.users ?? [];
  const seeded = await seedTenant(
    { db: store.db, clock, audit },
    { slug: tenantSlug, name: tenantName, settings: loaded.config.tenant.settings },
    specs.map((u) => ({
      username: u.username,
      password: u.password,
      email: u.email ?? null,
      upn: `${u.username}@contoso.test`,
      displayName: u.displayName ?? u.username,
      givenName: u.givenName ?? null,
      surname: u.surname ?? null,
      mobile: u.sms ?? null,
      isAdmin: u.isAdmin ?? false,
    })),
  );
  const tenant = seeded.tenant;
  const settings = parseTenantSettings(tenant.settings_json);
  const users: Record<string, HarnessUser> = {};
  for (const spec of specs) {
    remember(spec.password);
    const row = seeded.users.find((u) => u.username === spec.username.toLowerCase());
    if (!row) throw new Error(`harness: user ${spec.username} was not seeded`);
    const base = { tenantId: tenant.id, userId: row.id, confirmed: true, clock };
    if (spec.email) await registerEmail(store.db, { ...base, address: spec.email });
    if (spec.sms) await registerPhone(store.db, { ...base, number: spec.sms, channel: "sms" });
    if (spec.voice) await registerPhone(store.db, { ...base, number: spec.voice, channel: "voice" });
    let totpSecret: string | null = null;
    if (spec.totp) {
      totpSecret = generateTotpSecret();
      remember(totpSecret);
      await registerTotp(store.db, loaded.secrets, {
        ...base,
        issuer: tenantName,
        accountName: `${spec.username}@contoso.test`,
        secretBase32: totpSecret,
      });
    }
    if (spec.questions) {
      remember(...spec.questions.map((q) => q.answer));
      await registerQuestions(store.db, { ...base, answers: spec.questions, settings: settings.questions });
    }
    if (spec.enabled === false || spec.inScope === false) {
      await store.db
        .updateTable("users")
        .set({ enabled: spec.enabled === false ? 0 : 1, in_scope: spec.inScope === false ? 0 : 1 })
        .where("id", "=", row.id)
        .execute();
    }
    users[spec.username] = { spec, row, totpSecret };
  }

  const portal = await createPortal({
    loaded,
    store,
    clock,
    logger,
    audit,
    ...(opts.random ? { random: opts.random } : {}),
    captchaMaxNumber: opts.captchaMaxNumber ?? 1000,
    outboxPollMs: 50,
  });
  const app = await buildApp({
    config: loaded.config,
    store,
    clock,
    secrets: loaded.secrets,
    logger,
    plugins: portal.plugins,
    rateLimitPerMinute: opts.rateLimitPerMinute ?? 100_000,
  });
  portal.start();
  const baseUrl = await app.listen({ host: "127.0.0.1", port: 0 });

  const currentSettings = async () => {
    const t = await findTenant(store.db, tenantSlug);
    if (!t) throw new Error("harness: tenant vanished");
    return parseTenantSettings(t.settings_json);
  };

  async function tableTexts(): Promise<Array<{ table: string; text: string }>> {
    const out: Array<{ table: string; text: string }> = [];
    const tables =
      store.engine === "postgres"
        ? (
            await sql<{
              name: string;
            }>`select table_name as name from information_schema.tables where table_schema = 'public'`.execute(
              store.db,
            )
          ).rows
        : (await sql<{ name: string }>`select name from sqlite_master where type = 'table'`.execute(store.db))
            .rows;
    for (const { name } of tables) {
      const rows = await sql<Raw>`select * from ${sql.table(name)}`.execute(store.db);
      for (const row of rows.rows) {
        // Text values only: digit codes would match epoch-ms numbers by chance.
        for (const v of Object.values(row)) if (typeof v === "string") out.push({ table: name, text: v });
      }
    }
    return out;
  }

  const harness: PortalHarness = {
    baseUrl,
    store,
    portal,
    app,
    logger,
    tenant,
    users,
    secrets,
    remember,
    phoneMessages: () => [...phone.messages],
    smsMessages: () => phone.messages.filter((m) => m.channel === "sms"),
    async waitForPhone(q) {
      const deadline = Date.now() + (q.timeoutMs ?? 10_000);
      for (;;) {
        const found = phone.messages.find(
          (m) =>
            m.to === q.to && m.receivedAt >= q.since && (q.channel === undefined || m.channel === q.channel),
        );
        if (found) return found;
        if (Date.now() > deadline) {
          throw new Error(
            `no ${q.channel ?? "phone"} message to ${q.to} since ${new Date(q.since).toISOString()}`,
          );
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    logLines: () => [...lines],
    settings: currentSettings,
    async setSettings(patch) {
      const next = parseTenantSettings(deepMerge((await currentSettings()) as unknown as Raw, patch));
      await store.db
        .updateTable("tenants")
        .set({ settings_json: JSON.stringify(next), updated_at: clock.now() })
        .where("id", "=", tenant.id)
        .execute();
      return next;
    },
    async user(username) {
      return store.db
        .selectFrom("users")
        .selectAll()
        .where("tenant_id", "=", tenant.id)
        .where("username", "=", username.toLowerCase())
        .executeTakeFirstOrThrow();
    },
    async scan(values = secrets) {
      const wanted = [...new Set(values)].filter((v) => v.length > 0);
      const findings: SecretFinding[] = [];
      const mask = (s: string) => `${s.slice(0, 2)}…(${s.length})`;
      const texts = await tableTexts();
      const audits = await store.db.selectFrom("audit_events").selectAll().execute();
      const auditTexts = audits.map((a) => JSON.stringify(a));
      const files: Array<{ name: string; text: string }> = [];
      if (sqliteFile) {
        await sql`pragma wal_checkpoint(PASSIVE)`.execute(store.db);
        for (const f of [sqliteFile, `${sqliteFile}-wal`]) {
          try {
            files.push({ name: f, text: readFileSync(f).toString("latin1") });
          } catch {
            // no WAL file
          }
        }
      }
      const log = lines.join("");
      for (const s of wanted) {
        for (const t of texts) {
          if (t.text.includes(s)) findings.push({ secret: mask(s), where: `table ${t.table}` });
        }
        if (auditTexts.some((a) => a.includes(s))) findings.push({ secret: mask(s), where: "audit_events" });
        for (const f of files) {
          // UTF-8 bytes read as latin1, so non-ASCII secrets are looked for in the same encoding.
          if (f.text.includes(Buffer.from(s, "utf8").toString("latin1")))
            findings.push({ secret: mask(s), where: `file ${f.name}` });
        }
        if (log.includes(s) || log.includes(JSON.stringify(s).slice(1, -1)))
          findings.push({ secret: mask(s), where: "log" });
      }
      return findings;
    },
    async close() {
      await app.close();
      await portal.close();
      await store.close();
      await new Promise<void>((resolve) => phone.server.close(() => resolve()));
      await pg?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}
