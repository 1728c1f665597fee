/**
 * "Unlock only" and the completion after "pending", through the reset service without HTTP: a locked
 * cloud account unlocks after the gates and keeps its password (notice, audit, sessions kept); the
 * choice is offered only to a locked account where the tenant allows it, and nothing before the gates
 * tells a locked account from another (strict mode) or from an unknown name; a reset of a locked
 * account unlocks it unless reset.unlock.alsoOnReset is off. For a synced account, a setter that
 * answers "pending" (as the writeback does when the directory outlives the wait) leaves the flow in
 * `pending`; the operation's end then runs the flow's completion once, or ends it `failed`.
 */
import { sql } from "kysely";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { isLatchkeyError, type LatchkeyError } from "../../core/errors.js";
import { verifyPassword } from "../../core/password-hash.js";
import { newId } from "../../core/random.js";
import type { User } from "../../store/schema.js";
import type { PasswordSetter, SetPasswordResult } from "./password-setter.js";
import type { OperationEnd, ResetView } from "./service.js";
import { createResetFixture, EMAIL, type ResetFixture, type Walk } from "./testing/fixture.js";

/** A synced account's setter as the writeback behaves when the directory is slow: always "pending". */
class PendingSetter implements PasswordSetter {
  readonly calls: Array<{ kind: "reset" | "unlock"; unlock?: boolean; operationId: string }> = [];
  serves(user: User): boolean {
    return user.kind === "synced";
  }
  async setPassword(_u: User, _p: string, opts: { unlock: boolean }): Promise<SetPasswordResult> {
    const operationId = newId();
    this.calls.push({ kind: "reset", unlock: opts.unlock, operationId });
    return { ok: "pending", operationId };
  }
  async unlock(): Promise<SetPasswordResult> {
    const operationId = newId();
    this.calls.push({ kind: "unlock", operationId });
    return { ok: "pending", operationId };
  }
}

const pendingSetter = new PendingSetter();
/** Operations that already ended, as the writeback's row would say (operationEnd). */
const ended = new Map<string, OperationEnd>();

let fx: ResetFixture;
const OLD = "Old-Password-1!";

beforeAll(async () => {
  fx = await createResetFixture(
    {},
    { setters: [pendingSetter], operationEnd: async (id) => ended.get(id) ?? null },
  );
});
afterAll(async () => {
  await fx.close();
});
beforeEach(async () => {
  fx.configure({ reset: { disclosure: "guided" } });
  await fx.deliver(); // what earlier tests queued does not count here
});

async function refusal(p: Promise<unknown>): Promise<LatchkeyError> {
  try {
    await p;
  } catch (e) {
    if (isLatchkeyError(e)) return e;
    throw e;
  }
  throw new Error("expected a refusal");
}

let n = 0;
async function lockedUser(opts: { kind?: "cloud" | "synced"; locked?: boolean } = {}): Promise<User> {
  n += 1;
  const u = await fx.fullUser(`locked${n}`, { password: OLD });
  await fx.store.db
    .updateTable("users")
    .set({
      locked: opts.locked === false ? 0 : 1,
      ...(opts.kind === "synced" ? { kind: "synced", source_anchor: newId(), directory_id: "corp" } : {}),
    })
    .where("id", "=", u.id)
    .execute();
  return row(u.id);
}

function row(id: string): Promise<User> {
  return fx.store.db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
}

/** Passes the one gate (email code) and returns the walk at new_password. */
async function throughGates(u: User): Promise<Walk> {
  const w = await fx.begin();
  await w.identify(u.username);
  await w.challengeWithCode("email", "135790");
  expect((await w.verify({ code: "135790" })).state).toBe("new_password");
  return w;
}

async function addSession(u: User): Promise<string> {
  const id = newId();
  const now = fx.clock.now();
  await sql`insert into sessions (id, tenant_id, user_id, token_hash, ip, user_agent, created_at, last_seen_at, expires_at, revoked_at)
    values (${id}, ${u.tenant_id}, ${u.id}, ${newId()}, null, null, ${now}, ${now}, ${now + 3_600_000}, null)`.execute(
    fx.store.db,
  );
  return id;
}

