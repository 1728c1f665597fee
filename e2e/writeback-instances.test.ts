/**
 * Writeback across server instances: two real Latchkey servers (startLinkServer, as `serve` composes
 * them) share one store — a PostgreSQL test database (LISTEN/NOTIFY between them), and a SQLite file
 * (two instances in one process, woken in memory). The agent — the agent's own OperationHandler and
 * DirectoryOperator behind a `ws` link, writing to the test environment's slapd — is linked to
 * instance B only. A reset submitted on instance A is handed over through the operation's row, claimed
 * and sent by B, applied in slapd (the new password binds, the old one fails) and answered on A.
 * Then the failure path: an agent on B that dies with the operation in hand leaves A's person with
 * a clear failure (OUTCOME_UNKNOWN), never silence.
 *
 * The poll fallback is set to a minute, far beyond the claim wait (2 s): an attempt that was not
 * woken through the bus would be taken back unclaimed and end NO_AGENT, so "applied" proves the
 * wake-up (PostgreSQL NOTIFY) worked.
 */
import type { OpRequest } from "@latchkey/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OperationHandler } from "../packages/agent/src/operations/handler.js";
import { anchorOf, testOperators, tryBind } from "../packages/agent/src/testing/operations.js";
import {
  syncedUser,
  type TestAgentLink,
} from "../packages/server/src/directory-link/testing/agent-client.js";
import {
  type LinkServer,
  type SharedStore,
  sqliteDatabase,
  startLinkServer,
  testStore,
} from "../packages/server/src/directory-link/testing/server.js";
import type { User } from "../packages/server/src/store/schema.js";
import type { WritebackService } from "../packages/server/src/writeback/service.js";
import { type CreatedUser, createOpenLdapUser, createTestDatabase, getTestEnv } from "../test-env/env.js";
import { answerOperations } from "./harness/agent-link.js";

const env = getTestEnv();

