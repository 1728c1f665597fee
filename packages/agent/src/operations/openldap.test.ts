// Password operations against the real slapd (ppolicy), as the least-privilege agent account
// (plain write: its resets are policy-checked and it writes pwdReset itself). Own users only.
import { Attribute, Change, Client } from "ldapts";
import { afterAll, describe, expect, it } from "vitest";
import { createOpenLdapUser, getTestEnv } from "../../../../test-env/env.js";
import {
  agentKeys,
  anchorOf,
  readEntry,
  sealedRequest,
  testHandler,
  tryBind,
} from "../testing/operations.js";

const env = getTestEnv();
const { handler, keys } = testHandler(env);
afterAll(() => handler.close());

async function user() {
  const u = await createOpenLdapUser();
  return { ...u, anchor: await anchorOf(env, "openldap", u.dn) };
}

async function asRoot<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ url: env.openldap.url, timeout: 10_000 });
  try {
    await c.bind(env.openldap.rootDn, env.openldap.rootPassword);
    return await fn(c);
  } finally {
    await c.unbind().catch(() => {});
  }
}

const lock = (dn: string) =>
  asRoot((c) =>
    c.modify(
      dn,
      new Change({
        operation: "replace",
        modification: new Attribute({ type: "pwdAccountLockedTime", values: ["000001010000Z"] }),
      }),
    ),
  );

const op = (r: Omit<Parameters<typeof sealedRequest>[1], "directoryId">) =>
  sealedRequest(keys.publicRaw, { directoryId: "corp-ol", ...r }).then((req) => handler.handleOperation(req));

describe("OpenLDAP reset", () => {
  it("sets the new password: the new one binds, the old one does not", async () => {
    const u = await user();
    const r = await op({ kind: "reset", anchor: u.anchor, secrets: { newPassword: "Brand-New-Pass-1!" } });
    expect(r).toMatchObject({ outcome: "applied", applied: true, code: null, fromCache: false });
    expect(await tryBind(env, "openldap", u.dn, "Brand-New-Pass-1!")).toBe("ok");
    expect(await tryBind(env, "openldap", u.dn, u.password)).not.toBe("ok");
  });

  it("too short: PASSWORD_TOO_SHORT (ppolicy 6), nothing applied", async () => {
    const u = await user();
    const r = await op({ kind: "reset", anchor: u.anchor, secrets: { newPassword: "Ab1!" } });
    expect(r).toMatchObject({ outcome: "refused", applied: false, code: "PASSWORD_TOO_SHORT" });
    expect(r.diagnostic).toMatch(/quality/i);
    expect(await tryBind(env, "openldap", u.dn, u.password)).toBe("ok");
  });

  it("history: a password used before is PASSWORD_IN_HISTORY (ppolicy 8)", async () => {
    const u = await user();
    const r = await op({ kind: "reset", anchor: u.anchor, secrets: { newPassword: u.password } });
    expect(r).toMatchObject({ outcome: "refused", applied: false, code: "PASSWORD_IN_HISTORY" });
  });

  it("mustChange writes pwdReset TRUE: the next bind says changeAfterReset (verify-password → PASSWORD_MUST_CHANGE)", async () => {
    const u = await user();
    const r = await op({
      kind: "reset",
      anchor: u.anchor,
      secrets: { newPassword: "Must-Change-Pass-2!" },
      options: { mustChange: true },
    });
    expect(r.outcome).toBe("applied");
    expect((await readEntry(env, "openldap", u.dn, ["pwdReset"])).pwdReset).toEqual(["TRUE"]);
    const v = await op({
      kind: "verify-password",
      anchor: u.anchor,
      secrets: { password: "Must-Change-Pass-2!" },
    });
    expect(v).toMatchObject({ outcome: "refused", applied: false, code: "PASSWORD_MUST_CHANGE" });
    // A change with the old password clears it.
    const c = await op({
      kind: "change",
      anchor: u.anchor,
      secrets: { oldPassword: "Must-Change-Pass-2!", newPassword: "Own-Choice-Pass-3!" },
    });
    expect(c).toMatchObject({ outcome: "applied", applied: true });
    expect((await readEntry(env, "openldap", u.dn, ["pwdReset"])).pwdReset).toEqual([]);
    const v2 = await op({
      kind: "verify-password",
      anchor: u.anchor,
      secrets: { password: "Own-Choice-Pass-3!" },
    });
    expect(v2).toMatchObject({ outcome: "applied", applied: false, code: null });
  });

  it("a reset with unlock unlocks a locked account (slapd's ppolicy clears the lock on any reset)", async () => {
    const u = await user();
    await lock(u.dn);
    const r1 = await op({ kind: "reset", anchor: u.anchor, secrets: { newPassword: "Was-Locked-Pass-4!" } });
    expect(r1.outcome).toBe("applied");
    // Measured: unlike AD, slapd 2.5's ppolicy deletes pwdAccountLockedTime when a password is set.
    expect(await tryBind(env, "openldap", u.dn, "Was-Locked-Pass-4!")).toBe("ok");
    await lock(u.dn);
    const r2 = await op({
      kind: "reset",
      anchor: u.anchor,
      secrets: { newPassword: "Unlocked-Pass-5!" },
      options: { unlock: true },
    });
    expect(r2.outcome).toBe("applied");
    expect(await tryBind(env, "openldap", u.dn, "Unlocked-Pass-5!")).toBe("ok");
  });
});

