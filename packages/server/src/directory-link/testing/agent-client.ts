/**
 * A small agent for tests: it enrolls over HTTP and speaks the link protocol over a real `ws`
 * WebSocket, with Ed25519 keys made by node:crypto. Every message the server sends is checked with
 * parseServerMessage; whatever fails lands in `invalid` (tests expect it empty). It can also send
 * anything at all (sendRaw), which is how the malformed-message tests reach the server.
 * Not used at run time.
 */
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import {
  AGENT_ENROLL_PATH,
  AGENT_LINK_PATH,
  authPayload,
  type DirectoryInfo,
  type EnrollResponse,
  enrollResponseSchema,
  PROTOCOL_VERSION,
  parseServerMessage,
  type ServerMessage,
  type SyncedUser,
} from "@latchkey/protocol";
import WebSocket from "ws";

export interface AgentKeys {
  ed25519Private: KeyObject;
  /** The sealing key: what opens an op.request's sealed payload (writeback tests). */
  x25519Private: KeyObject;
  /** Raw public keys, base64url (what enrollment sends). */
  ed25519Public: string;
  x25519Public: string;
}

export function generateAgentKeys(): AgentKeys {
  const ed = generateKeyPairSync("ed25519");
  const x = generateKeyPairSync("x25519");
  return {
    ed25519Private: ed.privateKey,
    x25519Private: x.privateKey,
    ed25519Public: ed.publicKey.export({ format: "jwk" }).x ?? "",
    x25519Public: x.publicKey.export({ format: "jwk" }).x ?? "",
  };
}

/** The signature an agent sends in `auth`. */
export function signChallenge(keys: AgentKeys, nonce: string, agentId: string): string {
  return sign(null, authPayload(nonce, agentId), keys.ed25519Private).toString("base64url");
}

export interface EnrollResult {
  status: number;
  body: unknown;
  /** Set when the server enrolled the agent (201 and a valid answer). */
  enrolled?: EnrollResponse;
}

