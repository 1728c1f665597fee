/**
 * Property: whatever an agent sends — random text, random JSON, envelopes with wrong versions or
 * types, valid messages with one field replaced, binary frames — the server answers what the
 * protocol says (an `error` with the parser's code, UNEXPECTED_MESSAGE, SYNC_REJECTED, or nothing
 * for a valid heartbeat/error), never anything that fails the server-message schema, and stays up:
 * afterwards a valid agent still authenticates and /healthz answers. Before authentication, every
 * first message but a valid hello is refused and closes the link. An oversize message closes the
 * link with 1009.
 */
import { PROTOCOL_VERSION, parseAgentMessage, type ServerMessage } from "@latchkey/protocol";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLOSE } from "./link.js";
import { syncedUser, TestAgentLink } from "./testing/agent-client.js";
import { type LinkServer, startLinkServer } from "./testing/server.js";

const TYPES = [
  "hello",
  "auth",
  "heartbeat",
  "sync.batch",
  "error",
  "welcome",
  "challenge",
  "sync.ack",
  "",
  "x",
];

const validTemplates: Record<string, unknown>[] = [
  { v: 1, id: "h", type: "heartbeat", at: 1 },
  { v: 1, id: "e", type: "error", code: "INTERNAL", message: "oops" },
  { v: 1, id: "hl", type: "hello", agentId: "a", version: "1" },
  { v: 1, id: "au", type: "auth", agentId: "a", signature: "AAAA", directories: [] },
  {
    v: 1,
    id: "sb",
    type: "sync.batch",
    directoryId: "not-served",
    syncId: "s",
    full: false,
    seq: 0,
    final: true,
    users: [syncedUser("7c3f0c1e-0000-4000-8000-000000000001", "fuzz")],
    deleted: [],
  },
];

/** What an agent might send: strings, JSON, broken envelopes, valid messages with a field replaced. */
const frames: fc.Arbitrary<{ text: string } | { binary: Uint8Array }> = fc.oneof(
  fc.string({ maxLength: 300 }).map((text) => ({ text })),
  fc.json({ maxDepth: 3 }).map((text) => ({ text })),
  fc
    .record(
      {
        v: fc.oneof(
          fc.constant(PROTOCOL_VERSION),
          fc.integer(),
          fc.string({ maxLength: 5 }),
          fc.constant(null),
        ),
        id: fc.oneof(fc.string({ maxLength: 80 }), fc.integer()),
        type: fc.oneof(fc.constantFrom(...TYPES), fc.string({ maxLength: 20 })),
        at: fc.oneof(fc.integer(), fc.string({ maxLength: 5 })),
        extra: fc.jsonValue({ maxDepth: 2 }),
      },
      { requiredKeys: [] },
    )
    .map((o) => ({ text: JSON.stringify(o) })),
  fc
    .tuple(
      fc.constantFrom(...validTemplates),
      fc.string({ minLength: 1, maxLength: 12 }),
      fc.jsonValue({ maxDepth: 2 }),
    )
    .map(([t, key, value]) => {
      const keys = Object.keys(t);
      const field = keys.includes(key) ? key : (keys[key.length % keys.length] ?? "v");
      return { text: JSON.stringify({ ...t, [field]: value }) };
    }),
  fc.constantFrom(...validTemplates).map((t) => ({ text: JSON.stringify(t) })),
  fc.uint8Array({ maxLength: 64 }).map((binary) => ({ binary })),
);

/** The answers the server owes for a frame sent on an authenticated link. */
function expectedAnswer(frame: { text: string } | { binary: Uint8Array }): string | null {
  if ("binary" in frame) return "error:MALFORMED_MESSAGE";
  const r = parseAgentMessage(frame.text);
  if (!r.ok) return `error:${r.code}`;
  switch (r.message.type) {
    case "hello":
    case "auth":
      return "error:UNEXPECTED_MESSAGE";
    case "sync.batch":
      return "error:SYNC_REJECTED";
    default:
      return null; // heartbeat, error: no answer
  }
}