async function sessionRevoked(id: string): Promise<boolean> {
  const r = await fx.store.db
    .selectFrom("sessions")
    .select("revoked_at")
    .where("id", "=", id)
    .executeTakeFirstOrThrow();
  return r.revoked_at !== null;
}

async function events(flowId: string, event: string) {
  return fx.store.db
    .selectFrom("audit_events")
    .selectAll()
    .where("flow_id", "=", flowId)
    .where("event", "=", event)
    .execute();
}

async function templates(): Promise<string[]> {
  return (await fx.deliver()).map((m) => m.template);
}

async function flowState(flowId: string): Promise<string> {
  const f = await fx.store.db
    .selectFrom("flows")
    .select("state")
    .where("id", "=", flowId)
    .executeTakeFirstOrThrow();
  return f.state;
}

describe("unlock only, cloud account", () => {
  it("a locked account is offered the choice after the gates, unlocks, keeps its password and is told", async () => {
    const u = await lockedUser();
    const session = await addSession(u);
    const w = await throughGates(u);
    expect(w.view).toMatchObject({ state: "new_password", unlockOffered: true, resetUnlocks: true });
    await templates();

    const view = await fx.service.unlock(w.step());
    expect(view.state).toBe("unlocked");
    const after = await row(u.id);
    expect(after.locked).toBe(0);
    expect(after.password_hash).toBe(u.password_hash);
    expect(await verifyPassword(after.password_hash ?? "", OLD)).toBe(true);
    // The password did not change: the sessions stay.
    expect(await sessionRevoked(session)).toBe(false);
    const sent = (await fx.deliver()).filter((m) => m.to === EMAIL);
    expect(sent.map((m) => m.template)).toEqual(["account.unlocked"]);
    expect(sent[0]?.text).toContain("was unlocked through self-service");
    expect(sent[0]?.text).toContain("Your password was not changed");
    expect(await events(w.view.flowId, "account.unlocked")).toMatchObject([
      { result: "success", target: u.id, actor: u.id },
    ]);
    const done = await events(w.view.flowId, "reset_flow.completed");
    expect(done.map((e) => JSON.parse(e.details_json))).toEqual([{ outcome: "unlocked" }]);
    expect(await events(w.view.flowId, "password.reset")).toEqual([]);

    // Done is done: a second unlock (a replayed form) is refused, and the view stays "unlocked".
    expect((await refusal(fx.service.unlock(w.step()))).code).toBe("FLOW_WRONG_STATE");
    expect((await fx.service.view(fx.tenantNow(), w.view.flowId, bindingOf(w))).state).toBe("unlocked");
  });

  it("is not offered to an account that is not locked, nor where the tenant does not allow it", async () => {
    const open = await lockedUser({ locked: false });
    const w1 = await throughGates(open);
    expect(w1.view).toMatchObject({ state: "new_password", unlockOffered: false });
    expect((await refusal(fx.service.unlock(w1.step()))).code).toBe("FLOW_WRONG_STATE");

    fx.configure({ reset: { disclosure: "guided", unlock: { allow: false } } });
    const locked = await lockedUser();
    const w2 = await throughGates(locked);
    expect(w2.view).toMatchObject({ state: "new_password", unlockOffered: false });
    expect((await refusal(fx.service.unlock(w2.step()))).code).toBe("FLOW_WRONG_STATE");
    expect((await row(locked.id)).locked).toBe(1);
  });

  it("cannot be asked for before the gates are passed", async () => {
    const u = await lockedUser();
    const w = await fx.begin();
    await w.identify(u.username);
    expect((await refusal(fx.service.unlock(w.step()))).code).toBe("FLOW_WRONG_STATE");
    expect((await row(u.id)).locked).toBe(1);
  });

  it("strict mode: up to the gates a locked account looks exactly like an open one and like an unknown name", async () => {
    fx.configure({ reset: { disclosure: "strict" } });
    const locked = await lockedUser();
    const open = await lockedUser({ locked: false });
    const shape = (v: ResetView) => {
      const { flowId: _f, csrf: _c, expiresAt: _e, ...rest } = v;
      return rest;
    };
    const seen: unknown[] = [];
    for (const name of [locked.username, open.username, "nobody-here"]) {
      const w = await fx.begin();
      const identified = shape(await w.identify(name));
      const challenged = shape(await w.challenge("email", EMAIL));
      seen.push({ identified, challenged });
      // Not before the gates, whatever the account.
      expect((await refusal(fx.service.unlock(w.step()))).code).toBe("FLOW_WRONG_STATE");
    }
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[2]).toEqual(seen[0]);
  });
});

