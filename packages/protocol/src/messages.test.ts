import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { authPayload, parseAgentMessage, parseServerMessage } from "./messages.js";
import { PROTOCOL_VERSION } from "./version.js";

describe("agent messages", () => {
  it("accepts a valid heartbeat", () => {
    const r = parseAgentMessage(JSON.stringify({ v: PROTOCOL_VERSION, id: "m1", type: "heartbeat", at: 1 }));
    expect(r).toEqual({ ok: true, message: { v: 1, id: "m1", type: "heartbeat", at: 1 } });
  });

  it("names what is wrong: not JSON, other version, unknown type, invalid field", () => {
    expect(parseAgentMessage("{")).toMatchObject({ ok: false, code: "MALFORMED_MESSAGE" });
    expect(parseAgentMessage(JSON.stringify({ v: 2, id: "m", type: "heartbeat", at: 1 }))).toMatchObject({
      ok: false,
      code: "PROTOCOL_VERSION",
      id: "m",
    });
    expect(parseAgentMessage(JSON.stringify({ v: 1, id: "m", type: "launch", at: 1 }))).toMatchObject({
      ok: false,
      code: "UNKNOWN_MESSAGE",
    });
    expect(parseAgentMessage(JSON.stringify({ v: 1, id: "m", type: "heartbeat", at: "soon" }))).toMatchObject(
      {
        ok: false,
        code: "MALFORMED_MESSAGE",
        detail: "invalid at",
      },
    );
  });

  it("a server message type is not accepted from an agent, and the other way round", () => {
    const welcome = JSON.stringify({
      v: 1,
      id: "w",
      type: "welcome",
      agentId: "a",
      heartbeatIntervalMs: 5000,
    });
    expect(parseAgentMessage(welcome)).toMatchObject({ ok: false, code: "UNKNOWN_MESSAGE" });
    expect(parseServerMessage(welcome).ok).toBe(true);
    const hb = JSON.stringify({ v: 1, id: "h", type: "heartbeat", at: 1 });
    expect(parseServerMessage(hb)).toMatchObject({ ok: false, code: "UNKNOWN_MESSAGE" });
  });

  it("never throws, whatever arrives", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify(v)),
        ),
        (raw) => {
          const a = parseAgentMessage(raw);
          const s = parseServerMessage(raw);
          expect(typeof a.ok).toBe("boolean");
          expect(typeof s.ok).toBe("boolean");
        },
      ),
      { numRuns: 500 },
    );
  });

  it("binds the signed payload to the agent and the nonce", () => {
    expect(authPayload("n", "a").equals(authPayload("n", "a"))).toBe(true);
    expect(authPayload("n", "a").equals(authPayload("n", "b"))).toBe(false);
    expect(authPayload("n1", "a").equals(authPayload("n2", "a"))).toBe(false);
  });
});

describe("additions for the server link (issue 4)", () => {
  const ack = { v: 1, id: "a1", type: "sync.ack", syncId: "s1", seq: 0, upserted: 2, removed: 0 };

  it("sync.ack may list refused users with a reason, and is valid without the list", () => {
    expect(parseServerMessage(JSON.stringify(ack)).ok).toBe(true);
    const withRejected = { ...ack, rejected: [{ anchor: "6f1c…", reason: "username_taken_cloud" }] };
    expect(parseServerMessage(JSON.stringify(withRejected))).toEqual({ ok: true, message: withRejected });
    // An unknown reason from a newer server still parses.
    const future = { ...ack, rejected: [{ anchor: "x", reason: "some_future_reason" }] };
    expect(parseServerMessage(JSON.stringify(future)).ok).toBe(true);
    expect(
      parseServerMessage(JSON.stringify({ ...ack, rejected: [{ anchor: "", reason: "x" }] })),
    ).toMatchObject({ ok: false, code: "MALFORMED_MESSAGE" });
  });

  it("welcome may name the directories the agent is accepted for", () => {
    const welcome = { v: 1, id: "w", type: "welcome", agentId: "a", heartbeatIntervalMs: 15_000 };
    expect(parseServerMessage(JSON.stringify(welcome)).ok).toBe(true);
    const named = { ...welcome, directories: ["corp-ad"] };
    expect(parseServerMessage(JSON.stringify(named))).toEqual({ ok: true, message: named });
    expect(parseServerMessage(JSON.stringify({ ...welcome, directories: [""] })).ok).toBe(false);
  });

  it("RATE_LIMITED is a wire error code both sides accept", () => {
    const e = { v: 1, id: "e", type: "error", code: "RATE_LIMITED", message: "slow down" };
    expect(parseServerMessage(JSON.stringify(e)).ok).toBe(true);
    expect(parseAgentMessage(JSON.stringify(e)).ok).toBe(true);
  });
});

describe("operation messages", () => {
  const request = {
    v: 1,
    id: "m9",
    type: "op.request",
    opId: "op1",
    kind: "reset",
    tenantId: "t1",
    directoryId: "corp",
    anchor: "0f8fad5b-d9cb-469f-a165-70867728950e",
    dn: "uid=alice,ou=people,dc=example,dc=test",
    sealed: "c2VhbGVk",
    deadline: 1,
  };

  it("an op.request goes server → agent with default options; never agent → server", () => {
    const r = parseServerMessage(JSON.stringify(request));
    expect(r).toMatchObject({
      ok: true,
      message: { kind: "reset", options: { unlock: false, mustChange: false } },
    });
    expect(parseAgentMessage(JSON.stringify(request))).toMatchObject({ ok: false, code: "UNKNOWN_MESSAGE" });
  });

  it("an op.result carries only a known directory code", () => {
    const result = {
      v: 1,
      id: "m10",
      type: "op.result",
      opId: "op1",
      outcome: "refused",
      applied: false,
      code: "PASSWORD_IN_HISTORY",
      diagnostic: "0000052D: Constraint violation",
      fromCache: false,
    };
    expect(parseAgentMessage(JSON.stringify(result)).ok).toBe(true);
    expect(parseAgentMessage(JSON.stringify({ ...result, code: "SOMETHING_ELSE" }))).toMatchObject({
      ok: false,
      code: "MALFORMED_MESSAGE",
    });
  });
});
