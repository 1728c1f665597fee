/**
 * The agent link against a real server (buildApp on 127.0.0.1:0, the features as `serve` composes
 * them) with real `ws` clients speaking the protocol: authentication, refusals, revocation,
 * heartbeats (registry and store), timeouts, replacement, limits, metrics and restart.
 */
import { generateKeyPairSync } from "node:crypto";
import { PROTOCOL_VERSION } from "@latchkey/protocol";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../../../../test-env/env.js";
import { ManualClock } from "../core/clock.js";
import { newId } from "../core/random.js";
import { revokeAgent } from "./agents.js";
import { CLOSE } from "./link.js";
import { onlineWindowMs, storedAgentsServing } from "./liveness.js";
import { type AgentKeys, generateAgentKeys, TestAgentLink } from "./testing/agent-client.js";
import { type LinkServer, type SharedStore, startLinkServer, testStore } from "./testing/server.js";

const CORP = { id: "corp", dialect: "ad" as const, description: "Samba AD" };
const LAB = { id: "lab", dialect: "openldap" as const, description: "slapd" };

/** Polls `check` until it returns true (deadline 5 s). */
async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const opened: TestAgentLink[] = [];
async function open(s: LinkServer): Promise<TestAgentLink> {
  const l = await TestAgentLink.open(s.baseUrl);
  opened.push(l);
  return l;
}
afterEach(() => {
  for (const l of opened.splice(0)) {
    expect(l.invalid, "every server message matches its schema").toEqual([]);
    if (l.isOpen) l.close();
  }
});

async function agentRow(s: LinkServer, id: string) {
  return s.store.db.selectFrom("agents").selectAll().where("id", "=", id).executeTakeFirstOrThrow();
}