describe("a reset of a locked account", () => {
  it("also unlocks it by default, and says so", async () => {
    const u = await lockedUser();
    const w = await throughGates(u);
    const view = await w.password("Quartz-Meadow-Falcon-61");
    expect(view).toMatchObject({ state: "completed", unlocked: true });
    expect((await row(u.id)).locked).toBe(0);
    const reset = await events(view.flowId, "password.reset");
    expect(JSON.parse(reset[0]?.details_json ?? "{}")).toMatchObject({ unlocked: true, afterPending: false });
  });

  it("leaves it locked when reset.unlock.alsoOnReset is off (and the page says a new password does not unlock)", async () => {
    fx.configure({ reset: { disclosure: "guided", unlock: { alsoOnReset: false } } });
    const u = await lockedUser();
    const w = await throughGates(u);
    expect(w.view).toMatchObject({ unlockOffered: true, resetUnlocks: false });
    const view = await w.password("Quartz-Meadow-Falcon-62");
    expect(view).toMatchObject({ state: "completed", unlocked: false });
    expect((await row(u.id)).locked).toBe(1);
  });

  it("passes alsoOnReset to the setter as its unlock flag", async () => {
    const u = await lockedUser({ kind: "synced" });
    const w = await throughGates(u);
    await w.password("Quartz-Meadow-Falcon-63");
    expect(pendingSetter.calls.at(-1)).toMatchObject({ kind: "reset", unlock: true });
    fx.configure({ reset: { disclosure: "guided", unlock: { alsoOnReset: false } } });
    const v = await lockedUser({ kind: "synced" });
    const w2 = await throughGates(v);
    await w2.password("Quartz-Meadow-Falcon-64");
    expect(pendingSetter.calls.at(-1)).toMatchObject({ kind: "reset", unlock: false });
  });
});

