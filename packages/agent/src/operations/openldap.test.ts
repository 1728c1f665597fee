// Password operations against the real slapd (ppolicy), as the least-privilege agent account
// (plain write: its resets are policy-checked and it writes pwdReset itself). Own users only.
import { Attribute, Change, Client } from "ldapts";
import { afterAll, describe, expect, it } from "vitest";
import { createOpenLdapUser, getTestEnv } from "../../../../test-env/env.js";
import { anchorOf, readEntry, sealedRequest, testHandler, tryBind } from "../testing/operations.js";

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