describe("authentication", () => {
  let s: LinkServer;
  beforeAll(async () => {
    s = await startLinkServer();
  });
  afterAll(async () => {
    await s?.close();
  });

  it("challenge → hello → auth → welcome; the registry, the store and the audit know it", async () => {
    const agent = await s.enrollAgent({ name: "dc1" });
    const link = await open(s);
    const welcome = await link.authenticate({ ...agent, version: "2.0.0", directories: [CORP, LAB] });
    expect(welcome).toMatchObject({
      type: "welcome",
      agentId: agent.agentId,
      heartbeatIntervalMs: 15_000,
      directories: ["corp", "lab"],
    });
    const challenge = link.received[0];
    expect(challenge?.type).toBe("challenge");
    if (challenge?.type === "challenge") expect(Buffer.from(challenge.nonce, "base64url")).toHaveLength(32);

    expect(s.link.registry.get(agent.agentId)).toMatchObject({
      name: "dc1",
      version: "2.0.0",
      tenantId: s.tenant.id,
      directories: [CORP, LAB],
      remoteAddress: "127.0.0.1",
    });
    expect(s.link.registry.isServing(s.tenant.id, "corp")).toBe(true);
    expect(s.link.registry.isServing(s.tenant.id, "elsewhere")).toBe(false);
    expect(s.link.registry.isServing("another-tenant", "corp")).toBe(false);
    expect(s.link.registry.serving(s.tenant.id, "lab").map((a) => a.agentId)).toContain(agent.agentId);

    const row = await agentRow(s, agent.agentId);
    expect(row).toMatchObject({ version: "2.0.0", link_instance: s.link.registry.instanceId });
    expect(JSON.parse(row.directories_json)).toEqual([CORP, LAB]);
    const serving = await storedAgentsServing(s.store.db, s.tenant.id, "lab", Date.now());
    expect(serving.map((a) => a.id)).toContain(agent.agentId);
    expect((await s.audit("agent.connected")).at(-1)).toMatchObject({
      target: agent.agentId,
      ip: "127.0.0.1",
    });

    link.close();
    await until(
      "the registry forgets the closed link",
      () => s.link.registry.get(agent.agentId) === undefined,
    );
    await until(
      "the store forgets the link holder",
      async () => (await agentRow(s, agent.agentId)).link_instance === null,
    );
    expect((await s.audit("agent.disconnected")).at(-1)).toMatchObject({ target: agent.agentId });
  });

  /** The refusal every failure gets, and its audit record (found by the claimed agent id). */
  async function expectRefused(link: TestAgentLink, reason: string, claimedId: string, known: boolean) {
    const err = await link.next("error");
    expect(err).toMatchObject({ code: "AUTH_FAILED", message: "authentication failed" });
    expect((await link.waitClosed()).code).toBe(CLOSE.AUTH_FAILED);
    const find = async () =>
      (await s.audit("agent.auth_failed")).find((e) =>
        known ? e.target === claimedId : JSON.parse(e.details_json).claimedAgentId === claimedId,
      );
    await until("the refusal is audited", async () => (await find()) !== undefined);
    expect(await find()).toMatchObject({
      result: "failure",
      reason,
      ip: "127.0.0.1",
      target: known ? claimedId : null,
    });
  }

  it("refuses a forged signature (another key), with the same answer as for an unknown agent", async () => {
    const agent = await s.enrollAgent();
    const link = await open(s);
    const forged: AgentKeys = { ...agent.keys, ed25519Private: generateKeyPairSync("ed25519").privateKey };
    await expect(link.authenticate({ agentId: agent.agentId, keys: forged })).rejects.toThrow(
      /expected welcome/,
    );
    await expectRefused(link, "signature_invalid", agent.agentId, true);
    expect(s.link.registry.get(agent.agentId)).toBeUndefined();
  });

  it("refuses a signature made for another agent id (the payload binds the id)", async () => {
    const a = await s.enrollAgent();
    const b = await s.enrollAgent();
    const link = await open(s);
    // a's key, a signature over b's id: claims b.
    await expect(link.authenticate({ agentId: b.agentId, keys: a.keys })).rejects.toThrow();
    await expectRefused(link, "signature_invalid", b.agentId, true);
  });

  it("refuses a signature over an old challenge (each link has its own nonce)", async () => {
    const agent = await s.enrollAgent();
    const first = await open(s);
    const oldChallenge = await first.next("challenge");
    const link = await open(s);
    await link.next("challenge");
    const { signChallenge } = await import("./testing/agent-client.js");
    link.send({ type: "hello", agentId: agent.agentId, version: "1" });
    link.send({
      type: "auth",
      agentId: agent.agentId,
      signature: signChallenge(agent.keys, oldChallenge.nonce, agent.agentId),
      directories: [],
    });
    await expectRefused(link, "signature_invalid", agent.agentId, true);
  });

  it("refuses an unknown agent", async () => {
    const link = await open(s);
    const id = newId();
    await expect(link.authenticate({ agentId: id, keys: generateAgentKeys() })).rejects.toThrow();
    await expectRefused(link, "agent_unknown", id, false);
  });

  it("refuses a revoked agent at authentication", async () => {
    const agent = await s.enrollAgent();
    expect(await s.link.revoke({ tenantId: s.tenant.id, agentId: agent.agentId })).toBe("revoked");
    const link = await open(s);
    await expect(link.authenticate(agent)).rejects.toThrow();
    await expectRefused(link, "agent_revoked", agent.agentId, true);
  });

  it("a message before auth other than hello/auth: UNEXPECTED_MESSAGE and close", async () => {
    for (const first of [
      { type: "heartbeat", at: 1 },
      {
        type: "sync.batch",
        directoryId: "corp",
        syncId: "s",
        full: true,
        seq: 0,
        final: true,
        users: [],
        deleted: [],
      },
      { type: "auth", agentId: "a", signature: "AA", directories: [] },
    ]) {
      const link = await open(s);
      await link.next("challenge");
      const id = link.send(first);
      expect(await link.next("error")).toMatchObject({ code: "UNEXPECTED_MESSAGE", inReplyTo: id });
      expect((await link.waitClosed()).code).toBe(CLOSE.POLICY);
    }
    // hello twice is unexpected too.
    const link = await open(s);
    await link.next("challenge");
    link.send({ type: "hello", agentId: "a", version: "1" });
    link.send({ type: "hello", agentId: "a", version: "1" });
    expect(await link.next("error")).toMatchObject({ code: "UNEXPECTED_MESSAGE" });
    expect((await link.waitClosed()).code).toBe(CLOSE.POLICY);
  });

  it("a malformed message or another protocol version before auth: error, then close", async () => {
    for (const [raw, code] of [
      ["not json", "MALFORMED_MESSAGE"],
      [JSON.stringify({ v: 2, id: "x", type: "hello", agentId: "a", version: "1" }), "PROTOCOL_VERSION"],
      [JSON.stringify({ v: 1, id: "x", type: "launch" }), "UNKNOWN_MESSAGE"],
    ] as const) {
      const link = await open(s);
      await link.next("challenge");
      link.sendRaw(raw);
      expect(await link.next("error")).toMatchObject({ code });
      expect((await link.waitClosed()).code).toBe(CLOSE.POLICY);
    }
  });

  it("after auth, hello and auth again are unexpected but the link stays", async () => {
    const { link } = await s.connectAgent();
    opened.push(link);
    const id = link.send({ type: "hello", agentId: "x", version: "1" });
    expect(await link.next("error")).toMatchObject({ code: "UNEXPECTED_MESSAGE", inReplyTo: id });
    expect(link.isOpen).toBe(true);
  });

  it("a newer link of the same agent replaces the older one (4009)", async () => {
    const agent = await s.enrollAgent();
    const first = await open(s);
    await first.authenticate({ ...agent, directories: [CORP] });
    const second = await open(s);
    await second.authenticate({ ...agent, directories: [CORP] });
    expect((await first.waitClosed()).code).toBe(CLOSE.REPLACED);
    expect(s.link.registry.get(agent.agentId)).toBeDefined();
    // The old link's close does not erase the new holder from the store.
    await new Promise((r) => setTimeout(r, 100));
    expect((await agentRow(s, agent.agentId)).link_instance).toBe(s.link.registry.instanceId);
    expect(second.isOpen).toBe(true);
  });

  it("serves /metrics: agents online by directory, heartbeats", async () => {
    const { link } = await s.connectAgent({
      directories: [{ id: "metrics-dir", dialect: "ad", description: "" }],
    });
    opened.push(link);
    link.heartbeat();
    await until("the heartbeat is counted", async () => {
      const text = await (await fetch(`${s.baseUrl}/metrics`)).text();
      return /^latchkey_agent_heartbeats_total [1-9]/m.test(text);
    });
    const text = await (await fetch(`${s.baseUrl}/metrics`)).text();
    expect(text).toMatch(/^latchkey_agents_online\{directory="metrics-dir"\} 1$/m);
  });
});

