/**
 * TEST SUPPORT ONLY (excluded from the build): a small server that speaks the agent protocol from
 * packages/protocol — enrollment over HTTP(S), then challenge → hello/auth (real Ed25519 verification)
 * → welcome, heartbeats, sync batches answered with sync.ack into an in-memory users table. It stands
 * in for packages/server's directory-link in the agent's own tests; the cross-package tests in e2e/
 * run against the real server.
 */
import { createHash, createPublicKey, randomBytes, randomUUID, verify } from "node:crypto";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import {
  AGENT_ENROLL_PATH,
  AGENT_LINK_PATH,
  type AgentMessage,
  authPayload,
  enrollRequestSchema,
  PROTOCOL_VERSION,
  parseAgentMessage,
  type SyncedUser,
} from "@latchkey/protocol";
import { type WebSocket, WebSocketServer } from "ws";

export interface ProtocolServerOptions {
  /** Serve https/wss with this certificate. */
  tls?: { cert: string; key: string };
  heartbeatIntervalMs?: number;
  /** Delay before each sync.ack (simulates a slow store). */
  ackDelayMs?: number;
}

interface KnownAgent {
  id: string;
  ed25519Public: string;
  x25519Public: string;
  name: string;
  revoked: boolean;
}

export interface ReceivedBatch {
  agentId: string;
  message: Extract<AgentMessage, { type: "sync.batch" }>;
}

export class ProtocolServer {
  readonly agents = new Map<string, KnownAgent>();
  /** directoryId → anchor → user */
  readonly users = new Map<string, Map<string, SyncedUser>>();
  readonly batches: ReceivedBatch[] = [];
  readonly heartbeats: { agentId: string; at: number }[] = [];
  /** Every frame an agent sent, raw, in order. */
  readonly frames: string[] = [];
  /** Errors agents sent back. */
  readonly agentErrors: Extract<AgentMessage, { type: "error" }>[] = [];
  readonly sockets = new Set<WebSocket>();
  connections = 0;
  authenticated = 0;
  private readonly tokens = new Map<string, number>();
  private closing = false;
  private http: Server | undefined;
  private wss: WebSocketServer | undefined;
  private port = 0;
  private readonly seenInFullPass = new Map<string, Set<string>>();
  /** When set, the next sync.batch gets this error instead of an ack (once). */
  rejectNextBatch: string | null = null;
  /** When true, sync batches are never acknowledged. */
  holdAcks = false;

  constructor(private readonly opts: ProtocolServerOptions = {}) {}

  get url(): string {
    return `${this.opts.tls ? "https" : "http"}://127.0.0.1:${this.port}`;
  }

  /** Issues a one-time token valid for `ttlMs`. */
  issueToken(ttlMs = 3_600_000): string {
    const token = randomBytes(24).toString("base64url");
    this.tokens.set(createHash("sha256").update(token).digest("hex"), Date.now() + ttlMs);
    return token;
  }

  revoke(agentId: string): void {
    const a = this.agents.get(agentId);
    if (a) a.revoked = true;
    for (const ws of this.sockets) {
      if ((ws as WebSocket & { agentId?: string }).agentId === agentId) {
        send(ws, { type: "error", code: "AGENT_REVOKED", message: "revoked" });
        ws.close(1008, "revoked");
      }
    }
  }