describe("completion after pending (synced account)", () => {
  it("a pending reset completes once when its operation applies: sessions revoked, one notice, one audit", async () => {
    const u = await lockedUser({ kind: "synced" });
    const session = await addSession(u);
    const w = await throughGates(u);
    await templates();
    const view = await w.password("Cobalt-Harbor-Wren-35");
    expect(view).toMatchObject({ state: "pending", kind: "reset" });
    const op = pendingSetter.calls.at(-1)?.operationId ?? "";
    // While it runs, nothing of the completion has happened.
    expect(await sessionRevoked(session)).toBe(false);
    expect(await templates()).toEqual([]);
    expect(await events(view.flowId, "reset_flow.completed")).toEqual([]);
    expect((await fx.service.view(fx.tenantNow(), view.flowId, bindingOf(w))).state).toBe("pending");

    const end = { tenantId: u.tenant_id, userId: u.id, operationId: op, end: { status: "applied" } } as const;
    expect(await fx.service.completePending(end)).toBe(true);
    // A second report of the same end (another instance, a retry) finds the flow done and does nothing.
    expect(await fx.service.completePending(end)).toBe(true);
    await Promise.all([fx.service.completePending(end), fx.service.completePending(end)]);

    expect(await flowState(view.flowId)).toBe("completed");
    expect(await sessionRevoked(session)).toBe(true);
    expect((await row(u.id)).locked).toBe(0);
    expect(await templates()).toEqual(["password.reset"]);
    expect(await events(view.flowId, "reset_flow.completed")).toHaveLength(1);
    expect(await events(view.flowId, "sessions.revoked")).toHaveLength(1);
    const reset = await events(view.flowId, "password.reset");
    expect(reset).toHaveLength(1);
    // Recorded with who asked, though the end came without a request.
    expect(reset[0]).toMatchObject({ ip: fx.meta.ip, actor: u.id });
    expect(JSON.parse(reset[0]?.details_json ?? "{}")).toMatchObject({ afterPending: true });
    expect(await fx.service.view(fx.tenantNow(), view.flowId, bindingOf(w))).toMatchObject({
      state: "completed",
      unlocked: true,
    });
  });

  it("a pending unlock that fails ends the flow failed with the directory's sentence; nothing else runs", async () => {
    const u = await lockedUser({ kind: "synced" });
    const session = await addSession(u);
    const w = await throughGates(u);
    await templates();
    const view = await fx.service.unlock(w.step());
    expect(view).toMatchObject({ state: "pending", kind: "unlock" });
    const op = pendingSetter.calls.at(-1)?.operationId ?? "";
    expect(
      await fx.service.completePending({
        tenantId: u.tenant_id,
        userId: u.id,
        operationId: op,
        end: { status: "failed", code: "DIRECTORY_UNAVAILABLE", messageId: "directory.unreachable" },
      }),
    ).toBe(true);
    expect(await fx.service.view(fx.tenantNow(), view.flowId, bindingOf(w))).toMatchObject({
      state: "failed",
      kind: "unlock",
      messageId: "directory.unreachable",
    });
    expect(await events(view.flowId, "reset_flow.failed")).toMatchObject([
      { reason: "DIRECTORY_UNAVAILABLE", target: u.id },
    ]);
    expect(await events(view.flowId, "account.unlocked")).toEqual([]);
    expect((await row(u.id)).locked).toBe(1);
    expect(await sessionRevoked(session)).toBe(false);
    expect(await templates()).toEqual([]);
  });

  it("a pending unlock that applies ends unlocked with one notice", async () => {
    const u = await lockedUser({ kind: "synced" });
    const w = await throughGates(u);
    await templates();
    const view = await fx.service.unlock(w.step());
    const op = pendingSetter.calls.at(-1)?.operationId ?? "";
    const end = { tenantId: u.tenant_id, userId: u.id, operationId: op, end: { status: "applied" } } as const;
    expect(await fx.service.completePending(end)).toBe(true);
    expect(await fx.service.completePending(end)).toBe(true);
    expect(await flowState(view.flowId)).toBe("unlocked");
    expect(await templates()).toEqual(["account.unlocked"]);
    expect(await events(view.flowId, "account.unlocked")).toHaveLength(1);
    expect((await row(u.id)).locked).toBe(0);
  });

  it("an operation that ended while the flow was being saved is settled by the person's own request", async () => {
    const u = await lockedUser({ kind: "synced" });
    const w = await throughGates(u);
    await templates();
    // The setter's next operation has already ended when the service looks (the report found no flow).
    const realReset = pendingSetter.setPassword.bind(pendingSetter);
    pendingSetter.setPassword = async (user, pw, opts) => {
      const r = await realReset(user, pw, opts);
      if (r.ok === "pending") ended.set(r.operationId, { status: "applied" });
      return r;
    };
    try {
      const view = await w.password("Cobalt-Harbor-Wren-36");
      expect(view.state).toBe("completed");
    } finally {
      pendingSetter.setPassword = realReset;
    }
    expect(await templates()).toEqual(["password.reset"]);
  });

  it("an operation no flow waits for is not the reset flow's", async () => {
    const u = await lockedUser({ kind: "synced" });
    expect(
      await fx.service.completePending({
        tenantId: u.tenant_id,
        userId: u.id,
        operationId: "not-a-flow-operation",
        end: { status: "applied" },
      }),
    ).toBe(false);
  });
});

/** The walk's binding cookie value, for reading its view (fixture walks keep it in their step). */
function bindingOf(w: Walk): string | undefined {
  return w.step().binding;
}