describe("OpenLDAP change", () => {
  it("with the right old password it applies; with a wrong one: OLD_PASSWORD_WRONG", async () => {
    const u = await user();
    const bad = await op({
      kind: "change",
      anchor: u.anchor,
      secrets: { oldPassword: "Wrong-Old-Pass-0!", newPassword: "Changed-Pass-6!" },
    });
    expect(bad).toMatchObject({ outcome: "refused", applied: false, code: "OLD_PASSWORD_WRONG" });
    const good = await op({
      kind: "change",
      anchor: u.anchor,
      secrets: { oldPassword: u.password, newPassword: "Changed-Pass-6!" },
    });
    expect(good).toMatchObject({ outcome: "applied", applied: true });
    expect(await tryBind(env, "openldap", u.dn, "Changed-Pass-6!")).toBe("ok");
    expect(await tryBind(env, "openldap", u.dn, u.password)).not.toBe("ok");
  });

  it("same as current: PASSWORD_IN_HISTORY; too short: PASSWORD_TOO_SHORT", async () => {
    const u = await user();
    const same = await op({
      kind: "change",
      anchor: u.anchor,
      secrets: { oldPassword: u.password, newPassword: u.password },
    });
    expect(same.code).toBe("PASSWORD_IN_HISTORY");
    const short = await op({
      kind: "change",
      anchor: u.anchor,
      secrets: { oldPassword: u.password, newPassword: "x1!" },
    });
    expect(short.code).toBe("PASSWORD_TOO_SHORT");
  });
});

describe("OpenLDAP unlock and verify-password", () => {
  it("unlock deletes pwdAccountLockedTime; the password binds again", async () => {
    const u = await user();
    await lock(u.dn);
    expect(await tryBind(env, "openldap", u.dn, u.password)).not.toBe("ok");
    const v = await op({ kind: "verify-password", anchor: u.anchor, secrets: { password: u.password } });
    expect(v).toMatchObject({ outcome: "refused", code: "ACCOUNT_LOCKED" });
    const r = await op({ kind: "unlock", anchor: u.anchor });
    expect(r).toMatchObject({ outcome: "applied", applied: true, code: null });
    expect(await tryBind(env, "openldap", u.dn, u.password)).toBe("ok");
    const again = await op({ kind: "unlock", anchor: u.anchor });
    expect(again).toMatchObject({ outcome: "applied", applied: false });
  });

  it("verify-password: right → applied; wrong → INVALID_CREDENTIALS; empty → refused before binding", async () => {
    const u = await user();
    expect(
      await op({ kind: "verify-password", anchor: u.anchor, secrets: { password: u.password } }),
    ).toMatchObject({
      outcome: "applied",
      applied: false,
    });
    expect(
      await op({ kind: "verify-password", anchor: u.anchor, secrets: { password: "Not-It-Pass-7!" } }),
    ).toMatchObject({ outcome: "refused", code: "INVALID_CREDENTIALS" });
    const empty = await op({ kind: "verify-password", anchor: u.anchor, secrets: { password: "" } });
    expect(empty).toMatchObject({ outcome: "refused", code: "INVALID_CREDENTIALS" });
    expect(empty.diagnostic).toMatch(/before binding/);
  });

  it("an unknown anchor is NO_SUCH_OBJECT", async () => {
    const r = await op({ kind: "unlock", anchor: "00000000-0000-4000-8000-000000000000" });
    expect(r).toMatchObject({ outcome: "refused", applied: false, code: "NO_SUCH_OBJECT" });
  });
});

