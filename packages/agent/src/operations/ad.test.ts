// Password operations against the real Samba AD DC over LDAPS, as the delegated agent account
// (Reset Password + lockoutTime/pwdLastSet on OU=People; not a Domain Admin). Own users only.
// Domain policy (shared, not changed here): complexity, history 5, length 8, min age 0, lockout 3.
// "Too young" needs a min age the shared policy does not have: it is covered by the mapping table.
import { Attribute, Change, Client } from "ldapts";
import { afterAll, describe, expect, it } from "vitest";
import { createAdUser, getTestEnv } from "../../../../test-env/env.js";
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
  const u = await createAdUser();
  return { ...u, anchor: await anchorOf(env, "ad", u.dn) };
}

async function asAdmin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ url: env.ad.url, timeout: 15_000, tlsOptions: { ca: [env.caPem] } });
  try {
    await c.bind(env.ad.adminDn, env.ad.adminPassword);
    return await fn(c);
  } finally {
    await c.unbind().catch(() => {});
  }
}

/** Three bad binds: the domain's lockout threshold. */
async function lockByBadBinds(dn: string) {
  for (let i = 0; i < 3; i++) await tryBind(env, "ad", dn, `Wrong-Guess-${i}-Zz!`);
}

const usn = async (dn: string) => (await readEntry(env, "ad", dn, ["uSNChanged"])).uSNChanged?.[0];

const op = (r: Omit<Parameters<typeof sealedRequest>[1], "directoryId">) =>
  sealedRequest(keys.publicRaw, { directoryId: "corp-ad", ...r }).then((req) => handler.handleOperation(req));

describe("AD reset", () => {
  it("sets the new password: the new one binds, the old one does not", async () => {
    const u = await user();
    const r = await op({ kind: "reset", anchor: u.anchor, secrets: { newPassword: "Brand-New-Pass-1!" } });
    expect(r).toMatchObject({ outcome: "applied", applied: true, code: null, fromCache: false });
    expect(await tryBind(env, "ad", u.dn, "Brand-New-Pass-1!")).toBe("ok");
    // Samba accepts the password just replaced for "old password allowed period" (default 60 min,
    // NTLM-style checks, which its simple binds use); the one before that no longer binds.
    const r2 = await op({ kind: "reset", anchor: u.anchor, secrets: { newPassword: "Second-New-Pass-1!" } });
    expect(r2).toMatchObject({ outcome: "applied", applied: true });
    expect(await tryBind(env, "ad", u.dn, "Second-New-Pass-1!")).toBe("ok");
    expect(await tryBind(env, "ad", u.dn, u.password)).toMatch(/data 52e/);
  });

  it("does not unlock unless options.unlock; with it, the new password binds", async () => {
    const u = await user();
    await lockByBadBinds(u.dn);
    expect(await tryBind(env, "ad", u.dn, u.password)).toMatch(/data 775/);
    const r1 = await op({
      kind: "reset",
      anchor: u.anchor,
      secrets: { newPassword: "Still-Locked-Pass-2!" },
    });
    expect(r1.outcome).toBe("applied");
    expect(await tryBind(env, "ad", u.dn, "Still-Locked-Pass-2!")).toMatch(/data 775/);
    const r2 = await op({
      kind: "reset",
      anchor: u.anchor,
      secrets: { newPassword: "Unlocked-Pass-3!" },
      options: { unlock: true },
    });
    expect(r2).toMatchObject({ outcome: "applied", applied: true });
    expect(await tryBind(env, "ad", u.dn, "Unlocked-Pass-3!")).toBe("ok");
  });

  it("mustChange sets pwdLastSet 0 (bind: 773 → PASSWORD_MUST_CHANGE); a change with the old password still works", async () => {
    const u = await user();
    const r = await op({
      kind: "reset",
      anchor: u.anchor,
      secrets: { newPassword: "Must-Change-Pass-4!" },
      options: { mustChange: true },
    });
    expect(r.outcome).toBe("applied");
    expect((await readEntry(env, "ad", u.dn, ["pwdLastSet"])).pwdLastSet).toEqual(["0"]);
    const v = await op({
      kind: "verify-password",
      anchor: u.anchor,
      secrets: { password: "Must-Change-Pass-4!" },
    });
    expect(v).toMatchObject({ outcome: "refused", applied: false, code: "PASSWORD_MUST_CHANGE" });
    expect(v.diagnostic).toMatch(/data 773/);
    const c = await op({
      kind: "change",
      anchor: u.anchor,
      secrets: { oldPassword: "Must-Change-Pass-4!", newPassword: "Own-Choice-Pass-5!" },
    });
    expect(c).toMatchObject({ outcome: "applied", applied: true });
    expect(await tryBind(env, "ad", u.dn, "Own-Choice-Pass-5!")).toBe("ok");
  });

  it("too short and complexity are refused with their codes, nothing applied", async () => {
    const u = await user();
    const short = await op({ kind: "reset", anchor: u.anchor, secrets: { newPassword: "Ab1!" } });
    expect(short).toMatchObject({ outcome: "refused", applied: false, code: "PASSWORD_TOO_SHORT" });
    expect(short.diagnostic).toMatch(/0000052D/);
    const simple = await op({
      kind: "reset",
      anchor: u.anchor,
      secrets: { newPassword: "alllowercaseletters" },
    });
    expect(simple).toMatchObject({ outcome: "refused", applied: false, code: "PASSWORD_COMPLEXITY" });
    expect(await tryBind(env, "ad", u.dn, u.password)).toBe("ok");
  });
});

