/**
 * The agent's one connection to the server: it dials out (wss://, through HTTPS_PROXY when set),
 * answers the server's challenge with an Ed25519 signature over authPayload(nonce, agentId), says
 * which directories it serves, and once welcomed keeps the socket alive with heartbeats. Whatever
 * ends a connection (server restart with close code 1012, network loss, a silent server, a failed
 * handshake), it dials again by itself after an exponential backoff with full jitter — except when
 * the server says AUTH_FAILED or AGENT_REVOKED: then it stops for good and says so (`fatal`).
 *
 * Every received frame goes through parseServerMessage. Anything invalid, unknown or out of place is
 * answered with an `error` message and logged; it never throws out of the link.
 *
 *   idle ──start──▶ connecting ──open──▶ handshake ──welcome──▶ online
 *                      ▲                     │                    │
 *                      └──── waiting ◀───────┴──── close ◀────────┘   (fatal error / stop ──▶ stopped)
 */

import { type KeyObject, randomUUID, sign } from "node:crypto";
import { EventEmitter } from "node:events";
import {
  type AgentMessage,
  agentMessageSchema,
  authPayload,
  type DirectoryInfo,
  PROTOCOL_VERSION,
  parseServerMessage,
  type ServerMessage,
  type WireErrorCode,
} from "@latchkey/protocol";
import WebSocket from "ws";
import { type AgentLogger, silentLogger } from "../log.js";
import { describeNetworkError } from "../net/http.js";
import { describeProxy, proxyAgentFor, proxyFor } from "../net/proxy.js";
import { type BackoffOptions, backoffDelay } from "./backoff.js";
import { type Clock, systemClock, type TimerHandle } from "./clock.js";

export type LinkState = "idle" | "connecting" | "handshake" | "online" | "waiting" | "stopped";

/** Server error codes after which dialling again cannot help. */
export const FATAL_CODES = ["AUTH_FAILED", "AGENT_REVOKED"] as const;
/** Why the link stopped for good: a fatal error code, or REPLACED (another process holds this identity). */
export type FatalCode = (typeof FATAL_CODES)[number] | "REPLACED";

/**
 * Close codes of the server (docs/agent-link.md) that end the link for good, in case the `error`
 * before them was lost: 4001 authentication failed, 4003 revoked, 4009 replaced by a newer link of
 * the same agent — another process runs with this key file, and two would take turns forever.
 */
export const FATAL_CLOSE_CODES: Readonly<Record<number, FatalCode>> = {
  4001: "AUTH_FAILED",
  4003: "AGENT_REVOKED",
  4009: "REPLACED",
};

/** An agent message without its envelope (`v`, `id`), which the link adds. */
export type OutgoingMessage = AgentMessage extends infer M
  ? M extends AgentMessage
    ? Omit<M, "v" | "id">
    : never
  : never;

export interface LinkEvents {
  state: [LinkState];
  /** Welcomed by the server; `directories`: the ids it accepts this agent for (absent: not said). */
  online: [{ heartbeatIntervalMs: number; directories?: string[] }];
  /** A connection ended; `retryInMs` is null when the link will not dial again. */
  offline: [{ code: number; reason: string; retryInMs: number | null }];
  /** A valid message after the handshake (sync.ack, sync.request, op.request…), or a non-fatal error. */
  message: [ServerMessage];
  /** The server refused this agent for good. */
  fatal: [{ code: FatalCode; message: string }];
  /** A message from the server that the agent answered with an `error`. */
  rejected: [{ code: WireErrorCode; detail: string }];
}

export interface AgentLinkOptions {
  /** wss://host/api/v1/agents/link (see net/urls.ts linkUrl). */
  url: URL;
  agentId: string;
  /** The Ed25519 private key from the key file. */
  signingKey: KeyObject;
  version: string;
  /** The directories this agent serves, sent in `auth` (read at each handshake). */
  directories: () => DirectoryInfo[];
  /** PEM CA of the server's certificate; the system's CAs when absent. */
  ca?: string;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  /** [0, 1); Math.random by default. */
  random?: () => number;
  backoff?: BackoffOptions;
  /** From dialling to `welcome`. Default 15 s. */
  handshakeTimeoutMs?: number;
  /** A connection online this long resets the backoff. Default 30 s. */
  stableAfterMs?: number;
  /** The largest frame accepted from the server. Default 1 MiB. */
  maxPayload?: number;
  logger?: AgentLogger;
}

