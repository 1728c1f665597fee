// What tests import: the running environment (getTestEnv) and helpers for mail, databases and
// throwaway directory users. Runs inside the vitest workers; the daemons themselves are started
// once per run by test-env/global-setup.ts.
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { ConnectionOptions } from "node:tls";
import { Attribute, Change, Client } from "ldapts";
import pg from "pg";
import { inject } from "vitest";
import { addressesOf, type ReceivedMail } from "./mail.js";
import type { TestEnv } from "./types.js";

export type { ParsedMail, ReceivedMail } from "./mail.js";
export { parseMail } from "./mail.js";
export type {
  AdEnv,
  OpenLdapEnv,
  PostgresEnv,
  SeededUser,
  SeededUserName,
  SmtpEnv,
  TestEnv,
} from "./types.js";

/** The environment the global setup started for this run. */
export function getTestEnv(): TestEnv {
  const env = inject("latchkeyEnv");
  if (!env)
    throw new Error("latchkeyEnv was not provided: is test-env/global-setup.ts configured as globalSetup?");
  return env;
}

/** TLS options that trust only the run's throwaway CA, with full verification. */
export function strictTls(): ConnectionOptions {
  return { ca: [getTestEnv().caPem], rejectUnauthorized: true };
}

// ---------------------------------------------------------------------------------------------
// Mail

export interface MailQuery {
  /** Matches an envelope recipient or an address in the To/Cc headers (case-insensitive). */
  to?: string;
  /** Only mail received at or after this time. Take it before triggering the send. */
  since?: Date | number;
  /** Substring of, or pattern for, the decoded subject. */
  subject?: string | RegExp;
}

function matches(m: ReceivedMail, q: MailQuery): boolean {
  if (q.to !== undefined) {
    const want = q.to.toLowerCase();
    const all = [...m.to, ...addressesOf(m.headers.to), ...addressesOf(m.headers.cc)];
    if (!all.includes(want)) return false;
  }
  if (q.since !== undefined) {
    const since = q.since instanceof Date ? q.since.getTime() : q.since;
    if (Date.parse(m.receivedAt) < since) return false;
  }
  if (q.subject !== undefined) {
    if (typeof q.subject === "string" ? !m.subject.includes(q.subject) : !q.subject.test(m.subject))
      return false;
  }
  return true;
}

function mailFiles(): string[] {
  try {
    return readdirSync(getTestEnv().smtp.mailDir)
      .filter((f) => f.endsWith(".json") && !f.startsWith("."))
      .sort();
  } catch {
    return [];
  }
}

function loadMail(file: string): ReceivedMail | undefined {
  try {
    return JSON.parse(readFileSync(join(getTestEnv().smtp.mailDir, file), "utf8")) as ReceivedMail;
  } catch {
    return undefined; // removed by clearMail meanwhile
  }
}

/** Every captured message that matches, oldest first (no waiting). */
export function listMail(query: MailQuery = {}): ReceivedMail[] {
  return mailFiles()
    .map(loadMail)
    .filter((m): m is ReceivedMail => m !== undefined && matches(m, query));
}