function describeAnswer(m: ServerMessage): string {
  return m.type === "error" ? `error:${m.code}` : m.type;
}

describe("malformed and arbitrary messages", () => {
  let s: LinkServer;
  beforeAll(async () => {
    s = await startLinkServer({ link: { messagesPerSecond: 100_000, messageBurst: 100_000 } });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("on an authenticated link: each gets exactly the answer the protocol says, and the link stays", async () => {
    const { link } = await s.connectAgent({ directories: [{ id: "corp", dialect: "ad", description: "" }] });
    let probe = 0;
    await fc.assert(
      fc.asyncProperty(frames, async (frame) => {
        if ("binary" in frame) link.sendRaw(Buffer.from(frame.binary), true);
        else link.sendRaw(frame.text);
        // A probe the server must refuse by name: every answer before it belongs to the frame.
        probe += 1;
        const probeId = link.send({
          id: `probe-${probe}`,
          type: "sync.batch",
          directoryId: "probe-not-served",
          syncId: "p",
          full: false,
          seq: 0,
          final: true,
          users: [],
          deleted: [],
        });
        const answers: string[] = [];
        for (;;) {
          const m = await link.next(undefined, 5_000);
          if (m.type === "error" && m.inReplyTo === probeId) {
            expect(m.code).toBe("SYNC_REJECTED");
            break;
          }
          answers.push(describeAnswer(m));
        }
        const want = expectedAnswer(frame);
        expect(answers).toEqual(want === null ? [] : [want]);
        expect(link.isOpen).toBe(true);
      }),
      { numRuns: 400 },
    );
    expect(link.invalid).toEqual([]);
    link.close();
  });

  it("before authentication: anything but a valid hello is refused with an error and closes the link", async () => {
    await fc.assert(
      fc.asyncProperty(frames, async (frame) => {
        const link = await TestAgentLink.open(s.baseUrl);
        try {
          await link.next("challenge");
          if ("binary" in frame) link.sendRaw(Buffer.from(frame.binary), true);
          else link.sendRaw(frame.text);
          const parsed = "text" in frame ? parseAgentMessage(frame.text) : null;
          if (parsed?.ok && parsed.message.type === "hello") {
            // A valid hello waits for auth: no answer, still open.
            link.send({ type: "heartbeat", at: 1 });
            expect(await link.next("error")).toMatchObject({ code: "UNEXPECTED_MESSAGE" });
          } else {
            const err = await link.next("error");
            const want =
              parsed === null ? "MALFORMED_MESSAGE" : parsed.ok ? "UNEXPECTED_MESSAGE" : parsed.code;
            expect(err.code).toBe(want);
          }
          expect((await link.waitClosed()).code).toBe(CLOSE.POLICY);
          expect(link.invalid).toEqual([]);
        } finally {
          if (link.isOpen) link.close();
        }
      }),
      { numRuns: 120 },
    );
  });

  it("an oversize message closes the link with 1009; then a valid agent still connects and /healthz answers", async () => {
    const { link } = await s.connectAgent();
    link.sendRaw(
      JSON.stringify({ v: 1, id: "big", type: "heartbeat", at: 1, pad: "x".repeat(4 * 1024 * 1024) }),
    );
    expect((await link.waitClosed(10_000)).code).toBe(1009);

    const again = await s.connectAgent({ directories: [{ id: "corp", dialect: "ad", description: "" }] });
    const ack = await again.link.sync({
      directoryId: "corp",
      syncId: "after-fuzz",
      full: false,
      seq: 0,
      final: true,
      users: [syncedUser("7c3f0c1e-0000-4000-8000-00000000beef", "after-fuzz")],
    });
    expect(ack).toMatchObject({ type: "sync.ack", upserted: 1 });
    expect((await fetch(`${s.baseUrl}/healthz`)).status).toBe(200);
    again.link.close();
  });
});