interface Connection {
  ws: WebSocket;
  phase: "connecting" | "challenge" | "welcome" | "online";
  openedAt: number;
  onlineAt: number | null;
  lastSeen: number;
  heartbeatIntervalMs: number;
  handshakeTimer: TimerHandle | null;
  heartbeatTimer: TimerHandle | null;
}

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

export class AgentLink extends EventEmitter<LinkEvents> {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly log: AgentLogger;
  private conn: Connection | undefined;
  private linkState: LinkState = "idle";
  private attempt = 0;
  private reconnectTimer: TimerHandle | null = null;
  private stopping = false;
  private fatalCode: FatalCode | null = null;
  private stopWaiters: (() => void)[] = [];

  constructor(private readonly opts: AgentLinkOptions) {
    super();
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? Math.random;
    this.log = opts.logger ?? silentLogger;
  }

  get state(): LinkState {
    return this.linkState;
  }

  get isOnline(): boolean {
    return this.linkState === "online";
  }

  /** Why the link stopped for good, if the server refused the agent. */
  get fatal(): FatalCode | null {
    return this.fatalCode;
  }

  /** Starts dialling (idempotent). */
  start(): void {
    if (this.linkState !== "idle" && this.linkState !== "stopped") return;
    if (this.fatalCode) return;
    this.stopping = false;
    this.attempt = 0;
    const proxy = proxyFor(this.opts.url, this.opts.env ?? process.env);
    this.log.info(
      { url: this.opts.url.origin, proxy: proxy ? describeProxy(proxy) : null, agentId: this.opts.agentId },
      "link starting",
    );
    this.connect();
  }