describe("directories an agent may serve", () => {
  it("a bound agent serves only its directory; configured directories limit every agent", async () => {
    const s = await startLinkServer({ directories: ["corp", "lab"] });
    try {
      const bound = await s.connectAgent({ directoryId: "corp", directories: [CORP, LAB] });
      opened.push(bound.link);
      expect(bound.link.received.find((m) => m.type === "welcome")).toMatchObject({ directories: ["corp"] });
      const free = await s.connectAgent({
        directories: [LAB, { id: "rogue", dialect: "ad", description: "" }, LAB],
      });
      opened.push(free.link);
      expect(free.link.received.find((m) => m.type === "welcome")).toMatchObject({ directories: ["lab"] });
      expect(s.logLines().some((l) => l.includes("announced directories it may not serve"))).toBe(true);
    } finally {
      await s.close();
    }
  });
});

describe("heartbeats, silence and timeouts (manual clock)", () => {
  const clock = new ManualClock(Date.now());
  let s: LinkServer;
  beforeAll(async () => {
    s = await startLinkServer({
      clock,
      link: { heartbeatIntervalMs: 1_000, heartbeatWriteEveryMs: 5_000, authTimeoutMs: 2_000 },
    });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("every heartbeat updates the registry; the store at most once per write interval", async () => {
    const t0 = clock.now();
    const { agentId, link } = await s.connectAgent();
    opened.push(link);
    expect((await agentRow(s, agentId)).last_heartbeat_at).toBe(t0);

    clock.advance(1_000);
    link.heartbeat();
    await until(
      "registry sees the heartbeat",
      () => s.link.registry.get(agentId)?.lastHeartbeatAt === t0 + 1_000,
    );
    clock.advance(1_000);
    link.heartbeat();
    await until(
      "registry sees the 2nd heartbeat",
      () => s.link.registry.get(agentId)?.lastHeartbeatAt === t0 + 2_000,
    );
    expect((await agentRow(s, agentId)).last_heartbeat_at).toBe(t0); // throttled

    clock.advance(3_000);
    link.heartbeat();
    await until("store sees the heartbeat after the write interval", async () => {
      return (await agentRow(s, agentId)).last_heartbeat_at === t0 + 5_000;
    });
    expect(s.link.registry.get(agentId)?.lastHeartbeatAt).toBe(t0 + 5_000);
  });

  it("a link silent for 3 intervals is closed (4008); one that keeps talking is not", async () => {
    const quiet = await s.connectAgent();
    const chatty = await s.connectAgent();
    opened.push(quiet.link, chatty.link);
    for (let i = 0; i < 4; i++) {
      clock.advance(900);
      chatty.link.heartbeat();
      await until(
        "chatty heartbeat seen",
        () => s.link.registry.get(chatty.agentId)?.lastHeartbeatAt === clock.now(),
      );
    }
    expect((await quiet.link.waitClosed()).code).toBe(CLOSE.TIMEOUT);
    expect(quiet.link.closeInfo?.reason).toBe("heartbeat timeout");
    expect(chatty.link.isOpen).toBe(true);
    await until(
      "the registry forgets the silent link",
      () => s.link.registry.get(quiet.agentId) === undefined,
    );
  });

  it("a link that does not authenticate in time is closed (4008)", async () => {
    const link = await open(s);
    await link.next("challenge");
    clock.advance(2_001);
    expect(await link.waitClosed()).toEqual({ code: CLOSE.TIMEOUT, reason: "authentication timeout" });
  });

  it("the store says online within the window, offline after it", async () => {
    const { agentId, link } = await s.connectAgent();
    opened.push(link);
    const timings = { heartbeatIntervalMs: 1_000, heartbeatWriteEveryMs: 5_000 };
    const serving = (at: number) => storedAgentsServing(s.store.db, s.tenant.id, "corp", at, timings);
    expect((await serving(clock.now())).map((a) => a.id)).toContain(agentId);
    expect((await serving(clock.now() + onlineWindowMs(timings) + 1)).map((a) => a.id)).not.toContain(
      agentId,
    );
  });
});

describe("revocation", () => {
  let s: LinkServer;
  beforeAll(async () => {
    s = await startLinkServer();
  });
  afterAll(async () => {
    await s?.close();
  });

  it("revoking on this instance closes the live link at once (AGENT_REVOKED, 4003)", async () => {
    const { agentId, link } = await s.connectAgent();
    opened.push(link);
    expect(await s.link.revoke({ tenantId: s.tenant.id, agentId, actor: "test" })).toBe("revoked");
    expect(await link.next("error")).toMatchObject({ code: "AGENT_REVOKED" });
    expect(await link.waitClosed()).toEqual({ code: CLOSE.REVOKED, reason: "agent revoked" });
    await until("the registry forgets the revoked link", () => s.link.registry.get(agentId) === undefined);
    expect((await s.audit("agent.revoked")).at(-1)).toMatchObject({ target: agentId, actor: "test" });
    expect(await s.link.revoke({ tenantId: s.tenant.id, agentId })).toBe("already_revoked");
    expect(await s.link.revoke({ tenantId: s.tenant.id, agentId: "nope" })).toBe("unknown");
  });

  it("a revocation written to the store by another process closes the link at its next heartbeat", async () => {
    const { agentId, link } = await s.connectAgent();
    opened.push(link);
    await revokeAgent(
      { db: s.store.db, clock: s.clock, audit: { emit: async () => {} } },
      { tenantId: s.tenant.id, agentId },
    );
    expect(link.isOpen).toBe(true);
    link.heartbeat();
    expect(await link.next("error")).toMatchObject({ code: "AGENT_REVOKED" });
    expect((await link.waitClosed()).code).toBe(CLOSE.REVOKED);
  });
});

describe("several instances on one PostgreSQL store", () => {
  let shared: SharedStore;
  let a: LinkServer;
  let b: LinkServer;
  beforeAll(async () => {
    shared = await testStore(await createTestDatabase());
    a = await startLinkServer({ shared });
    b = await startLinkServer({ shared });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await shared?.dispose();
  });

  it("each instance knows its own links; the store knows all; a revocation on one closes the link on the other", async () => {
    const onA = await a.connectAgent({ directories: [CORP] });
    const onB = await b.connectAgent({ agent: await a.enrollAgent(), directories: [LAB] });
    opened.push(onA.link, onB.link);
    expect(a.link.registry.get(onA.agentId)).toBeDefined();
    expect(a.link.registry.get(onB.agentId)).toBeUndefined();
    expect(b.link.registry.isServing(a.tenant.id, "lab")).toBe(true);
    expect(b.link.registry.isServing(a.tenant.id, "corp")).toBe(false);
    const corp = await storedAgentsServing(shared.store.db, a.tenant.id, "corp", Date.now());
    expect(corp.map((x) => [x.id, x.linkInstance])).toContainEqual([onA.agentId, a.link.registry.instanceId]);

    // Revoked through B, which holds no link for it: A notices at the agent's next heartbeat.
    expect(await b.link.revoke({ tenantId: a.tenant.id, agentId: onA.agentId })).toBe("revoked");
    onA.link.heartbeat();
    expect((await onA.link.waitClosed()).code).toBe(CLOSE.REVOKED);
    expect(onB.link.isOpen).toBe(true);
  });
});

describe("limits", () => {
  it("closes a link that sends faster than its rate (RATE_LIMITED, 4029); the server stays up", async () => {
    const s = await startLinkServer({ link: { messagesPerSecond: 5, messageBurst: 10 } });
    try {
      const { link } = await s.connectAgent();
      for (let i = 0; i < 30; i++) link.heartbeat();
      expect(await link.next("error")).toMatchObject({ code: "RATE_LIMITED" });
      expect((await link.waitClosed()).code).toBe(CLOSE.RATE_LIMITED);
      const again = await s.connectAgent();
      expect(again.link.isOpen).toBe(true);
      again.link.close();
    } finally {
      await s.close();
    }
  });

  it("answers the server asked for (op.result to its op.request) do not spend the rate; unasked messages still do", async () => {
    const s = await startLinkServer({ link: { messagesPerSecond: 5, messageBurst: 10 } });
    try {
      const { agentId, link } = await s.connectAgent();
      const live = s.link.registry.link(agentId);
      if (!live) throw new Error("not linked");
      for (let i = 0; i < 30; i++) {
        const sent = live.send({
          v: PROTOCOL_VERSION,
          id: `req-${i}`,
          type: "op.request",
          opId: `op-${i}`,
          kind: "unlock",
          tenantId: s.tenant.id,
          directoryId: "corp",
          anchor: "33333333-0000-4000-8000-000000000001",
          dn: null,
          options: { unlock: false, mustChange: false },
          sealed: null,
          deadline: Date.now() + 60_000,
        });
        expect(sent).toBe(true);
        const m = await link.next("op.request");
        link.send({
          type: "op.result",
          opId: m.opId,
          outcome: "applied",
          applied: false,
          code: null,
          diagnostic: null,
          fromCache: false,
        });
      }
      // Three times the burst, all answered: still open — a sync batch after them is acknowledged
      // (the link handles its messages in order, so every op.result was handled before it).
      const ack = await link.sync({
        directoryId: "corp",
        syncId: "after-answers",
        full: false,
        seq: 0,
        final: true,
        users: [],
      });
      expect(ack.type).toBe("sync.ack");
      expect(link.isOpen).toBe(true);
      for (let i = 0; i < 30; i++) link.heartbeat();
      expect(await link.next("error")).toMatchObject({ code: "RATE_LIMITED" });
      expect((await link.waitClosed()).code).toBe(CLOSE.RATE_LIMITED);
    } finally {
      await s.close();
    }
  });

  it("closes a link that sends an oversize message (1009); the server stays up", async () => {
    const s = await startLinkServer({ link: { maxMessageBytes: 64 * 1024 } });
    try {
      const { link } = await s.connectAgent();
      link.sendRaw("x".repeat(64 * 1024 + 1));
      expect((await link.waitClosed()).code).toBe(1009);
      const again = await s.connectAgent();
      expect(again.link.isOpen).toBe(true);
      again.link.close();
      expect((await fetch(`${s.baseUrl}/healthz`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

describe("store failures", () => {
  it("a batch the store cannot apply is answered INTERNAL naming it; the link and the server stay up", async () => {
    const s = await startLinkServer();
    try {
      const { link } = await s.connectAgent();
      opened.push(link);
      await s.store.db.schema.dropTable("sync_passes").execute();
      const answer = await link.sync({
        directoryId: "corp",
        syncId: "doomed",
        full: true,
        seq: 0,
        final: true,
      });
      expect(answer).toMatchObject({ type: "error", code: "INTERNAL" });
      expect(link.isOpen).toBe(true);
      expect(s.logLines().some((l) => l.includes('"sync batch failed"'))).toBe(true);
      link.heartbeat();
      const other = await s.connectAgent();
      opened.push(other.link);
      expect((await fetch(`${s.baseUrl}/healthz`)).status).toBe(200);
    } finally {
      await s.close();
    }
  });
});

describe("server restart", () => {
  it("closing the app closes links with 1012 'service restart'; the agent reconnects to the next server", async () => {
    const shared = await testStore();
    try {
      const first = await startLinkServer({ shared });
      const agent = await first.enrollAgent();
      const link = await TestAgentLink.open(first.baseUrl);
      await link.authenticate({ ...agent, directories: [CORP] });
      await first.close();
      expect(await link.waitClosed()).toEqual({ code: 1012, reason: "service restart" });
      expect(
        (
          await first.store.db
            .selectFrom("agents")
            .select("link_instance")
            .where("id", "=", agent.agentId)
            .executeTakeFirstOrThrow()
        ).link_instance,
      ).toBeNull();

      const second = await startLinkServer({ shared });
      try {
        const again = await TestAgentLink.open(second.baseUrl);
        const welcome = await again.authenticate({ ...agent, directories: [CORP] });
        expect(welcome.agentId).toBe(agent.agentId);
        expect(second.link.registry.get(agent.agentId)).toBeDefined();
        again.close();
      } finally {
        await second.close();
      }
    } finally {
      await shared.dispose();
    }
  });
});
