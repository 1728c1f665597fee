/**
 * The link against a small server that speaks the protocol (testing/protocol-server.ts) over real
 * TLS with the test run's certificate: the handshake (the server verifies the Ed25519 signature),
 * heartbeats, reconnection after a server restart (close 1012) with full-jitter backoff, permanent
 * stops on AUTH_FAILED / AGENT_REVOKED, HTTPS_PROXY through a CONNECT proxy, and a property test:
 * whatever frames the server sends, the agent answers the invalid ones with an `error`, ignores none
 * silently, and stays online.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { AGENT_LINK_PATH, PROTOCOL_VERSION, parseServerMessage } from "@latchkey/protocol";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { getTestEnv } from "../../../../test-env/env.js";
import { memoryLogger } from "../log.js";
import { ManualClock, until } from "../testing/clock.js";
import { ProtocolServer } from "../testing/protocol-server.js";
import { AgentLink, type AgentLinkOptions } from "./link.js";

const env = getTestEnv();
const tls = { cert: readFileSync(env.certFile, "utf8"), key: readFileSync(env.keyFile, "utf8") };

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function identity(): { key: KeyObject; publicX: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { key: privateKey, publicX: publicKey.export({ format: "jwk" }).x as string };
}

async function server(opts: ConstructorParameters<typeof ProtocolServer>[0] = {}): Promise<ProtocolServer> {
  const s = new ProtocolServer({ tls, heartbeatIntervalMs: 1000, ...opts });
  await s.listen();
  cleanup.push(() => s.close());
  return s;
}

function link(
  s: ProtocolServer,
  agentId: string,
  key: KeyObject,
  extra: Partial<AgentLinkOptions> = {},
): AgentLink {
  const l = new AgentLink({
    url: new URL(`${s.url.replace("https:", "wss:")}${AGENT_LINK_PATH}`),
    agentId,
    signingKey: key,
    version: "0.1.0-test",
    directories: () => [{ id: "corp", dialect: "openldap", description: "test" }],
    ca: env.caPem,
    env: {},
    backoff: { initialMs: 50, maxMs: 400 },
    ...extra,
  });
  cleanup.push(() => l.stop());
  return l;
}

describe("agent link", () => {
  it("authenticates with its signature, announces its directories, sends heartbeats", async () => {
    const s = await server();
    const id = identity();
    s.register("agent-1", id.publicX);
    const l = link(s, "agent-1", id.key);
    const states: string[] = [];
    l.on("state", (st) => states.push(st));
    l.start();
    await until("online", () => l.isOnline);
    expect(s.authenticated).toBe(1);
    const auth = s.frames
      .map((f) => JSON.parse(f) as { type: string; directories?: unknown })
      .find((m) => m.type === "auth");
    expect(auth?.directories).toEqual([{ id: "corp", dialect: "openldap", description: "test" }]);
    await until("two heartbeats", () => s.heartbeats.length >= 2, 8000);
    expect(states.slice(0, 3)).toEqual(["connecting", "handshake", "online"]);
  });

  it("dials again by itself after the server restarts (1012), and after it was down for a while", async () => {
    const s = await server();
    const id = identity();
    s.register("agent-1", id.publicX);
    const l = link(s, "agent-1", id.key);
    const closes: number[] = [];
    l.on("offline", (o) => closes.push(o.code));
    l.start();
    await until("online", () => l.isOnline);
    const port = Number(new URL(s.url).port);
    await s.close(1012);
    await until("offline", () => !l.isOnline);
    // Down for a few attempts (connection refused), then back on the same port.
    await until("three failed dials", () => closes.length >= 3);
    await s.listen(port);
    await until("online again", () => l.isOnline && s.authenticated === 2).catch((e) => {
      throw new Error(
        `${(e as Error).message}: state ${l.state}, authenticated ${s.authenticated}, connections ${s.connections}, closes ${closes.join(",")} frames ${s.frames.map((f) => (JSON.parse(f) as { type: string; agentId?: string }).type).join(",")}`,
      );
    });
    expect(closes[0]).toBe(1012);
    expect(closes.slice(1).every((c) => c === 1006)).toBe(true);
  });

  it("stops for good when the server says AGENT_REVOKED, and on AUTH_FAILED (unknown agent, forged key)", async () => {
    const s = await server();
    const id = identity();
    s.register("agent-1", id.publicX);
    const l = link(s, "agent-1", id.key);
    const fatal: string[] = [];
    l.on("fatal", (f) => fatal.push(f.code));
    l.start();
    await until("online", () => l.isOnline);
    s.revoke("agent-1");
    await until("stopped", () => l.state === "stopped");
    expect(fatal).toEqual(["AGENT_REVOKED"]);
    expect(l.fatal).toBe("AGENT_REVOKED");
    l.start(); // refused: a revoked link does not dial again
    expect(l.state).toBe("stopped");

    const forged = identity();
    s.register("agent-2", identity().publicX);
    const l2 = link(s, "agent-2", forged.key);
    l2.start();
    await until("stopped", () => l2.state === "stopped");
    expect(l2.fatal).toBe("AUTH_FAILED");
    const l3 = link(s, "agent-unknown", forged.key);
    l3.start();
    await until("stopped", () => l3.state === "stopped");
    expect(l3.fatal).toBe("AUTH_FAILED");
    expect(s.authenticated).toBe(1);
  });

  it("refuses a server certificate it cannot verify, and keeps trying", async () => {
    const s = await server();
    const id = identity();
    s.register("agent-1", id.publicX);
    const log = memoryLogger();
    const l = link(s, "agent-1", id.key, { ca: undefined, logger: log } as Partial<AgentLinkOptions>);
    let offline = 0;
    l.on("offline", () => offline++);
    l.start();
    await until("two failed dials", () => offline >= 2);
    expect(s.authenticated).toBe(0);
    expect(l.fatal).toBeNull();
    expect(log.lines.some((x) => String(x.obj.error).includes("not trusted"))).toBe(true);
  });

  it("a malformed HTTPS_PROXY fails the dial, not the process", async () => {
    const s = await server();
    const id = identity();
    s.register("agent-1", id.publicX);
    const l = link(s, "agent-1", id.key, { env: { HTTPS_PROXY: "http://[not a proxy" } });
    let offline = 0;
    l.on("offline", () => offline++);
    l.start();
    await until("two failed dials", () => offline >= 2);
    expect(l.state === "waiting" || l.state === "connecting").toBe(true);
  });

  it("backs off with full jitter, capped, from an injected clock and random source", async () => {
    // Nothing listens on the port: every dial is refused at once.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const clock = new ManualClock();
    const delays: (number | null)[] = [];
    const l = new AgentLink({
      url: new URL(`ws://127.0.0.1:${port}${AGENT_LINK_PATH}`),
      agentId: "a",
      signingKey: identity().key,
      version: "t",
      directories: () => [],
      env: {},
      clock,
      random: () => 0.5,
      backoff: { initialMs: 100, maxMs: 1000 },
    });
    cleanup.push(() => l.stop());
    l.on("offline", (o) => delays.push(o.retryInMs));
    l.start();
    for (let i = 1; i <= 7; i++) {
      await until(`failure ${i}`, () => delays.length >= i);
      clock.advance(delays[i - 1] ?? 0);
    }
    expect(delays).toEqual([50, 100, 200, 400, 500, 500, 500]);
  });

  it("dials through HTTPS_PROXY with CONNECT (TLS end to end), unless NO_PROXY names the host", async () => {
    const s = await server();
    const id = identity();
    s.register("agent-1", id.publicX);
    const connects: string[] = [];
    const tunnels = new Set<{ destroy(): void }>();
    const proxy: Server = createServer();
    proxy.on("connect", (req, socket, head) => {
      connects.push(req.url ?? "");
      tunnels.add(socket);
      const [host, p] = (req.url ?? "").split(":");
      const upstream = connect(Number(p), host ?? "", () => {
        socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
        upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      tunnels.add(upstream);
      upstream.on("error", () => socket.destroy());
      socket.on("error", () => upstream.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", () => r()));
    cleanup.push(
      () =>
        new Promise<void>((r) => {
          for (const t of tunnels) t.destroy();
          proxy.close(() => r());
        }),
    );
    const proxyUrl = `http://user:pw@127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const viaProxy = link(s, "agent-1", id.key, { env: { HTTPS_PROXY: proxyUrl } });
    viaProxy.start();
    await until("online via proxy", () => viaProxy.isOnline);
    expect(connects).toEqual([`127.0.0.1:${new URL(s.url).port}`]);
    await viaProxy.stop();
    const direct = link(s, "agent-1", id.key, { env: { HTTPS_PROXY: proxyUrl, NO_PROXY: "127.0.0.1" } });
    direct.start();
    await until("online direct", () => direct.isOnline);
    expect(connects).toHaveLength(1);
  });
});

/** Frames a hostile or broken server might send. */
const frames = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
  fc
    .record(
      {
        v: fc.oneof(fc.constant(PROTOCOL_VERSION), fc.integer(), fc.string({ maxLength: 3 })),
        id: fc.oneof(fc.uuid(), fc.string({ maxLength: 80 }), fc.integer()),
        type: fc.constantFrom(
          "challenge",
          "welcome",
          "sync.ack",
          "sync.request",
          "op.request",
          "error",
          "hello",
          "nonsense",
          "",
        ),
        nonce: fc.string({ maxLength: 50 }),
        serverTime: fc.oneof(fc.integer(), fc.string()),
        agentId: fc.string({ maxLength: 70 }),
        heartbeatIntervalMs: fc.integer({ min: -10, max: 400_000 }),
        syncId: fc.string({ maxLength: 70 }),
        seq: fc.integer({ min: -2, max: 5 }),
        upserted: fc.integer({ min: -2, max: 5 }),
        removed: fc.integer({ min: -2, max: 5 }),
        full: fc.oneof(fc.boolean(), fc.constant("yes")),
        code: fc.constantFrom("MALFORMED_MESSAGE", "INTERNAL", "SYNC_REJECTED", "RATE_LIMITED", "NOPE"),
        message: fc.string({ maxLength: 600 }),
        opId: fc.oneof(fc.uuid(), fc.string({ maxLength: 70 })),
        kind: fc.constantFrom("reset", "change", "unlock", "verify-password", "delete"),
        tenantId: fc.constantFrom("t1", ""),
        directoryId: fc.constantFrom("corp", ""),
        anchor: fc.uuid(),
        dn: fc.constantFrom(null, "uid=a,dc=x"),
        sealed: fc.constantFrom(null, "AAAA", "not base64url!"),
        deadline: fc.oneof(fc.integer(), fc.double()),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
);

describe("agent link under malformed server messages", () => {
  it("answers each invalid or out-of-place frame with an error and stays online (property)", async () => {
    const s = await server({ heartbeatIntervalMs: 60_000 });
    const id = identity();
    s.register("agent-1", id.publicX);
    const l = link(s, "agent-1", id.key);
    let rejected = 0;
    l.on("rejected", () => rejected++);
    l.start();
    await until("online", () => l.isOnline);
    await fc.assert(
      fc.asyncProperty(fc.array(frames, { minLength: 1, maxLength: 8 }), async (batch) => {
        const before = s.agentErrors.length;
        let expected = 0;
        for (const f of batch) {
          const r = parseServerMessage(f);
          // After the handshake every valid message is taken (sync.ack, sync.request, op.request, errors)
          // except another challenge or welcome; everything invalid is answered.
          if (!r.ok || r.message.type === "challenge" || r.message.type === "welcome") expected++;
          s.sendRaw(f);
        }
        await until("the agent's answers", () => s.agentErrors.length >= before + expected, 5000);
        // And no answer to anything valid: wait for a marker that must come back after the batch.
        s.sendRaw("marker-not-json");
        await until("marker answered", () => s.agentErrors.length >= before + expected + 1, 5000);
        expect(s.agentErrors.length).toBe(before + expected + 1);
        expect(l.isOnline).toBe(true);
      }),
      { numRuns: 60 },
    );
    expect(rejected).toBeGreaterThan(60);
    expect(s.connections).toBe(1);
  });
});