/** Waits for the oldest message matching the query and returns it (default timeout 10 s). */
export async function readMail(query: MailQuery & { timeoutMs?: number }): Promise<ReceivedMail> {
  const deadline = Date.now() + (query.timeoutMs ?? 10_000);
  for (;;) {
    const found = listMail(query)[0];
    if (found) return found;
    if (Date.now() > deadline) {
      const seen = listMail()
        .slice(-10)
        .map((m) => `  ${m.receivedAt} to=${m.to.join(",")} subject=${JSON.stringify(m.subject)}`);
      throw new Error(
        `readMail: no message matching ${JSON.stringify({ ...query, subject: query.subject?.toString() })} ` +
          `within ${query.timeoutMs ?? 10_000} ms. Latest messages in the sink:\n${seen.join("\n") || "  (none)"}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Deletes captured mail: all of it, or only what matches (prefer a `to` filter: test files run in parallel). */
export function clearMail(query: MailQuery = {}): number {
  const dir = getTestEnv().smtp.mailDir;
  let n = 0;
  for (const f of mailFiles()) {
    const m = loadMail(f);
    if (m && matches(m, query)) {
      rmSync(join(dir, f), { force: true });
      n++;
    }
  }
  return n;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

export interface TestDatabase {
  name: string;
  url: string;
  /** Drops the database (terminating open connections). Also done at the end of the run. */
  drop(): Promise<void>;
}

/** Creates an empty, uniquely named database for one test file (or test) and returns its URL. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const env = getTestEnv();
  const tag = env.runId.replace(/[^a-z0-9]/gi, "_").toLowerCase();
  const name = `lkt_${tag}_${randomBytes(5).toString("hex")}`;
  const admin = async <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> => {
    const c = new pg.Client({ connectionString: env.postgres.url });
    await c.connect();
    try {
      return await fn(c);
    } finally {
      await c.end().catch(() => undefined);
    }
  };
  await admin((c) => c.query(`create database "${name}"`));
  const url = new URL(env.postgres.url);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () => admin((c) => c.query(`drop database if exists "${name}" with (force)`)).then(() => undefined),
  };
}

// ---------------------------------------------------------------------------------------------
// Throwaway directory users (for tests that change passwords, lock accounts, etc.)

export interface CreateUserOptions {
  /** Default: a random `t` + 10 hex characters. */
  username?: string;
  /** Default: a random password that meets both directories' policies. */
  password?: string;
  givenName?: string;
  sn?: string;
  mail?: string;
  mobile?: string;
  /** Group DNs to add the user to. Default: the scope group only. Pass [] for an out-of-scope user. */
  groups?: string[];
}

export interface CreatedUser {
  username: string;
  dn: string;
  password: string;
  mail: string;
  mobile: string;
  groups: string[];
  /** AD only. */
  userPrincipalName?: string;
  /** Deletes the user (and its group memberships). */
  remove(): Promise<void>;
}

function defaults(opts: CreateUserOptions, mailDomain: string) {
  const username = opts.username ?? `t${randomBytes(5).toString("hex")}`;
  return {
    username,
    password: opts.password ?? `Tst-${randomBytes(6).toString("hex")}-9Z!`,
    givenName: opts.givenName ?? "Test",
    sn: opts.sn ?? username,
    mail: opts.mail ?? `${username}@${mailDomain}`,
    mobile: opts.mobile ?? `+1555${String(Math.floor(Math.random() * 1e7)).padStart(7, "0")}`,
  };
}

async function withLdap<T>(
  url: string,
  dn: string,
  password: string,
  tls: boolean,
  fn: (c: Client) => Promise<T>,
): Promise<T> {
  const c = new Client({ url, timeout: 30_000, ...(tls ? { tlsOptions: strictTls() } : {}) });
  try {
    await c.bind(dn, password);
    return await fn(c);
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

/** Creates an enabled AD user in OU=People (where the agent's delegation applies) via LDAPS as Administrator. */
export async function createAdUser(opts: CreateUserOptions = {}): Promise<CreatedUser> {
  const { ad } = getTestEnv();
  const d = defaults(opts, "example.test");
  const dn = `CN=${d.username},${ad.usersDn}`;
  const upn = `${d.username}@${ad.dnsDomain}`;
  const groups = opts.groups ?? [ad.scopeGroupDn];
  const admin = <T>(fn: (c: Client) => Promise<T>) =>
    withLdap(ad.url, ad.adminDn, ad.adminPassword, true, fn);
  await admin(async (c) => {
    await c.add(dn, [
      new Attribute({ type: "objectClass", values: ["top", "person", "organizationalPerson", "user"] }),
      new Attribute({ type: "sAMAccountName", values: [d.username] }),
      new Attribute({ type: "userPrincipalName", values: [upn] }),
      new Attribute({ type: "givenName", values: [d.givenName] }),
      new Attribute({ type: "sn", values: [d.sn] }),
      new Attribute({ type: "displayName", values: [`${d.givenName} ${d.sn}`] }),
      new Attribute({ type: "mail", values: [d.mail] }),
      new Attribute({ type: "mobile", values: [d.mobile] }),
      new Attribute({ type: "unicodePwd", values: [Buffer.from(`"${d.password}"`, "utf16le")] }),
      new Attribute({ type: "userAccountControl", values: ["512"] }),
    ]);
    for (const g of groups) {
      await c.modify(
        g,
        new Change({ operation: "add", modification: new Attribute({ type: "member", values: [dn] }) }),
      );
    }
  });
  return {
    username: d.username,
    dn,
    password: d.password,
    mail: d.mail,
    mobile: d.mobile,
    groups,
    userPrincipalName: upn,
    remove: () => admin((c) => c.del(dn)),
  };
}

/** Creates an inetOrgPerson in ou=people via the rootdn (password hashed by ppolicy_hash_cleartext). */
export async function createOpenLdapUser(opts: CreateUserOptions = {}): Promise<CreatedUser> {
  const { openldap: ol } = getTestEnv();
  const d = defaults(opts, "example.test");
  const dn = `uid=${d.username},${ol.usersDn}`;
  const groups = opts.groups ?? [ol.scopeGroupDn];
  const root = <T>(fn: (c: Client) => Promise<T>) => withLdap(ol.url, ol.rootDn, ol.rootPassword, false, fn);
  await root(async (c) => {
    await c.add(dn, {
      objectClass: ["top", "person", "organizationalPerson", "inetOrgPerson"],
      uid: d.username,
      cn: `${d.givenName} ${d.sn}`,
      givenName: d.givenName,
      sn: d.sn,
      mail: d.mail,
      mobile: d.mobile,
      userPassword: d.password,
    });
    for (const g of groups) {
      await c.modify(
        g,
        new Change({ operation: "add", modification: new Attribute({ type: "member", values: [dn] }) }),
      );
    }
  });
  return {
    username: d.username,
    dn,
    password: d.password,
    mail: d.mail,
    mobile: d.mobile,
    groups,
    remove: () => root((c) => c.del(dn)),
  };
}