  /** Closes the link (code 1000) and stops dialling; resolves once the socket is closed. */
  stop(): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer !== null) {
      this.clock.clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    }
    const conn = this.conn;
    if (!conn) {
      this.setState("stopped");
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      this.stopWaiters.push(resolve);
      try {
        conn.ws.close(1000, "agent stopping");
      } catch {
        conn.ws.terminate();
      }
      // A peer that never completes the closing handshake must not keep the agent alive.
      const t = setTimeout(() => conn.ws.terminate(), 3000);
      t.unref();
    });
  }

  /**
   * Sends a message while online (the link adds `v` and `id`). Returns the message id, or null when
   * the link is not online. Throws on a message that would not validate (a bug in the caller).
   */
  send(message: OutgoingMessage): string | null {
    const conn = this.conn;
    if (conn?.phase !== "online") return null;
    return this.sendOn(conn, message);
  }

  private sendOn(conn: Connection, message: OutgoingMessage): string | null {
    const full = { v: PROTOCOL_VERSION, id: randomUUID(), ...message };
    const checked = agentMessageSchema.safeParse(full);
    if (!checked.success) {
      const where = checked.error.issues[0]?.path.join(".") ?? "";
      throw new Error(`refusing to send an invalid ${message.type} message (at ${where})`);
    }
    if (conn.ws.readyState !== WebSocket.OPEN) return null;
    conn.ws.send(JSON.stringify(full));
    return full.id;
  }

  private setState(s: LinkState): void {
    if (this.linkState === s) return;
    this.linkState = s;
    this.emit("state", s);
  }

  private connect(): void {
    this.reconnectTimer = null;
    if (this.stopping || this.fatalCode) {
      this.setState("stopped");
      return;
    }
    this.setState("connecting");
    const url = this.opts.url;
    let ws: WebSocket;
    try {
      // Inside the try: a malformed HTTPS_PROXY must fail the dial, not the process.
      const agent = proxyAgentFor(url, this.opts.env ?? process.env);
      ws = new WebSocket(url, {
        ...(agent ? { agent } : {}),
        ...(this.opts.ca ? { ca: [this.opts.ca] } : {}),
        rejectUnauthorized: true,
        minVersion: "TLSv1.2",
        maxPayload: this.opts.maxPayload ?? 1024 * 1024,
        handshakeTimeout: this.opts.handshakeTimeoutMs ?? 15_000,
        headers: { "user-agent": `latchkey-agent/${this.opts.version}` },
      });
    } catch (e) {
      this.log.error({ error: (e as Error).message }, "cannot open the link");
      this.scheduleReconnect(1006, "dial failed", null);
      return;
    }
    const now = this.clock.now();
    const conn: Connection = {
      ws,
      phase: "connecting",
      openedAt: now,
      onlineAt: null,
      lastSeen: now,
      heartbeatIntervalMs: 30_000,
      handshakeTimer: null,
      heartbeatTimer: null,
    };
    this.conn = conn;
    conn.handshakeTimer = this.clock.setTimeout(() => {
      if (this.conn !== conn || conn.phase === "online") return;
      this.log.warn({ phase: conn.phase }, "link handshake timed out");
      conn.ws.terminate();
    }, this.opts.handshakeTimeoutMs ?? 15_000);
    ws.on("open", () => {
      if (this.conn !== conn) return;
      conn.phase = "challenge";
      this.setState("handshake");
    });
    ws.on("message", (data) => {
      try {
        this.onFrame(conn, toBuffer(data));
      } catch (e) {
        // A handler bug must not take the process down: log it and drop the connection.
        this.log.error({ error: (e as Error).message }, "link: error while handling a message");
        conn.ws.terminate();
      }
    });
    ws.on("pong", () => {
      conn.lastSeen = this.clock.now();
    });
    ws.on("error", (e) => {
      const code = (e as NodeJS.ErrnoException).code ?? "";
      this.log.warn(
        { error: code ? describeNetworkError(code, e.message) : e.message.slice(0, 200) },
        "link error",
      );
    });
    ws.on("close", (code, reason) => this.onClose(conn, code, reason.toString("utf8").slice(0, 200)));
  }

  private onFrame(conn: Connection, data: Buffer): void {
    if (this.conn !== conn) return;
    conn.lastSeen = this.clock.now();
    const parsed = parseServerMessage(data);
    if (!parsed.ok) {
      this.refuse(conn, parsed.code, parsed.detail, parsed.id);
      return;
    }
    const m = parsed.message;
    if (m.type === "error") {
      this.onServerError(conn, m);
      return;
    }
    switch (conn.phase) {
      case "challenge":
        if (m.type !== "challenge") {
          this.refuse(conn, "UNEXPECTED_MESSAGE", `${m.type} before challenge`, m.id);
          return;
        }
        this.answerChallenge(conn, m.nonce);
        return;
      case "welcome":
        if (m.type !== "welcome") {
          this.refuse(conn, "UNEXPECTED_MESSAGE", `${m.type} before welcome`, m.id);
          return;
        }
        if (m.agentId !== this.opts.agentId) {
          this.refuse(conn, "UNEXPECTED_MESSAGE", "welcome for another agent", m.id);
          conn.ws.close(1002, "welcome for another agent");
          return;
        }
        this.goOnline(conn, m.heartbeatIntervalMs, m.directories);
        return;
      case "online":
        if (m.type === "challenge" || m.type === "welcome") {
          this.refuse(conn, "UNEXPECTED_MESSAGE", `${m.type} after welcome`, m.id);
          return;
        }
        // sync.ack, sync.request, op.request…: for the agent's parts to act on.
        this.emit("message", m);
        return;
      default:
        this.refuse(conn, "UNEXPECTED_MESSAGE", `${m.type} before the socket opened`, m.id);
    }
  }

  private answerChallenge(conn: Connection, nonce: string): void {
    const { agentId } = this.opts;
    const signature = sign(null, authPayload(nonce, agentId), this.opts.signingKey).toString("base64url");
    let directories: DirectoryInfo[];
    try {
      directories = this.opts.directories();
    } catch {
      directories = [];
    }
    this.sendOn(conn, { type: "hello", agentId, version: this.opts.version });
    this.sendOn(conn, { type: "auth", agentId, signature, directories });
    conn.phase = "welcome";
  }

  private goOnline(conn: Connection, heartbeatIntervalMs: number, directories?: string[]): void {
    if (conn.handshakeTimer !== null) this.clock.clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = null;
    conn.phase = "online";
    conn.onlineAt = this.clock.now();
    conn.heartbeatIntervalMs = heartbeatIntervalMs;
    this.setState("online");
    this.log.info({ heartbeatIntervalMs, directories: directories ?? null }, "link online");
    this.scheduleHeartbeat(conn);
    this.emit("online", { heartbeatIntervalMs, ...(directories ? { directories } : {}) });
  }

  private scheduleHeartbeat(conn: Connection): void {
    conn.heartbeatTimer = this.clock.setTimeout(() => {
      if (this.conn !== conn || conn.phase !== "online") return;
      const silentFor = this.clock.now() - conn.lastSeen;
      // Two missed intervals (plus a little): the server or the path to it is gone.
      if (silentFor > 2 * conn.heartbeatIntervalMs + 1000) {
        this.log.warn({ silentForMs: silentFor }, "server silent: dropping the link");
        conn.ws.terminate();
        return;
      }
      try {
        conn.ws.ping();
      } catch {
        // the close event follows
      }
      this.sendOn(conn, { type: "heartbeat", at: this.clock.now() });
      this.scheduleHeartbeat(conn);
    }, conn.heartbeatIntervalMs);
  }

  private onServerError(conn: Connection, m: Extract<ServerMessage, { type: "error" }>): void {
    const fatal = (FATAL_CODES as readonly string[]).includes(m.code) ? (m.code as FatalCode) : null;
    if (fatal) {
      this.goFatal(conn, fatal, m.message);
      return;
    }
    this.log.warn(
      { code: m.code, message: m.message, inReplyTo: m.inReplyTo ?? null },
      "server error message",
    );
    if (conn.phase === "online") this.emit("message", m);
  }

  private goFatal(conn: Connection | undefined, code: FatalCode, message: string): void {
    if (this.fatalCode) return;
    this.fatalCode = code;
    this.log.error(
      { code, message },
      code === "AGENT_REVOKED"
        ? "the server revoked this agent: stopping for good (enroll again with a new token)"
        : code === "REPLACED"
          ? "another process connected with this agent's identity and replaced this link: stopping (run one agent per key file)"
          : "the server did not accept this agent's identity: stopping for good (check the key file, or enroll again)",
    );
    this.emit("fatal", { code, message });
    if (conn && conn.ws.readyState !== WebSocket.CLOSED) conn.ws.close(1000, "refused by the server");
  }

  private refuse(conn: Connection, code: WireErrorCode, detail: string, inReplyTo?: string): void {
    this.log.warn({ code, detail }, "refused a message from the server");
    this.emit("rejected", { code, detail });
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    const reply = {
      v: PROTOCOL_VERSION,
      id: randomUUID(),
      type: "error" as const,
      code,
      message: detail.slice(0, 512),
      ...(inReplyTo && inReplyTo.length <= 64 ? { inReplyTo } : {}),
    };
    conn.ws.send(JSON.stringify(reply));
  }

  private onClose(conn: Connection, code: number, reason: string): void {
    if (this.conn !== conn) return;
    this.conn = undefined;
    if (conn.handshakeTimer !== null) this.clock.clearTimeout(conn.handshakeTimer);
    if (conn.heartbeatTimer !== null) this.clock.clearTimeout(conn.heartbeatTimer);
    const now = this.clock.now();
    if (conn.onlineAt !== null && now - conn.onlineAt >= (this.opts.stableAfterMs ?? 30_000))
      this.attempt = 0;
    const byCode = FATAL_CLOSE_CODES[code];
    if (byCode) this.goFatal(undefined, byCode, reason);
    this.scheduleReconnect(code, reason, conn.onlineAt);
  }

  private scheduleReconnect(code: number, reason: string, onlineAt: number | null): void {
    if (this.stopping || this.fatalCode) {
      this.setState("stopped");
      this.emit("offline", { code, reason, retryInMs: null });
      for (const w of this.stopWaiters.splice(0)) w();
      return;
    }
    const delay = backoffDelay(this.attempt, this.random, this.opts.backoff);
    this.attempt++;
    this.log.info(
      { code, reason, wasOnline: onlineAt !== null, retryInMs: delay, attempt: this.attempt },
      code === 1012 ? "server restarting: dialling again" : "link closed: dialling again",
    );
    this.setState("waiting");
    this.emit("offline", { code, reason, retryInMs: delay });
    this.reconnectTimer = this.clock.setTimeout(() => this.connect(), delay);
  }
}
