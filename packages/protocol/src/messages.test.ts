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
