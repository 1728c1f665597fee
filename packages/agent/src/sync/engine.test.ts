/**
 * The sync engine against the real Samba AD DC and slapd: a full pass, then changes made in the
 * directory by an administrator (create, modify, disable, lock, leave the scope group, join the admin
 * group, delete) each show up in the next incremental pass — and nothing else of ours does; a new
 * engine on the same state file (a restarted agent) goes on incrementally from the cursor.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SyncedUser } from "@latchkey/protocol";
import { Attribute, Change, Client } from "ldapts";
import { afterAll, describe, expect, it } from "vitest";
import {
  type CreatedUser,
  createAdUser,
  createOpenLdapUser,
  getTestEnv,
  strictTls,
} from "../../../../test-env/env.js";
import type { AgentDirectoryConfig } from "../config/schema.js";
import { openDirectorySession } from "../directory/open.js";
import { memoryLogger } from "../log.js";
import { until } from "../testing/clock.js";
import { adDirectory, directoryPasswords, openLdapDirectory, RecordingSink } from "../testing/directories.js";
import { type PassResult, SyncEngine } from "./engine.js";
import { StateStore } from "./state.js";

const env = getTestEnv();
const passwords = directoryPasswords(env);
const tmp = mkdtempSync(join(tmpdir(), "latchkey-agent-sync-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Rig {
  dir: AgentDirectoryConfig;
  statePath: string;
  sink: RecordingSink;
  pass(opts?: { full?: boolean }): Promise<{ result: PassResult; users: SyncedUser[]; deleted: string[] }>;
}

function rig(dir: AgentDirectoryConfig, name: string, password?: string): Rig {
  const statePath = join(tmp, `${name}.state.json`);
  const sink = new RecordingSink();
  return {
    dir,
    statePath,
    sink,
    async pass(opts = {}) {
      // A new store and engine each time: every pass starts from what is on disk, as after a restart.
      const state = StateStore.load(statePath, "agent-test");
      const engine = new SyncEngine({ sink, state, batchSize: 3, window: 2, logger: memoryLogger() });
      const session = await openDirectorySession({
        directory: dir,
        password: password ?? passwords[dir.bindPasswordEnv ?? ""] ?? "",
        sync: { pageSize: 4, overlapSeconds: 5 },
      });
      try {
        const result = await engine.runPass(dir, session, opts);
        const batches = sink.pass(result.syncId);
        expect(batches.map((b) => b.seq)).toEqual(batches.map((_, i) => i));
        expect(batches.at(-1)?.final).toBe(true);
        expect(batches.slice(0, -1).every((b) => !b.final)).toBe(true);
        expect(batches.every((b) => b.users.length <= 3 && b.full === result.full)).toBe(true);
        return { result, users: batches.flatMap((b) => b.users), deleted: batches.flatMap((b) => b.deleted) };
      } finally {
        await session.close();
      }
    },
  };
}

const named = (users: SyncedUser[], u: { username: string }) =>
  users.filter((x) => x.username.toLowerCase() === u.username.toLowerCase());

async function as<T>(
  url: string,
  dn: string,
  pw: string,
  tls: "ldaps" | "starttls",
  fn: (c: Client) => Promise<T>,
) {
  const c = new Client({ url, ...(tls === "ldaps" ? { tlsOptions: strictTls() } : {}) });
  try {
    if (tls === "starttls") await c.startTLS(strictTls());
    await c.bind(dn, pw);
    return await fn(c);
  } finally {
    await c.unbind().catch(() => {});
  }
}

const replace = (type: string, values: string[]) =>
  new Change({ operation: "replace", modification: new Attribute({ type, values }) });
const add = (type: string, values: string[]) =>
  new Change({ operation: "add", modification: new Attribute({ type, values }) });
const remove = (type: string, values: string[]) =>
  new Change({ operation: "delete", modification: new Attribute({ type, values }) });

async function badBinds(url: string, dn: string, tls: "ldaps" | "starttls", n: number) {
  for (let i = 0; i < n; i++) {
    const c = new Client({ url, ...(tls === "ldaps" ? { tlsOptions: strictTls() } : {}) });
    try {
      if (tls === "starttls") await c.startTLS(strictTls());
      await expect(c.bind(dn, "Wrong-Passw0rd-1!")).rejects.toThrow();
    } finally {
      await c.unbind().catch(() => {});
    }
  }
}

interface Dialect {
  name: "ad" | "openldap";
  dir: AgentDirectoryConfig;
  create(opts?: { groups?: string[] }): Promise<CreatedUser>;
  admin<T>(fn: (c: Client) => Promise<T>): Promise<T>;
  scopeGroup: string;
  adminGroup: string;
  disable(c: Client, dn: string): Promise<void>;
  lock(dn: string): Promise<void>;
  tls: "ldaps" | "starttls";
  url: string;
}

const dialects: Dialect[] = [
  {
    name: "ad",
    dir: adDirectory(env),
    create: (o) => createAdUser(o),
    admin: (fn) => as(env.ad.url, env.ad.adminDn, env.ad.adminPassword, "ldaps", fn),
    scopeGroup: env.ad.scopeGroupDn,
    adminGroup: env.ad.adminGroupDn,
    disable: (c, dn) => c.modify(dn, replace("userAccountControl", ["514"])),
    lock: (dn) => badBinds(env.ad.url, dn, "ldaps", 3),
    tls: "ldaps",
    url: env.ad.url,
  },
  {
    name: "openldap",
    dir: openLdapDirectory(env),
    create: (o) => createOpenLdapUser(o),
    admin: (fn) => as(env.openldap.url, env.openldap.rootDn, env.openldap.rootPassword, "starttls", fn),
    scopeGroup: env.openldap.scopeGroupDn,
    adminGroup: env.openldap.adminGroupDn,
    disable: (c, dn) => c.modify(dn, add("pwdAccountLockedTime", ["000001010000Z"])),
    // ppolicy locks after pwdMaxFailure (3) failed binds and writes pwdAccountLockedTime itself.
    lock: (dn) => badBinds(env.openldap.url, dn, "starttls", 3),
    tls: "starttls",
    url: env.openldap.url,
  },
];

describe.each(dialects)("sync of $name", (d) => {
  it("full pass, then each change in the next incremental pass; a restarted engine resumes from the cursor", async () => {
    const [toModify, toDisable, toLock, toLeave, toPromote, toDelete] = await Promise.all([
      d.create(),
      d.create(),
      d.create(),
      d.create(),
      d.create(),
      d.create(),
    ]);
    const created: CreatedUser[] = [];
    try {
      const r = rig(d.dir, `${d.name}-changes`);
      const first = await r.pass();
      expect(first.result).toMatchObject({ full: true, fullReason: "first sync" });
      for (const u of [toModify, toDisable, toLock, toLeave, toPromote, toDelete])
        expect(named(first.users, u)).toEqual([
          expect.objectContaining({ inScope: true, isAdmin: false, enabled: true, locked: false }),
        ]);
      const seededAdmin = first.users.find((u) => u.username === "carol");
      expect(seededAdmin).toMatchObject({ inScope: true, isAdmin: true });
      expect(first.users.find((u) => u.username === "dave")).toMatchObject({
        inScope: false,
        isAdmin: false,
      });
      expect(statSync(r.statePath).mode & 0o777).toBe(0o600);
      const deletedAnchor = named(first.users, toDelete)[0]?.anchor;

      // Nothing changed (of ours): the incremental pass sends none of our users.
      const quiet = await r.pass();
      expect(quiet.result.full).toBe(false);
      for (const u of [toModify, toDisable, toLock, toLeave, toPromote, toDelete])
        expect(named(quiet.users, u)).toEqual([]);

      const fresh = await d.create();
      created.push(fresh);
      await d.admin(async (c) => {
        await c.modify(toModify.dn, replace("mail", [`changed-${toModify.username}@example.test`]));
        await c.modify(toModify.dn, replace("telephoneNumber", ["+15550001111"]));
        await d.disable(c, toDisable.dn);
        await c.modify(d.scopeGroup, remove("member", [toLeave.dn]));
        await c.modify(d.adminGroup, add("member", [toPromote.dn]));
      });
      await d.lock(toLock.dn);
      await toDelete.remove();

      const second = await r.pass();
      expect(second.result.full).toBe(false);
      expect(named(second.users, fresh)).toEqual([expect.objectContaining({ inScope: true, enabled: true })]);
      expect(named(second.users, toModify)).toEqual([
        expect.objectContaining({
          mail: `changed-${toModify.username}@example.test`,
          telephoneNumber: "+15550001111",
        }),
      ]);
      expect(named(second.users, toDisable)).toEqual([expect.objectContaining({ enabled: false })]);
      expect(named(second.users, toLock)).toEqual([expect.objectContaining({ locked: true, enabled: true })]);
      expect(named(second.users, toLeave)).toEqual([expect.objectContaining({ inScope: false })]);
      expect(named(second.users, toPromote)).toEqual([
        expect.objectContaining({ isAdmin: true, inScope: true }),
      ]);
      expect(second.deleted).toContain(deletedAnchor);
      expect(second.users.find((u) => u.username === "alice")).toBeUndefined();

      // A restart: new store and engine on the same file; one more change; still incremental.
      await d.admin((c) => c.modify(fresh.dn, replace("mobile", ["+15559998888"])));
      const third = await r.pass();
      expect(third.result).toMatchObject({ full: false, fullReason: null });
      expect(named(third.users, fresh)).toEqual([expect.objectContaining({ mobile: "+15559998888" })]);
      for (const u of [toModify, toDisable, toLeave, toPromote]) expect(named(third.users, u)).toEqual([]);
      expect(third.deleted).not.toContain(deletedAnchor);

      // Asked for, a full pass sends everyone again (and the server drops what it did not see).
      const full = await r.pass({ full: true });
      expect(full.result).toMatchObject({ full: true, fullReason: "requested" });
      expect(named(full.users, toModify)).toHaveLength(1);
      expect(full.users.find((u) => u.anchor === deletedAnchor)).toBeUndefined();
    } finally {
      await d.admin(async (c) => {
        await c.modify(d.adminGroup, remove("member", [toPromote.dn])).catch(() => {});
      });
      for (const u of [toModify, toDisable, toLock, toLeave, toPromote, ...created])
        await u.remove().catch(() => {});
    }
  });

  it("a changed configuration (another scope) makes the next pass full", async () => {
    const r1 = rig(d.dir, `${d.name}-config`);
    await r1.pass();
    const r2 = rig({ ...d.dir, scopeGroups: [] }, `${d.name}-config`);
    const p = await r2.pass();
    expect(p.result).toMatchObject({ full: true, fullReason: "the configuration changed" });
    // No scope group: everyone is in scope, dave included.
    expect(p.users.find((u) => u.username === "dave")).toMatchObject({ inScope: true });
  });
});

describe("OpenLDAP cursor window", () => {
  it("re-reads the overlap below the cursor until it settles, then only what changed after it", async () => {
    // An OU of our own, so other test files' users cannot change what the passes read.
    const ou = `ou=settle-${Date.now().toString(36)},${env.openldap.baseDn}`;
    const root = <T>(fn: (c: Client) => Promise<T>) =>
      as(env.openldap.url, env.openldap.rootDn, env.openldap.rootPassword, "starttls", fn);
    const dns = Array.from({ length: 12 }, (_, i) => `uid=bulk${i},${ou}`);
    await root(async (c) => {
      await c.add(ou, { objectClass: ["organizationalUnit"], ou: ou.slice(3, ou.indexOf(",")) });
      for (const [i, dn] of dns.entries())
        await c.add(dn, { objectClass: ["inetOrgPerson"], uid: `bulk${i}`, cn: `Bulk ${i}`, sn: "Bulk" });
    });
    // The fake agent clock below says minutes pass; the directory's clock must agree that the second
    // the bulk was written in is over before anything else is written (as it would be, minutes later).
    const bulkWritten = Date.now();
    try {
      const dir = openLdapDirectory(env, { id: "settle", baseDn: ou, scopeGroups: [], adminGroups: [] });
      let now = Date.now();
      const statePath = join(tmp, "settle.state.json");
      const pass = async (full = false) => {
        const engine = new SyncEngine({
          sink: new RecordingSink(),
          state: StateStore.load(statePath, "agent-test"),
          batchSize: 500,
          window: 2,
          logger: memoryLogger(),
          now: () => now,
        });
        const session = await openDirectorySession({
          directory: dir,
          password: env.openldap.servicePassword,
          sync: { pageSize: 500, overlapSeconds: 5 },
        });
        try {
          return await engine.runPass(dir, session, { full });
        } finally {
          await session.close();
        }
      };
      expect(await pass()).toMatchObject({ full: true, users: 12, read: 12 });
      // Right after: the bulk lies in the overlap window; it is read again but not sent.
      expect(await pass()).toMatchObject({ full: false, users: 0, read: 12 });
      // A pass that starts once the overlap (5 s) + 1 s have passed reads the window a last time…
      now += 6_500;
      expect(await pass()).toMatchObject({ users: 0, read: 12 });
      // …and from then on the window starts above the cursor: nothing is read.
      now += 60_000;
      expect(await pass()).toMatchObject({ users: 0, read: 0 });
      // A change moves the cursor: sent once, then the new overlap is re-read (not sent) until it settles.
      await until("the bulk's second to be over", () => Date.now() > bulkWritten + 1100);
      await root((c) => c.modify(dns[3] ?? "", replace("mail", ["bulk3@example.test"])));
      const changed = await pass();
      expect(changed).toMatchObject({ users: 1, read: 1 });
      now += 60_000;
      // The new overlap reaches no lower than the settled floor: the bulk is not read (nor sent) again.
      expect(await pass()).toMatchObject({ users: 0, read: 1 });
      now += 60_000;
      expect(await pass()).toMatchObject({ users: 0, read: 0 });
    } finally {
      await root(async (c) => {
        for (const dn of dns) await c.del(dn).catch(() => {});
        await c.del(ou).catch(() => {});
      });
    }
  });
});

describe("Active Directory deletions through tombstones", () => {
  it("an account that can read CN=Deleted Objects finds deletions without reconciling", async () => {
    const dir = adDirectory(env, { bindDn: env.ad.adminDn, bindPasswordEnv: "ADMIN" });
    const r = rig(dir, "ad-tombstones", env.ad.adminPassword);
    const victim = await createAdUser();
    await r.pass();
    const anchor = (await r.pass({ full: true })).users.find((u) => u.username === victim.username)?.anchor;
    expect(anchor).toBeDefined();
    await victim.remove();
    const p = await r.pass();
    expect(p.result).toMatchObject({ full: false, reconciled: false });
    expect(p.deleted).toEqual([anchor]);
  });
});