describe("OpenLDAP min age, idempotency and sealing", () => {
  it("too young: a dedicated policy with pwdMinAge 3600 → PASSWORD_TOO_YOUNG (ppolicy 7), nothing applied", async () => {
    const u = await user();
    const policyDn = `cn=young-${u.username},ou=policies,${env.openldap.baseDn}`;
    await asRoot(async (c) => {
      await c.add(policyDn, {
        objectClass: ["top", "device", "pwdPolicy"],
        cn: `young-${u.username}`,
        pwdAttribute: "userPassword",
        pwdMinAge: "3600",
        pwdInHistory: "5",
      });
      await c.modify(
        u.dn,
        new Change({
          operation: "replace",
          modification: new Attribute({ type: "pwdPolicySubentry", values: [policyDn] }),
        }),
      );
    });
    try {
      // The rootdn's add set no pwdChangedTime: the first set starts the clock, the second is too young.
      const first = await op({
        kind: "reset",
        anchor: u.anchor,
        secrets: { newPassword: "Young-First-Pass-10!" },
      });
      expect(first.outcome).toBe("applied");
      const r = await op({ kind: "reset", anchor: u.anchor, secrets: { newPassword: "Too-Young-Pass-11!" } });
      expect(r).toMatchObject({ outcome: "refused", applied: false, code: "PASSWORD_TOO_YOUNG" });
      expect(r.diagnostic).toMatch(/too young/i);
      expect(await tryBind(env, "openldap", u.dn, "Young-First-Pass-10!")).toBe("ok");
    } finally {
      await u.remove();
      await asRoot((c) => c.del(policyDn));
    }
  });

  it("a repeated opId is answered from memory: one write (pwdHistory grows by one only)", async () => {
    const u = await user();
    const history = async () =>
      (await readEntry(env, "openldap", u.dn, ["pwdHistory"])).pwdHistory?.length ?? 0;
    const before = await history();
    const req = await sealedRequest(keys.publicRaw, {
      directoryId: "corp-ol",
      kind: "reset",
      anchor: u.anchor,
      secrets: { newPassword: "Once-Only-Pass-12!" },
    });
    const results = await Promise.all([1, 2, 3].map(() => handler.handleOperation(req)));
    expect(results.map((r) => r.fromCache).sort()).toEqual([false, true, true]);
    for (const r of results) expect(r).toMatchObject({ opId: req.opId, outcome: "applied", applied: true });
    expect(await handler.handleOperation(req)).toMatchObject({ fromCache: true, applied: true });
    expect(await history()).toBe(before + 1);
  });

  it("another agent's key or changed associated data: SEAL_INVALID, nothing changed", async () => {
    const u = await user();
    const other = agentKeys();
    const req = await sealedRequest(other.publicRaw, {
      directoryId: "corp-ol",
      kind: "reset",
      anchor: u.anchor,
      secrets: { newPassword: "Never-Applied-Pass-13!" },
    });
    expect(await handler.handleOperation(req)).toMatchObject({ outcome: "refused", code: "SEAL_INVALID" });
    const good = await sealedRequest(keys.publicRaw, {
      directoryId: "corp-ol",
      kind: "reset",
      anchor: u.anchor,
      secrets: { newPassword: "Never-Applied-Pass-13!" },
    });
    expect(await handler.handleOperation({ ...good, tenantId: "elsewhere" })).toMatchObject({
      code: "SEAL_INVALID",
    });
    expect(await handler.handleOperation({ ...good, sealed: null })).toMatchObject({ code: "SEAL_INVALID" });
    expect(await tryBind(env, "openldap", u.dn, u.password)).toBe("ok");
    expect(await tryBind(env, "openldap", u.dn, "Never-Applied-Pass-13!")).not.toBe("ok");
  });
});

it("concurrent operations on one user run one after another: all applied, the last one wins", async () => {
  const u = await user();
  const passwords = [1, 2, 3, 4, 5, 6].map((i) => `Queued-${i}-Pass-Zz!`);
  const results = await Promise.all(
    passwords.map((p) => op({ kind: "reset", anchor: u.anchor, secrets: { newPassword: p } })),
  );
  for (const r of results) expect(r).toMatchObject({ outcome: "applied", applied: true });
  expect(await tryBind(env, "openldap", u.dn, passwords[5] as string)).toBe("ok");
});