describe.each(["postgres", "sqlite"] as const)("writeback across two instances (%s)", (engine) => {
  let shared: SharedStore;
  let a: LinkServer;
  let b: LinkServer;
  let wbA: WritebackService;
  const links: TestAgentLink[] = [];
  const created: CreatedUser[] = [];
  let seq = 0;

  beforeAll(async () => {
    shared = await testStore(engine === "postgres" ? await createTestDatabase() : sqliteDatabase());
    const writeback = {
      pendingAfterMs: 10_000,
      attemptDeadlineMs: 5_000,
      answerGraceMs: 1_000,
      reconnectWaitMs: 300,
      claimWaitMs: 2_000,
      pollMs: 60_000,
      agentsRefreshMs: 200,
    };
    a = await startLinkServer({ shared, writeback });
    b = await startLinkServer({ shared, writeback });
    const w = a.features.portal.writeback;
    if (!w) throw new Error("no writeback service on A");
    wbA = w;
    // The agent enrolls and links through B; A never sees it but in the store.
    const agent = await b.enrollAgent();
    const handler = new OperationHandler({
      sealingKey: agent.keys.x25519Private,
      directories: testOperators(env),
    });
    const { link } = await b.connectAgent({
      agent,
      directories: [{ id: "corp-ol", dialect: "openldap", description: "slapd" }],
    });
    links.push(link);
    answerOperations(link, handler);
  });

  afterAll(async () => {
    for (const l of links) l.close();
    await a?.close();
    await b?.close();
    await shared?.dispose();
    for (const u of created) await u.remove().catch(() => {});
  });

  /** The store's row for the synced account with this anchor. */
  function userByAnchor(anchor: string): Promise<User> {
    return shared.store.db
      .selectFrom("users")
      .selectAll()
      .where("source_anchor", "=", anchor)
      .executeTakeFirstOrThrow();
  }

  /** The writeback operation's row as the store holds it. */
  function operationRow(id: string) {
    return shared.store.db
      .selectFrom("writeback_operations")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
  }

  async function synced(link: TestAgentLink, u: CreatedUser): Promise<User> {
    const anchor = await anchorOf(env, "openldap", u.dn);
    seq += 1;
    const ack = await link.sync({
      directoryId: "corp-ol",
      syncId: `wb-inst-${engine}-${seq}`,
      full: false,
      seq: 0,
      final: true,
      users: [syncedUser(anchor, u.username, { dn: u.dn, mail: u.mail })],
    });
    if (ack.type !== "sync.ack") throw new Error(JSON.stringify(ack));
    return userByAnchor(anchor);
  }

  it("a reset submitted on A reaches slapd through the agent linked to B: the new password binds", async () => {
    const u = await createOpenLdapUser();
    created.push(u);
    const [link] = links;
    if (!link) throw new Error("no agent link");
    const user = await synced(link, u);
    expect(a.link.registry.size).toBe(0);
    await wbA.ready();
    // Eligibility on A counts the agent B holds.
    expect(wbA.canServe(user)).toBe(true);

    const next = "Relay-Across-Instances-7!";
    const out = await wbA.submit({
      tenantId: a.tenant.id,
      user,
      kind: "reset",
      secrets: { newPassword: next },
    });
    expect(out).toMatchObject({ status: "applied" });
    if (out.status !== "applied") throw new Error("not applied");
    // Handed over: the agent's own timings, B's round trip and A's relay time.
    expect(out.timings?.relayMs).toBeGreaterThan(0);
    expect(out.timings?.directoryMs).toBeGreaterThan(0);
    expect(await tryBind(env, "openldap", u.dn, next)).toBe("ok");
    expect(await tryBind(env, "openldap", u.dn, u.password)).not.toBe("ok");

    const row = await operationRow(out.operationId);
    expect(row).toMatchObject({
      state: "succeeded",
      attempts: 1,
      claimed_by: b.link.registry.instanceId,
      sealed_payload: null,
      attempt_request: null,
      attempt_result: null,
    });
    const applied = await a.audit("writeback.applied");
    expect(applied.some((e) => e.details_json.includes(out.operationId))).toBe(true);
  });

  it("the agent on B dies with the reset in hand: A's person is told it failed (OUTCOME_UNKNOWN), not left waiting", async () => {
    // A second agent on B that takes the operation and dies before answering.
    const dying = await b.connectAgent({
      directories: [{ id: "corp-dying", dialect: "openldap", description: "dies" }],
    });
    links.push(dying.link);
    const got: OpRequest[] = [];
    void (async () => {
      try {
        got.push(await dying.link.next("op.request", 60_000));
        dying.link.ws.terminate();
      } catch {
        // closed
      }
    })();
    seq += 1;
    const anchor = `55555555-0000-4000-8000-${String(seq).padStart(12, "0")}`;
    const ack = await dying.link.sync({
      directoryId: "corp-dying",
      syncId: `wb-inst-dying-${engine}-${seq}`,
      full: false,
      seq: 0,
      final: true,
      users: [syncedUser(anchor, `Dying.User${engine}${seq}`, { mail: `dying${seq}@contoso.test` })],
    });
    if (ack.type !== "sync.ack") throw new Error(JSON.stringify(ack));
    const user = await userByAnchor(anchor);
    await wbA.ready();
    expect(wbA.canServe(user)).toBe(true);

    const out = await wbA.submit({
      tenantId: a.tenant.id,
      user,
      kind: "reset",
      secrets: { newPassword: "Never-Confirmed-Pass-8!" },
    });
    expect(got).toHaveLength(1);
    expect(out).toMatchObject({ status: "failed", code: "OUTCOME_UNKNOWN" });
    const row = await operationRow(out.operationId);
    expect(row).toMatchObject({ state: "failed", result_code: "OUTCOME_UNKNOWN", sealed_payload: null });
    expect(row.completed_at).not.toBeNull();
    const failed = await a.audit("writeback.failed");
    expect(failed.some((e) => e.details_json.includes(out.operationId))).toBe(true);
  });
  it("an attempt queued for an instance that never claims it is taken back after claimWaitMs and ends NO_AGENT (never sent)", async () => {
    // An agent whose row says it is linked to an instance that is gone (crashed, heartbeat still fresh).
    const ghost = await b.connectAgent({
      directories: [{ id: "corp-ghost", dialect: "openldap", description: "ghost" }],
    });
    seq += 1;
    const anchor = `66666666-0000-4000-8000-${String(seq).padStart(12, "0")}`;
    const ack = await ghost.link.sync({
      directoryId: "corp-ghost",
      syncId: `wb-inst-ghost-${engine}-${seq}`,
      full: false,
      seq: 0,
      final: true,
      users: [syncedUser(anchor, `Ghost.User${engine}${seq}`, { mail: `ghost${seq}@contoso.test` })],
    });
    if (ack.type !== "sync.ack") throw new Error(JSON.stringify(ack));
    ghost.link.close();
    await ghost.link.waitClosed();
    // B released the link in the store; the crashed instance "ghost" would not have.
    const released = async () =>
      (
        await shared.store.db
          .selectFrom("agents")
          .select("link_instance")
          .where("id", "=", ghost.agentId)
          .executeTakeFirstOrThrow()
      ).link_instance === null;
    for (let i = 0; i < 100 && !(await released()); i++) await new Promise((r) => setTimeout(r, 20));
    await shared.store.db
      .updateTable("agents")
      .set({ link_instance: "ghost-instance", last_heartbeat_at: Date.now() })
      .where("id", "=", ghost.agentId)
      .execute();
    const user = await userByAnchor(anchor);
    await wbA.ready();
    expect(wbA.canServe(user)).toBe(true);

    const out = await wbA.submit({
      tenantId: a.tenant.id,
      user,
      kind: "reset",
      secrets: { newPassword: "Never-Claimed-Pass-9!" },
    });
    expect(out).toMatchObject({ status: "failed", code: "NO_AGENT" });
    const row = await operationRow(out.operationId);
    // Taken back once, and that agent not tried again (its instance never claims anything).
    expect(row).toMatchObject({
      state: "failed",
      result_code: "NO_AGENT",
      attempts: 1,
      attempt_state: "lost",
      claimed_by: null,
      sealed_payload: null,
    });
  });

  it("the stale-row sweep keeps an answer another instance wrote when the submitting instance died", async () => {
    const user = await shared.store.db
      .selectFrom("users")
      .selectAll()
      .where("tenant_id", "=", a.tenant.id)
      .executeTakeFirstOrThrow();
    const old = Date.now() - 3_600_000;
    const id = `dead-submitter-${engine}`;
    await shared.store.db
      .insertInto("writeback_operations")
      .values({
        id,
        tenant_id: a.tenant.id,
        type: "reset",
        user_id: user.id,
        target_anchor: user.source_anchor ?? "",
        directory_id: user.directory_id,
        agent_id: "some-agent",
        state: "claimed",
        sealed_payload: null,
        result_code: null,
        attempts: 1,
        created_at: old,
        updated_at: old,
        completed_at: null,
        attempt_state: "answered",
        claimed_by: b.link.registry.instanceId,
        attempt_request: null,
        attempt_result: JSON.stringify({
          kind: "result",
          roundTripMs: 1.5,
          result: {
            v: 1,
            id: "m1",
            type: "op.result",
            opId: id,
            outcome: "refused",
            applied: false,
            code: "PASSWORD_TOO_SHORT",
            diagnostic: "too short",
            fromCache: false,
          },
        }),
      })
      .execute();
    expect(await wbA.recoverStale(60_000)).toBeGreaterThanOrEqual(1);
    const row = await shared.store.db
      .selectFrom("writeback_operations")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ state: "failed", result_code: "PASSWORD_TOO_SHORT", attempt_result: null });
    const refused = await a.audit("writeback.refused");
    expect(
      refused.some((e) => e.details_json.includes(id) && e.details_json.includes('"recovered":true')),
    ).toBe(true);
  });
});
