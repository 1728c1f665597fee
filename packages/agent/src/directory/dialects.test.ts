/**
 * The two dialect readers against the real Samba AD DC and slapd of the test environment, bound as
 * their least-privilege agent accounts: seeded users map field by field, anchors are the directory's
 * own objectGUID / entryUUID, scope and admin membership come out right, and the flags follow the
 * directory (disable, lock) on users of our own.
 */
import { Attribute, Change, Client } from "ldapts";
import { describe, expect, it } from "vitest";
import { createAdUser, createOpenLdapUser, getTestEnv, strictTls } from "../../../../test-env/env.js";
import type { AgentDirectoryConfig } from "../config/schema.js";
import { adDirectory, directoryPasswords, openLdapDirectory } from "../testing/directories.js";
import { guidToUuid } from "./ad/mapping.js";
import { openDirectorySession } from "./open.js";
import type { DirectorySession, DirectoryUser } from "./types.js";

const env = getTestEnv();
const passwords = directoryPasswords(env);

async function withSession<T>(d: AgentDirectoryConfig, fn: (s: DirectorySession) => Promise<T>): Promise<T> {
  const s = await openDirectorySession({
    directory: d,
    password: passwords[d.bindPasswordEnv ?? ""] ?? "",
    sync: { pageSize: 2, overlapSeconds: 5 },
  });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

async function all(s: DirectorySession): Promise<DirectoryUser[]> {
  const out: DirectoryUser[] = [];
  for await (const page of s.users()) out.push(...page.users);
  return out;
}

async function adminLdap<T>(
  url: string,
  dn: string,
  pw: string,
  fn: (c: Client) => Promise<T>,
  tls = true,
): Promise<T> {
  const c = new Client({ url, ...(tls ? { tlsOptions: strictTls() } : {}) });
  try {
    await c.bind(dn, pw);
    return await fn(c);
  } finally {
    await c.unbind().catch(() => {});
  }
}

describe("Active Directory reader (Samba)", () => {
  const dir = adDirectory(env);

  it("maps the seeded users: anchors are objectGUIDs, names, contacts, scope and admin", async () => {
    const users = await withSession(dir, async (s) => {
      expect(s.dialect).toBe("ad");
      return all(s); // page size 2: several pages
    });
    const byName = new Map(users.map((u) => [u.user.username.toLowerCase(), u]));
    const guids = await adminLdap(env.ad.url, env.ad.adminDn, env.ad.adminPassword, async (c) => {
      const { searchEntries } = await c.search(env.ad.usersDn, {
        filter: "(|(sAMAccountName=alice)(sAMAccountName=carol)(sAMAccountName=dave))",
        attributes: ["sAMAccountName", "objectGUID"],
        explicitBufferAttributes: ["objectGUID"],
      });
      return new Map(searchEntries.map((e) => [String(e.sAMAccountName), e.objectGUID as Buffer]));
    });
    const alice = byName.get("alice");
    expect(alice).toBeDefined();
    const seeded = env.ad.users.alice;
    expect(alice?.user).toMatchObject({
      dn: seeded.dn,
      username: "alice",
      upn: seeded.userPrincipalName,
      displayName: seeded.displayName,
      givenName: seeded.givenName,
      surname: seeded.sn,
      mail: seeded.mail,
      mobile: seeded.mobile,
      telephoneNumber: null,
      enabled: true,
      locked: false,
      passwordExpiresAt: null, // max age 0: never
    });
    expect(alice?.user.anchor).toBe(guidToUuid(guids.get("alice") as Buffer));
    expect(alice?.user.anchor).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    // pwdLastSet was set when the test environment seeded the user: recent, in epoch ms.
    expect(alice?.user.passwordLastSet).toBeGreaterThan(Date.now() - 7 * 86_400_000);
    expect(alice?.user.passwordLastSet).toBeLessThanOrEqual(Date.now() + 60_000);

    const m = await withSession(dir, (s) => s.membership());
    const key = (n: string) => byName.get(n)?.memberKey ?? "?";
    expect(m.scope?.has(key("alice"))).toBe(true);
    expect(m.scope?.has(key("carol"))).toBe(true);
    expect(m.scope?.has(key("dave"))).toBe(false);
    expect(m.admin.has(key("carol"))).toBe(true);
    expect(m.admin.has(key("alice"))).toBe(false);
    expect(byName.get("dave")?.user.anchor).toBe(guidToUuid(guids.get("dave") as Buffer));
    // The anchors listing agrees with the full read.
    const anchors = await withSession(dir, async (s) => {
      const list: string[] = [];
      for await (const page of s.anchors()) list.push(...page);
      return list;
    });
    for (const n of ["alice", "bob", "carol", "dave"]) expect(anchors).toContain(byName.get(n)?.user.anchor);
  });

  it("follows nested groups through LDAP_MATCHING_RULE_IN_CHAIN, and not when told not to", async () => {
    const user = await createAdUser({ groups: [] });
    const nested = `CN=nested-${user.username},${env.ad.groupsDn}`;
    await adminLdap(env.ad.url, env.ad.adminDn, env.ad.adminPassword, async (c) => {
      await c.add(nested, {
        objectClass: ["top", "group"],
        sAMAccountName: `nested-${user.username}`,
        member: [user.dn],
      });
      await c.modify(
        env.ad.scopeGroupDn,
        new Change({ operation: "add", modification: new Attribute({ type: "member", values: [nested] }) }),
      );
    });
    try {
      const found = await withSession(dir, async (s) => {
        const users = await all(s);
        return { me: users.find((x) => x.user.username === user.username), m: await s.membership() };
      });
      expect(found.me).toBeDefined();
      expect(found.m.scope?.has(found.me?.memberKey ?? "")).toBe(true);
      expect(found.m.groups.has(nested.toLowerCase())).toBe(true);
      const again = await withSession(dir, (s) => s.usersByAnchor([found.me?.user.anchor ?? ""]));
      expect(again.users.map((x) => x.user.username)).toEqual([user.username]);
      const direct = await withSession(adDirectory(env, { nestedGroups: false }), (s) => s.membership());
      expect(direct.scope?.has(found.me?.memberKey ?? "")).toBe(false);
    } finally {
      await adminLdap(env.ad.url, env.ad.adminDn, env.ad.adminPassword, (c) => c.del(nested));
      await user.remove();
    }
  });

  it("reports disabled (userAccountControl 2) and locked (3 bad binds: msDS-User-Account-Control-Computed 16)", async () => {
    const user = await createAdUser();
    try {
      await adminLdap(env.ad.url, env.ad.adminDn, env.ad.adminPassword, (c) =>
        c.modify(
          user.dn,
          new Change({
            operation: "replace",
            modification: new Attribute({ type: "userAccountControl", values: ["514"] }),
          }),
        ),
      );
      for (let i = 0; i < 3; i++) {
        const c = new Client({ url: env.ad.url, tlsOptions: strictTls() });
        await expect(c.bind(user.dn, "Wrong-Passw0rd!")).rejects.toThrow();
        await c.unbind().catch(() => {});
      }
      const u = await withSession(dir, async (s) => {
        const users = await all(s);
        return users.find((x) => x.user.username === user.username);
      });
      expect(u?.user.enabled).toBe(false);
      expect(u?.user.locked).toBe(true);
    } finally {
      await user.remove();
    }
  });

  it("refuses a scope group that does not exist rather than putting everyone out of scope", async () => {
    const d = adDirectory(env, { scopeGroups: [`CN=No-Such-Group,${env.ad.groupsDn}`] });
    await expect(withSession(d, (s) => s.membership())).rejects.toThrow(/does not exist/);
  });

  it("the agent account cannot read tombstones, so deletions go by reconciliation; the administrator can", async () => {
    await withSession(dir, async (s) => expect(s.deletions).toBe("reconcile"));
    const asAdmin = adDirectory(env, { bindDn: env.ad.adminDn, bindPasswordEnv: "ADMIN" });
    const s = await openDirectorySession({
      directory: asAdmin,
      password: env.ad.adminPassword,
      sync: { pageSize: 500, overlapSeconds: 5 },
    });
    try {
      expect(s.deletions).toBe("tombstones");
    } finally {
      await s.close();
    }
    await expect(
      openDirectorySession({
        directory: adDirectory(env, { deletions: "tombstones" }),
        password: env.ad.servicePassword,
        sync: { pageSize: 500, overlapSeconds: 5 },
      }),
    ).rejects.toThrow(/cannot read CN=Deleted Objects/);
  });
});

describe("OpenLDAP reader (slapd)", () => {
  const dir = openLdapDirectory(env);

  it("maps the seeded users: anchors are entryUUIDs, names, contacts, scope and admin", async () => {
    const users = await withSession(dir, async (s) => {
      expect(s.dialect).toBe("openldap");
      return all(s);
    });
    const byName = new Map(users.map((u) => [u.user.username, u]));
    const uuids = await adminLdap(
      env.openldap.url,
      env.openldap.rootDn,
      env.openldap.rootPassword,
      async (c) => {
        const { searchEntries } = await c.search(env.openldap.usersDn, {
          filter: "(uid=*)",
          attributes: ["uid", "entryUUID"],
        });
        return new Map(searchEntries.map((e) => [String(e.uid), String(e.entryUUID)]));
      },
      false,
    );
    const seeded = env.openldap.users.bob;
    expect(byName.get("bob")?.user).toMatchObject({
      anchor: uuids.get("bob"),
      dn: seeded.dn,
      username: "bob",
      upn: null,
      displayName: seeded.displayName,
      givenName: seeded.givenName,
      surname: seeded.sn,
      mail: seeded.mail,
      mobile: seeded.mobile,
      enabled: true,
      locked: false,
      passwordExpiresAt: null,
    });
    const m = await withSession(dir, (s) => s.membership());
    const key = (n: string) => byName.get(n)?.memberKey ?? "?";
    expect(m.scope?.has(key("alice"))).toBe(true);
    expect(m.scope?.has(key("dave"))).toBe(false);
    expect(m.admin.has(key("carol"))).toBe(true);
    expect(m.admin.has(key("bob"))).toBe(false);
  });

  it("pwdAccountLockedTime: 000001010000Z is disabled, a lockout time is locked; cn stands in for displayName", async () => {
    const a = await createOpenLdapUser();
    const b = await createOpenLdapUser();
    try {
      await adminLdap(
        env.openldap.url,
        env.openldap.rootDn,
        env.openldap.rootPassword,
        async (c) => {
          await c.modify(
            a.dn,
            new Change({
              operation: "add",
              modification: new Attribute({ type: "pwdAccountLockedTime", values: ["000001010000Z"] }),
            }),
          );
          await c.modify(
            b.dn,
            new Change({
              operation: "add",
              modification: new Attribute({ type: "pwdAccountLockedTime", values: ["20260101000000Z"] }),
            }),
          );
        },
        false,
      );
      const users = await withSession(dir, all);
      const ua = users.find((u) => u.user.username === a.username);
      const ub = users.find((u) => u.user.username === b.username);
      expect(ua?.user).toMatchObject({ enabled: false, locked: false, displayName: `Test ${a.username}` });
      expect(ub?.user).toMatchObject({ enabled: true, locked: true });
    } finally {
      await a.remove();
      await b.remove();
    }
  });

  it("computes password expiry as pwdChangedTime + the user's policy's pwdMaxAge", async () => {
    const u = await createOpenLdapUser();
    const policy = `cn=p-${u.username},ou=policies,${env.openldap.baseDn}`;
    try {
      await adminLdap(
        env.openldap.url,
        env.openldap.rootDn,
        env.openldap.rootPassword,
        async (c) => {
          await c.add(policy, {
            objectClass: ["top", "device", "pwdPolicy"],
            cn: `p-${u.username}`,
            pwdAttribute: "userPassword",
            pwdMaxAge: "3600",
          });
          await c.modify(
            u.dn,
            new Change({
              operation: "add",
              modification: new Attribute({ type: "pwdPolicySubentry", values: [policy] }),
            }),
          );
        },
        false,
      );
      // A change by the user sets pwdChangedTime.
      await adminLdap(
        env.openldap.url,
        u.dn,
        u.password,
        (c) =>
          c.modify(
            u.dn,
            new Change({
              operation: "replace",
              modification: new Attribute({ type: "userPassword", values: [`${u.password}-New1`] }),
            }),
          ),
        false,
      );
      const users = await withSession(dir, all);
      const me = users.find((x) => x.user.username === u.username)?.user;
      expect(me?.passwordLastSet).toBeGreaterThan(Date.now() - 120_000);
      expect(me?.passwordExpiresAt).toBe((me?.passwordLastSet ?? 0) + 3_600_000);
    } finally {
      await u.remove();
      await adminLdap(
        env.openldap.url,
        env.openldap.rootDn,
        env.openldap.rootPassword,
        (c) => c.del(policy),
        false,
      );
    }
  });
});
