/**
 * Enrollment against a real server (buildApp on 127.0.0.1:0) over HTTP: a token works once,
 * expired / reused / unknown tokens get the same 401, concurrent use of one token enrolls exactly
 * one agent, the keys are checked, the token never reaches the store, the log or the audit.
 */
import { AGENT_ENROLL_PATH } from "@latchkey/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../../../../test-env/env.js";
import { ManualClock } from "../core/clock.js";
import { createEnrollmentToken, MAX_TOKEN_TTL_MS, tokenHash } from "./enrollment.js";
import { enroll, generateAgentKeys } from "./testing/agent-client.js";
import { type LinkServer, startLinkServer } from "./testing/server.js";

describe.each(["sqlite", "postgres"] as const)("agent enrollment (%s)", (engine) => {
  let s: LinkServer;
  const clock = new ManualClock(Date.now());

  beforeAll(async () => {
    s = await startLinkServer({
      ...(engine === "postgres" ? { database: await createTestDatabase() } : {}),
      clock,
      link: { enrollPerMinute: 1000 },
    });
  });
  afterAll(async () => {
    await s?.close();
  });

  const refusal = { error: { code: "ENROLL_TOKEN_INVALID", messageId: "error.verification_failed" } };

  it("enrolls once with a fresh token, stores the public keys and only the token's hash", async () => {
    const token = await s.token({ directoryId: "corp" });
    const keys = generateAgentKeys();
    const r = await enroll(s.baseUrl, token, keys, { name: "dc1-agent", version: "1.2.3" });
    expect(r.status).toBe(201);
    expect(r.enrolled).toEqual({
      agentId: expect.any(String),
      tenantId: s.tenant.id,
      linkPath: "/api/v1/agents/link",
    });
    const agent = await s.store.db
      .selectFrom("agents")
      .selectAll()
      .where("id", "=", r.enrolled?.agentId ?? "")
      .executeTakeFirstOrThrow();
    expect(agent).toMatchObject({
      tenant_id: s.tenant.id,
      name: "dc1-agent",
      version: "1.2.3",
      directory_id: "corp",
      ed25519_public: keys.ed25519Public,
      x25519_public: keys.x25519Public,
      revoked_at: null,
    });
    const tokens = await s.store.db.selectFrom("agent_enrollment_tokens").selectAll().execute();
    const row = tokens.find((t) => t.token_hash === tokenHash(token));
    expect(row?.used_at).toBe(clock.now());
    // The token itself is nowhere: not in any table, the log or the audit details.
    const everything = JSON.stringify(
      await s.store.db.selectFrom("agent_enrollment_tokens").selectAll().execute(),
    );
    expect(everything).not.toContain(token);
    expect(s.logLines().join("\n")).not.toContain(token);
    expect(JSON.stringify(await s.audit())).not.toContain(token);
    const enrolled = await s.audit("agent.enrolled");
    expect(enrolled.at(-1)).toMatchObject({ result: "success", target: r.enrolled?.agentId });
  });

  it("refuses a reused, an expired and an unknown token with the same answer, and audits each", async () => {
    const before = (await s.audit("agent.enroll_failed")).length;
    const used = await s.token();
    expect((await enroll(s.baseUrl, used, generateAgentKeys())).status).toBe(201);
    const reused = await enroll(s.baseUrl, used, generateAgentKeys());

    const expiring = await s.token({ ttlMs: 60_000 });
    clock.advance(60_001);
    const expired = await enroll(s.baseUrl, expiring, generateAgentKeys());
    const unknown = await enroll(s.baseUrl, "A".repeat(43), generateAgentKeys());

    for (const r of [reused, expired, unknown]) {
      expect(r.status).toBe(401);
      expect(r.body).toEqual(refusal);
    }
    const failed = await s.audit("agent.enroll_failed");
    expect(failed.length - before).toBe(3);
    expect(failed.at(-1)).toMatchObject({ result: "failure", reason: "token_invalid", ip: "127.0.0.1" });
  });

  it("a token one millisecond before its expiry still works", async () => {
    const token = await s.token({ ttlMs: 60_000 });
    clock.advance(59_999);
    expect((await enroll(s.baseUrl, token, generateAgentKeys())).status).toBe(201);
  });

  it("concurrent use of one token enrolls exactly one agent", async () => {
    const token = await s.token();
    const countAgents = async () =>
      Number(
        (
          await s.store.db
            .selectFrom("agents")
            .select((eb) => eb.fn.countAll().as("n"))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const before = await countAgents();
    const results = await Promise.all(
      Array.from({ length: 12 }, () => enroll(s.baseUrl, token, generateAgentKeys())),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    expect(results.filter((r) => r.status === 401)).toHaveLength(11);
    expect(await countAgents()).toBe(before + 1);
  });

  it("refuses malformed requests and keys that are not keys, without using the token", async () => {
    const token = await s.token();
    const post = (body: unknown) =>
      fetch(`${s.baseUrl}${AGENT_ENROLL_PATH}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const keys = generateAgentKeys();
    const good = {
      token,
      name: "a",
      version: "1",
      x25519Public: keys.x25519Public,
      ed25519Public: keys.ed25519Public,
    };
    const zeros = "A".repeat(43);
    for (const [body, field] of [
      [{ ...good, ed25519Public: zeros }, "ed25519Public"],
      [{ ...good, x25519Public: zeros }, "x25519Public"],
      [{ ...good, ed25519Public: "short" }, "ed25519Public"],
      [{ ...good, token: undefined }, "token"],
      [{ ...good, name: "" }, "name"],
    ] as const) {
      const res = await post(body);
      expect(res.status, field).toBe(400);
      const json = (await res.json()) as { error: { code: string; fields?: string[] } };
      expect(json.error.code).toBe("VALIDATION_FAILED");
    }
    const notJson = await fetch(`${s.baseUrl}${AGENT_ENROLL_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{",
    });
    expect(notJson.status).toBe(400);
    // None of that used the token.
    expect((await enroll(s.baseUrl, token, keys)).status).toBe(201);
  });

  it("token lives at most an hour, at least a minute", async () => {
    const deps = { db: s.store.db, clock, audit: { emit: async () => {} } };
    await expect(
      createEnrollmentToken(deps, { tenantId: s.tenant.id, ttlMs: MAX_TOKEN_TTL_MS + 1 }),
    ).rejects.toThrow();
    await expect(createEnrollmentToken(deps, { tenantId: s.tenant.id, ttlMs: 59_999 })).rejects.toThrow();
    const t = await createEnrollmentToken(deps, { tenantId: s.tenant.id, ttlMs: MAX_TOKEN_TTL_MS });
    expect(t.expiresAt - clock.now()).toBe(MAX_TOKEN_TTL_MS);
    expect(Buffer.from(t.token, "base64url")).toHaveLength(32);
  });
});

describe("enrollment rate limit", () => {
  it("answers 429 THROTTLED past the per-IP limit, even with valid tokens", async () => {
    const s = await startLinkServer({ link: { enrollPerMinute: 3 } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++)
        statuses.push((await enroll(s.baseUrl, "B".repeat(43), generateAgentKeys())).status);
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      const token = await s.token();
      const r = await enroll(s.baseUrl, token, generateAgentKeys());
      expect(r.status).toBe(429);
      expect(r.body).toMatchObject({ error: { code: "THROTTLED" } });
    } finally {
      await s.close();
    }
  });
});