describe("AD change", () => {
  it("right old password → applied; wrong → OLD_PASSWORD_WRONG; same as current → PASSWORD_IN_HISTORY", async () => {
    const u = await user();
    const bad = await op({
      kind: "change",
      anchor: u.anchor,
      secrets: { oldPassword: "Wrong-Old-Pass-0!", newPassword: "Changed-Pass-6!" },
    });
    expect(bad).toMatchObject({ outcome: "refused", applied: false, code: "OLD_PASSWORD_WRONG" });
    expect(bad.diagnostic).toMatch(/00000056/);
    const same = await op({
      kind: "change",
      anchor: u.anchor,
      secrets: { oldPassword: u.password, newPassword: u.password },
    });
    expect(same).toMatchObject({ outcome: "refused", code: "PASSWORD_IN_HISTORY" });
    const good = await op({
      kind: "change",
      anchor: u.anchor,
      secrets: { oldPassword: u.password, newPassword: "Changed-Pass-6!" },
    });
    expect(good).toMatchObject({ outcome: "applied", applied: true });
    expect(await tryBind(env, "ad", u.dn, "Changed-Pass-6!")).toBe("ok");
    // Back to the first one: in history.
    const back = await op({
      kind: "change",
      anchor: u.anchor,
      secrets: { oldPassword: "Changed-Pass-6!", newPassword: u.password },
    });
    expect(back).toMatchObject({ outcome: "refused", code: "PASSWORD_IN_HISTORY" });
  });
});