export async function enroll(
  baseUrl: string,
  token: string,
  keys: AgentKeys,
  opts: { name?: string; version?: string } = {},
): Promise<EnrollResult> {
  const res = await fetch(`${baseUrl}${AGENT_ENROLL_PATH}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      token,
      name: opts.name ?? "test-agent",
      version: opts.version ?? "0.1.0-test",
      x25519Public: keys.x25519Public,
      ed25519Public: keys.ed25519Public,
    }),
  });
  const body: unknown = await res.json().catch(() => null);
  const parsed = enrollResponseSchema.safeParse(body);
  return {
    status: res.status,
    body,
    ...(res.status === 201 && parsed.success ? { enrolled: parsed.data } : {}),
  };
}

let seq = 0;
export function messageId(): string {
  seq += 1;
  return `t${seq}`;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

export type Welcome = Extract<ServerMessage, { type: "welcome" }>;
export type SyncAck = Extract<ServerMessage, { type: "sync.ack" }>;
export type ErrorMessage = Extract<ServerMessage, { type: "error" }>;

/** A test user as an agent would read it (override any field). */
export function syncedUser(anchor: string, username: string, over: Partial<SyncedUser> = {}): SyncedUser {
  return {
    anchor,
    dn: `CN=${username},OU=People,DC=lab,DC=example,DC=test`,
    username,
    upn: `${username}@lab.example.test`,
    displayName: `User ${username}`,
    givenName: "User",
    surname: username,
    mail: `${username}@example.test`,
    mobile: "+15555550100",
    telephoneNumber: null,
    enabled: true,
    locked: false,
    inScope: true,
    isAdmin: false,
    passwordLastSet: 1_767_225_600_000,
    passwordExpiresAt: null,
    ...over,
  };
}

export class TestAgentLink {
  /** Server messages not consumed by next() yet, in arrival order. */
  readonly inbox: ServerMessage[] = [];
  /** Every valid server message, in arrival order. */
  readonly received: ServerMessage[] = [];
  /** Frames from the server that failed parseServerMessage (should stay empty). */
  readonly invalid: string[] = [];
  closeInfo: CloseInfo | null = null;
  readonly closed: Promise<CloseInfo>;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data) => {
      const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : data.toString();
      const r = parseServerMessage(text);
      if (r.ok) {
        this.inbox.push(r.message);
        this.received.push(r.message);
      } else this.invalid.push(text.slice(0, 200));
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.wake();
        resolve(this.closeInfo);
      });
    });
    ws.on("error", () => {
      // Close follows; the tests look at closeInfo.
    });
  }

  /** Opens a link to a server at `baseUrl` (http://…) and waits until the socket is open. */
  static async open(baseUrl: string, opts: { maxPayload?: number } = {}): Promise<TestAgentLink> {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, "ws")}${AGENT_LINK_PATH}`, {
      maxPayload: opts.maxPayload ?? 64 * 1024 * 1024,
    });
    const link = new TestAgentLink(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return link;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Takes the first unconsumed message matching `type` (any type when absent), waiting up to `timeoutMs`. */
  async next<T extends ServerMessage["type"]>(
    type?: T,
    timeoutMs = 5_000,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const m = await this.nextWhere(
      (x) => type === undefined || x.type === type,
      timeoutMs,
      type ?? "a message",
    );
    return m as Extract<ServerMessage, { type: T }>;
  }

  /** Takes the first unconsumed message for which `match` is true, waiting up to `timeoutMs`. */
  async nextWhere(
    match: (m: ServerMessage) => boolean,
    timeoutMs = 5_000,
    what = "a matching message",
  ): Promise<ServerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex(match);
      const found = i >= 0 ? this.inbox.splice(i, 1)[0] : undefined;
      if (found) return found;
      if (this.closeInfo)
        throw new Error(`link closed (${this.closeInfo.code} ${this.closeInfo.reason}) waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for the close (up to `timeoutMs`). */
  async waitClosed(timeoutMs = 5_000): Promise<CloseInfo> {
    const timeout = new Promise<never>((_, reject) => {
      const t = setTimeout(() => reject(new Error(`link still open after ${timeoutMs} ms`)), timeoutMs);
      t.unref();
    });
    return Promise.race([this.closed, timeout]);
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  sendRaw(data: string | Buffer, binary = false): void {
    this.ws.send(data, { binary });
  }

  send(message: Record<string, unknown>): string {
    const id = typeof message.id === "string" ? message.id : messageId();
    this.ws.send(JSON.stringify({ v: PROTOCOL_VERSION, id, ...message }));
    return id;
  }

  /** challenge → hello → auth → welcome. Returns the welcome (throws on anything else). */
  async authenticate(opts: {
    agentId: string;
    keys: AgentKeys;
    version?: string;
    directories?: DirectoryInfo[];
    /** Sign this agent id instead (a forged or mixed-up signature). */
    signAs?: string;
  }): Promise<Welcome> {
    const challenge = await this.next("challenge");
    this.send({ type: "hello", agentId: opts.agentId, version: opts.version ?? "0.1.0-test" });
    this.send({
      type: "auth",
      agentId: opts.agentId,
      signature: signChallenge(opts.keys, challenge.nonce, opts.signAs ?? opts.agentId),
      directories: opts.directories ?? [],
    });
    const answer = await this.nextWhere((m) => m.type === "welcome" || m.type === "error", 5_000, "welcome");
    if (answer.type !== "welcome") {
      this.inbox.unshift(answer); // left for the test to read
      throw new Error(`expected welcome, got ${JSON.stringify(answer)}`);
    }
    return answer;
  }

  heartbeat(): string {
    return this.send({ type: "heartbeat", at: Date.now() });
  }

  /** Sends a sync batch and waits for its answer: the ack, or an error naming the batch. */
  async sync(batch: {
    directoryId: string;
    syncId: string;
    full: boolean;
    seq: number;
    final: boolean;
    users?: SyncedUser[];
    deleted?: string[];
  }): Promise<SyncAck | ErrorMessage> {
    const id = this.send({ type: "sync.batch", users: [], deleted: [], ...batch });
    const m = await this.nextWhere(
      (x) =>
        (x.type === "sync.ack" && x.syncId === batch.syncId && x.seq === batch.seq) ||
        (x.type === "error" && x.inReplyTo === id),
      30_000,
      `the answer to batch ${batch.seq} of ${batch.syncId}`,
    );
    return m as SyncAck | ErrorMessage;
  }

  close(): void {
    this.ws.close(1000, "done");
  }
}
