/**
 * The one `load` every step reads its flow through: binding, tenant, expiry, CSRF and state, checked
 * in that order with the documented error codes; and `save`, which follows the state machine and
 * refuses a concurrent update.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ManualClock } from "../../core/clock.js";
import { isLatchkeyError, type LatchkeyError } from "../../core/errors.js";
import { cryptoRandom } from "../../core/random.js";
import { createFixture, type Fixture } from "../../methods/testing/fixtures.js";
import { hashBinding, ResetFlowRepository } from "./flow-repository.js";

const LIFETIME = 15 * 60_000;
let fx: Fixture;
let repo: ResetFlowRepository;
let clock: ManualClock;

beforeAll(async () => {
  fx = await createFixture();
  clock = fx.clock;
  repo = new ResetFlowRepository(fx.store.db, clock, cryptoRandom);
});
afterAll(async () => {
  await fx.close();
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (isLatchkeyError(e)) return e.code;
    throw e;
  }
  return "OK";
}

describe("ResetFlowRepository.load", () => {
  it("returns the flow with the right binding, CSRF token and state", async () => {
    const { flow, binding } = await repo.create(fx.tenant.id, LIFETIME);
    const loaded = await repo.load(fx.tenant.id, flow.id, {
      binding,
      allowed: ["identify"],
      csrf: flow.csrfToken,
    });
    expect(loaded).toMatchObject({ id: flow.id, state: "identify", phantom: false, userId: null });
    // Only the hash of the binding is stored.
    const row = await fx.store.db
      .selectFrom("flows")
      .selectAll()
      .where("id", "=", flow.id)
      .executeTakeFirst();
    expect(row?.binding_hash).toBe(hashBinding(binding));
    expect(JSON.stringify(row)).not.toContain(binding);
  });

  it("wrong, missing or foreign binding, unknown id or other tenant → FLOW_NOT_FOUND", async () => {
    const { flow, binding } = await repo.create(fx.tenant.id, LIFETIME);
    const other = await repo.create(fx.tenant.id, LIFETIME);
    const opts = { allowed: ["identify"] as const, csrf: flow.csrfToken };
    expect(await codeOf(repo.load(fx.tenant.id, flow.id, { ...opts, binding: `${binding}x` }))).toBe(
      "FLOW_NOT_FOUND",
    );
    expect(await codeOf(repo.load(fx.tenant.id, flow.id, { ...opts, binding: undefined }))).toBe(
      "FLOW_NOT_FOUND",
    );
    expect(await codeOf(repo.load(fx.tenant.id, flow.id, { ...opts, binding: other.binding }))).toBe(
      "FLOW_NOT_FOUND",
    );
    expect(await codeOf(repo.load(fx.tenant.id, "no-such-flow", { ...opts, binding }))).toBe(
      "FLOW_NOT_FOUND",
    );
    expect(await codeOf(repo.load("other-tenant", flow.id, { ...opts, binding }))).toBe("FLOW_NOT_FOUND");
  });

  it("at and after its expiry → FLOW_EXPIRED (even with a wrong CSRF token), a millisecond before → loads", async () => {
    const { flow, binding } = await repo.create(fx.tenant.id, LIFETIME);
    const opts = { binding, allowed: ["identify"] as const, csrf: flow.csrfToken };
    clock.advance(LIFETIME - 1);
    expect(await codeOf(repo.load(fx.tenant.id, flow.id, opts))).toBe("OK");
    clock.advance(1);
    expect(await codeOf(repo.load(fx.tenant.id, flow.id, opts))).toBe("FLOW_EXPIRED");
    expect(await codeOf(repo.load(fx.tenant.id, flow.id, { ...opts, csrf: "wrong" }))).toBe("FLOW_EXPIRED");
    // An expired flow is still not found for a wrong binding: the id alone tells nothing.
    expect(await codeOf(repo.load(fx.tenant.id, flow.id, { ...opts, binding: "x" }))).toBe("FLOW_NOT_FOUND");
  });

  it("wrong or empty CSRF token on a write → CSRF_MISMATCH; a read passes no token", async () => {
    const { flow, binding } = await repo.create(fx.tenant.id, LIFETIME);
    const opts = { binding, allowed: ["identify"] as const };
    expect(await codeOf(repo.load(fx.tenant.id, flow.id, { ...opts, csrf: "wrong" }))).toBe("CSRF_MISMATCH");
    expect(await codeOf(repo.load(fx.tenant.id, flow.id, { ...opts, csrf: "" }))).toBe("CSRF_MISMATCH");
    expect(await codeOf(repo.load(fx.tenant.id, flow.id, { ...opts, csrf: `${flow.csrfToken}x` }))).toBe(
      "CSRF_MISMATCH",
    );
    expect(await codeOf(repo.load(fx.tenant.id, flow.id, opts))).toBe("OK");
  });

  it("a state the step does not accept → FLOW_WRONG_STATE, naming the state", async () => {
    const { flow, binding } = await repo.create(fx.tenant.id, LIFETIME);
    const err = await repo
      .load(fx.tenant.id, flow.id, { binding, allowed: ["verify", "new_password"], csrf: flow.csrfToken })
      .catch((e: LatchkeyError) => e);
    expect(err).toMatchObject({ code: "FLOW_WRONG_STATE", context: { state: "identify" } });
  });
});

describe("ResetFlowRepository.save", () => {
  it("follows the state machine and keeps the fields", async () => {
    const { flow, binding } = await repo.create(fx.tenant.id, LIFETIME);
    const saved = await repo.save(
      { ...flow, userId: fx.user.id, phantom: true, context: { identifier: "alice", requiredGates: 2 } },
      "verify",
    );
    expect(saved.state).toBe("verify");
    const loaded = await repo.load(fx.tenant.id, flow.id, { binding, allowed: ["verify"] });
    expect(loaded).toMatchObject({
      userId: fx.user.id,
      phantom: true,
      context: { identifier: "alice", requiredGates: 2 },
    });
    expect(await codeOf(repo.save(loaded, "identify"))).toBe("FLOW_WRONG_STATE");
    expect(await codeOf(repo.save(loaded, "completed"))).toBe("FLOW_WRONG_STATE");
  });

  it("refuses to advance a flow that moved on since it was loaded (two concurrent requests)", async () => {
    const { flow, binding } = await repo.create(fx.tenant.id, LIFETIME);
    const a = await repo.load(fx.tenant.id, flow.id, { binding, allowed: ["identify"] });
    const b = await repo.load(fx.tenant.id, flow.id, { binding, allowed: ["identify"] });
    await repo.save(a, "verify");
    expect(await codeOf(repo.save(b, "blocked"))).toBe("FLOW_WRONG_STATE");
    expect((await repo.load(fx.tenant.id, flow.id, { binding, allowed: ["verify"] })).state).toBe("verify");
  });

  it("purges flows past their expiry", async () => {
    const { flow } = await repo.create(fx.tenant.id, LIFETIME);
    clock.advance(LIFETIME + 1);
    expect(await repo.purgeExpired()).toBeGreaterThanOrEqual(1);
    const left = await fx.store.db.selectFrom("flows").select("id").where("id", "=", flow.id).execute();
    expect(left).toEqual([]);
  });
});