describe("AD unlock and verify-password", () => {
  it("unlock alone: lockoutTime 0, the old password binds again", async () => {
    const u = await user();
    await lockByBadBinds(u.dn);
    const v = await op({ kind: "verify-password", anchor: u.anchor, secrets: { password: u.password } });
    expect(v).toMatchObject({ outcome: "refused", code: "ACCOUNT_LOCKED" });
    expect(v.diagnostic).toMatch(/data 775/);
    const r = await op({ kind: "unlock", anchor: u.anchor });
    expect(r).toMatchObject({ outcome: "applied", applied: true, code: null });
    expect(await tryBind(env, "ad", u.dn, u.password)).toBe("ok");
  });

  it("verify-password: right → applied; wrong → INVALID_CREDENTIALS (52e); disabled → ACCOUNT_DISABLED (533)", async () => {
    const u = await user();
    expect(
      await op({ kind: "verify-password", anchor: u.anchor, secrets: { password: u.password } }),
    ).toMatchObject({
      outcome: "applied",
      applied: false,
      code: null,
    });
    const wrong = await op({
      kind: "verify-password",
      anchor: u.anchor,
      secrets: { password: "Not-It-Pass-7!" },
    });
    expect(wrong).toMatchObject({ outcome: "refused", code: "INVALID_CREDENTIALS" });
    expect(wrong.diagnostic).toMatch(/data 52e/);
    await asAdmin((c) =>
      c.modify(
        u.dn,
        new Change({
          operation: "replace",
          modification: new Attribute({ type: "userAccountControl", values: ["514"] }),
        }),
      ),
    );
    const disabled = await op({
      kind: "verify-password",
      anchor: u.anchor,
      secrets: { password: u.password },
    });
    expect(disabled).toMatchObject({ outcome: "refused", code: "ACCOUNT_DISABLED" });
    expect(disabled.diagnostic).toMatch(/data 533/);
  });

  it("an empty password is refused before any bind (Samba would count it as a failure)", async () => {
    const u = await user();
    const before = (await readEntry(env, "ad", u.dn, ["badPwdCount"])).badPwdCount;
    const r = await op({ kind: "verify-password", anchor: u.anchor, secrets: { password: "" } });
    expect(r).toMatchObject({ outcome: "refused", code: "INVALID_CREDENTIALS" });
    expect((await readEntry(env, "ad", u.dn, ["badPwdCount"])).badPwdCount).toEqual(before);
  });
});

describe("AD idempotency and sealing", () => {
  it("a repeated opId is answered from memory without a second write (uSNChanged unchanged)", async () => {
    const u = await user();
    const req = await sealedRequest(keys.publicRaw, {
      directoryId: "corp-ad",
      kind: "reset",
      anchor: u.anchor,
      secrets: { newPassword: "Once-Only-Pass-8!" },
    });
    const [a, b] = await Promise.all([handler.handleOperation(req), handler.handleOperation(req)]);
    expect(a).toMatchObject({ outcome: "applied", fromCache: false });
    expect(b).toMatchObject({ outcome: "applied", fromCache: true });
    const after = await usn(u.dn);
    const c = await handler.handleOperation(req);
    expect(c).toMatchObject({ opId: req.opId, outcome: "applied", applied: true, fromCache: true });
    expect(await usn(u.dn)).toBe(after);
  });

  it("sealed to another agent, or with changed associated data: SEAL_INVALID and nothing changed", async () => {
    const u = await user();
    const before = await usn(u.dn);
    const other = agentKeys();
    const wrongKey = await sealedRequest(other.publicRaw, {
      directoryId: "corp-ad",
      kind: "reset",
      anchor: u.anchor,
      secrets: { newPassword: "Never-Applied-Pass-9!" },
    });
    expect(await handler.handleOperation(wrongKey)).toMatchObject({
      outcome: "refused",
      applied: false,
      code: "SEAL_INVALID",
    });
    const good = await sealedRequest(keys.publicRaw, {
      directoryId: "corp-ad",
      kind: "reset",
      anchor: u.anchor,
      secrets: { newPassword: "Never-Applied-Pass-9!" },
    });
    for (const changed of [
      { ...good, opId: `${good.opId}x` },
      { ...good, kind: "change" as const },
      { ...good, tenantId: "other-tenant" },
    ])
      expect(await handler.handleOperation(changed)).toMatchObject({ code: "SEAL_INVALID", applied: false });
    // Another user's anchor: the seal is bound to this one.
    const v = await user();
    expect(await handler.handleOperation({ ...good, anchor: v.anchor })).toMatchObject({
      code: "SEAL_INVALID",
    });
    expect(await usn(u.dn)).toBe(before);
    expect(await tryBind(env, "ad", u.dn, u.password)).toBe("ok");
  });

  it("past its deadline an operation is not started", async () => {
    const u = await user();
    const r = await op({
      kind: "reset",
      anchor: u.anchor,
      secrets: { newPassword: "Too-Late-Pass-10!" },
      deadline: Date.now() - 1,
    });
    expect(r).toMatchObject({ outcome: "failed", applied: false, code: "DIRECTORY_TIMEOUT" });
    expect(await tryBind(env, "ad", u.dn, u.password)).toBe("ok");
  });
});