  async listen(port = 0): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse) => this.onHttp(req, res);
    this.http = this.opts.tls ? createHttpsServer(this.opts.tls, handler) : createHttpServer(handler);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 8 * 1024 * 1024 });
    this.http.on("upgrade", (req, socket, head) => {
      if (this.closing || new URL(req.url ?? "/", "http://x").pathname !== AGENT_LINK_PATH) {
        socket.destroy();
        return;
      }
      this.wss?.handleUpgrade(req, socket, head, (ws) => this.onSocket(ws));
    });
    await new Promise<void>((resolve, reject) => {
      this.http?.once("error", reject);
      this.http?.listen(port || this.port, "127.0.0.1", () => resolve());
    });
    this.port = (this.http.address() as AddressInfo).port;
  }

  /** Stops listening, closes every link with `code` (1012 = service restart). */
  async close(code = 1001): Promise<void> {
    this.closing = true;
    const http = this.http;
    // Stop listening first, so no agent reconnects to the instance that is going away.
    const stopped = new Promise<void>((r) => (http ? http.close(() => r()) : r()));
    for (const ws of this.sockets) ws.close(code, code === 1012 ? "server restarting" : "server stopping");
    await new Promise<void>((r) => setTimeout(r, 20));
    for (const ws of this.sockets) ws.terminate();
    this.sockets.clear();
    await new Promise<void>((r) => (this.wss ? this.wss.close(() => r()) : r()));
    http?.closeAllConnections();
    await stopped;
    this.closing = false;
  }

  /** Sends a raw frame to every connected agent. */
  sendRaw(frame: string | Buffer): void {
    for (const ws of this.sockets) ws.send(frame);
  }

  /** Sends a well-formed server message to every connected agent. */
  broadcast(message: Record<string, unknown>): void {
    for (const ws of this.sockets) send(ws, message);
  }

  private onHttp(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== "POST" || new URL(req.url ?? "/", "http://x").pathname !== AGENT_ENROLL_PATH) {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        body = undefined;
      }
      const parsed = enrollRequestSchema.safeParse(body);
      if (!parsed.success) {
        res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ code: "MALFORMED" }));
        return;
      }
      const hash = createHash("sha256").update(parsed.data.token).digest("hex");
      const expires = this.tokens.get(hash);
      if (expires === undefined || expires < Date.now()) {
        res
          .writeHead(401, { "content-type": "application/json" })
          .end(JSON.stringify({ code: "ENROLL_TOKEN_INVALID" }));
        return;
      }
      this.tokens.delete(hash);
      const id = randomUUID();
      this.agents.set(id, {
        id,
        ed25519Public: parsed.data.ed25519Public,
        x25519Public: parsed.data.x25519Public,
        name: parsed.data.name,
        revoked: false,
      });
      res
        .writeHead(201, { "content-type": "application/json" })
        .end(JSON.stringify({ agentId: id, tenantId: "t1", linkPath: AGENT_LINK_PATH }));
    });
  }

  /** Registers an agent directly (tests that do not exercise enrollment). */
  register(agentId: string, ed25519Public: string): void {
    this.agents.set(agentId, { id: agentId, ed25519Public, x25519Public: "", name: agentId, revoked: false });
  }

  private onSocket(ws: WebSocket & { agentId?: string }): void {
    this.connections++;
    this.sockets.add(ws);
    ws.on("close", () => this.sockets.delete(ws));
    ws.on("error", () => {});
    const nonce = randomBytes(32).toString("base64url");
    let hello: string | null = null;
    let authed = false;
    send(ws, { type: "challenge", nonce, serverTime: Date.now() });
    ws.on("message", (data: Buffer) => {
      const text = data.toString("utf8");
      this.frames.push(text);
      const r = parseAgentMessage(data);
      if (!r.ok) {
        send(ws, { type: "error", code: r.code, message: r.detail, ...(r.id ? { inReplyTo: r.id } : {}) });
        return;
      }
      const m = r.message;
      if (m.type === "error") {
        this.agentErrors.push(m);
        return;
      }
      if (!authed) {
        if (m.type === "hello") {
          hello = m.agentId;
          return;
        }
        if (m.type !== "auth" || hello !== m.agentId) {
          send(ws, { type: "error", code: "UNEXPECTED_MESSAGE", message: m.type, inReplyTo: m.id });
          ws.close(1008, "unexpected");
          return;
        }
        const agent = this.agents.get(m.agentId);
        let ok = false;
        if (agent) {
          try {
            const key = createPublicKey({
              key: { kty: "OKP", crv: "Ed25519", x: agent.ed25519Public },
              format: "jwk",
            });
            ok = verify(null, authPayload(nonce, m.agentId), key, Buffer.from(m.signature, "base64url"));
          } catch {
            ok = false;
          }
        }
        if (!agent || !ok) {
          send(ws, { type: "error", code: "AUTH_FAILED", message: "signature did not verify" });
          ws.close(1008, "auth failed");
          return;
        }
        if (agent.revoked) {
          send(ws, { type: "error", code: "AGENT_REVOKED", message: "revoked" });
          ws.close(1008, "revoked");
          return;
        }
        authed = true;
        ws.agentId = m.agentId;
        this.authenticated++;
        send(ws, {
          type: "welcome",
          agentId: m.agentId,
          heartbeatIntervalMs: this.opts.heartbeatIntervalMs ?? 30_000,
        });
        return;
      }
      const agentId = ws.agentId ?? "";
      if (m.type === "heartbeat") {
        this.heartbeats.push({ agentId, at: m.at });
        return;
      }
      if (m.type === "sync.batch") {
        this.batches.push({ agentId, message: m });
        if (this.rejectNextBatch) {
          const why = this.rejectNextBatch;
          this.rejectNextBatch = null;
          send(ws, { type: "error", code: "SYNC_REJECTED", message: why, inReplyTo: m.id });
          return;
        }
        const dir = this.users.get(m.directoryId) ?? new Map<string, SyncedUser>();
        this.users.set(m.directoryId, dir);
        const key = `${m.directoryId}/${m.syncId}`;
        if (m.full) {
          const seen = this.seenInFullPass.get(key) ?? new Set<string>();
          this.seenInFullPass.set(key, seen);
          for (const u of m.users) seen.add(u.anchor);
        }
        for (const u of m.users) dir.set(u.anchor, u);
        let removed = 0;
        for (const a of m.deleted) if (dir.delete(a)) removed++;
        if (m.full && m.final) {
          const seen = this.seenInFullPass.get(key) ?? new Set<string>();
          for (const a of [...dir.keys()]) {
            if (!seen.has(a)) {
              dir.delete(a);
              removed++;
            }
          }
          this.seenInFullPass.delete(key);
        }
        if (this.holdAcks) return;
        const ack = { type: "sync.ack", syncId: m.syncId, seq: m.seq, upserted: m.users.length, removed };
        if (this.opts.ackDelayMs) setTimeout(() => send(ws, ack), this.opts.ackDelayMs);
        else send(ws, ack);
        return;
      }
      send(ws, { type: "error", code: "UNEXPECTED_MESSAGE", message: m.type, inReplyTo: m.id });
    });
  }
}

function send(ws: WebSocket, message: Record<string, unknown>): void {
  if (ws.readyState !== ws.OPEN) return;
  ws.send(JSON.stringify({ v: PROTOCOL_VERSION, id: randomUUID(), ...message }));
}
