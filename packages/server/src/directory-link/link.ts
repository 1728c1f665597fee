/**
 * One agent's link, from the WebSocket upgrade to its close. The states:
 *
 *   challenged ──hello──▶ greeted ──auth (signature verifies)──▶ ready ──▶ closed
 *        │                   │                                      │
 *        └── anything else, a malformed message, or no auth within authTimeoutMs: error + close
 *
 * In `ready`, heartbeats keep it alive (silent for SILENT_INTERVALS intervals: closed) and sync
 * batches are applied in arrival order, one at a time. A malformed or unknown message gets an
 * `error` reply and is logged by type only; before authentication it also closes the link. Nothing
 * an agent sends can throw out of this class: every handler's failure is caught, logged and
 * answered with INTERNAL.
 */
import { randomBytes } from "node:crypto";
import {
  type AgentMessage,
  type DirectoryInfo,
  type ParseResult,
  PROTOCOL_VERSION,
  parseAgentMessage,
  type ServerMessage,
  type WireErrorCode,
} from "@latchkey/protocol";
import type { Kysely } from "kysely";
import type { WebSocket } from "ws";
import type { AuditSink } from "../audit/emitter.js";
import type { Clock } from "../core/clock.js";
import { cryptoRandom, newId, type Random } from "../core/random.js";
import type { Logger } from "../logging/logger.js";
import type { Database } from "../store/schema.js";
import type { BatchOutcome, SyncIngestor } from "../sync/ingest.js";
import { decideDirectories } from "./directories.js";
import { verifyAuthSignature } from "./keys.js";
import { SILENT_INTERVALS } from "./liveness.js";
import { agentAuthFailures, agentHeartbeats, agentMessagesRefused } from "./metrics.js";
import type { AgentRegistry, LiveLink, OnlineAgent } from "./registry.js";

/** WebSocket close codes the server uses (docs/agent-link.md). */
export const CLOSE = {
  /** Authentication failed (unknown agent, revoked agent, bad signature). */
  AUTH_FAILED: 4001,
  /** The agent was revoked while connected. */
  REVOKED: 4003,
  /** No authentication in time, or no message for SILENT_INTERVALS heartbeat intervals. */
  TIMEOUT: 4008,
  /** A newer link of the same agent replaced this one. */
  REPLACED: 4009,
  /** Too many messages. */
  RATE_LIMITED: 4029,
  /** A protocol violation before authentication (unexpected, malformed, other version). */
  POLICY: 1008,
  /** The server is stopping or restarting: reconnect. */
  SERVICE_RESTART: 1012,
  /** A failure on the server's side. */
  INTERNAL: 1011,
} as const;

export interface LinkTimings {
  heartbeatIntervalMs: number;
  heartbeatWriteEveryMs: number;
  authTimeoutMs: number;
}

export interface LinkLimits {
  /** Sustained messages per second per link. */
  messagesPerSecond: number;
  /** Messages a link may send in a burst above the sustained rate. */
  messageBurst: number;
  /** Messages received and not yet handled (sync batches wait for the one before). */
  maxPending: number;
}

export interface LinkContext {
  db: Kysely<Database>;
  clock: Clock;
  logger: Logger;
  audit: AuditSink;
  random?: Random;
  registry: AgentRegistry;
  ingest: SyncIngestor;
  timings: LinkTimings;
  limits: LinkLimits;
  /** Directory ids from the configuration; empty: any. */
  configuredDirectories: readonly string[];
  /** The tenant an unknown agent's failed authentication is recorded under. */
  failureTenantId(): Promise<string | null>;
}

type Phase = "challenged" | "greeted" | "ready" | "closed";

const REPLY: Record<"MALFORMED_MESSAGE" | "UNKNOWN_MESSAGE" | "PROTOCOL_VERSION", string> = {
  MALFORMED_MESSAGE: "the message is not valid JSON or does not match its schema",
  UNKNOWN_MESSAGE: "unknown message type",
  PROTOCOL_VERSION: `this server speaks protocol version ${PROTOCOL_VERSION}`,
};

/** At most this many solicited answers are owed to a link (a bound, whatever the server sent). */
const MAX_CREDIT = 10_000;

/** A token bucket on real time (message rates are not a matter of the injected clock). */
class Bucket {
  private tokens: number;
  private last = performance.now();
  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }
  take(): boolean {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.perSecond);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export class AgentLink {
  private phase: Phase = "challenged";
  private readonly nonce = randomBytes(32).toString("base64url");
  private readonly opened: number;
  private lastActivity: number;
  private lastHeartbeatWrite = 0;
  private claimed: { agentId: string; version: string } | null = null;
  private agent: OnlineAgent | null = null;
  private liveLink: LiveLink | null = null;
  private work: Promise<void> = Promise.resolve();
  private pending = 0;
  private readonly bucket: Bucket;
  /**
   * Answers the server asked for: each op.request sent adds one, and a message received spends one
   * before it spends the rate bucket. An agent busy with many operations answers as fast as the
   * server sends them without being closed for its rate (measured: 2 × 100 resets a second closed
   * the link at the default 50/s); the extra it may send is bounded by what the server sent.
   */
  private answerCredit = 0;
  private readonly log: Logger;
  private closeNoted = false;

  constructor(
    private readonly socket: WebSocket,
    private readonly ctx: LinkContext,
    private readonly remoteAddress: string | null,
    private readonly onEnd: (link: AgentLink) => void,
  ) {
    this.opened = ctx.clock.now();
    this.lastActivity = this.opened;
    this.bucket = new Bucket(ctx.limits.messagesPerSecond, ctx.limits.messageBurst);
    this.log = ctx.logger.child({ component: "agent-link", remoteAddress });
  }

  /** The authenticated agent's id, once authenticated. */
  get agentId(): string | null {
    return this.agent?.agentId ?? null;
  }

  get isOpen(): boolean {
    return this.phase !== "closed";
  }

  /** Sends the challenge and starts listening. */
  start(): void {
    this.socket.on("message", (data, isBinary) => this.receive(data, isBinary));
    this.socket.on("close", (code) => this.closed(code));
    this.send({
      v: PROTOCOL_VERSION,
      id: this.newId(),
      type: "challenge",
      nonce: this.nonce,
      serverTime: this.ctx.clock.now(),
    });
  }

  /** Called periodically: closes a link that did not authenticate in time or fell silent. */
  checkTimeouts(now: number): void {
    if (this.phase === "closed") return;
    if (this.phase !== "ready") {
      if (now - this.opened > this.ctx.timings.authTimeoutMs)
        this.close(CLOSE.TIMEOUT, "authentication timeout");
      return;
    }
    if (now - this.lastActivity > SILENT_INTERVALS * this.ctx.timings.heartbeatIntervalMs) {
      this.log.info({ agentId: this.agentId }, "agent link silent; closing");
      this.close(CLOSE.TIMEOUT, "heartbeat timeout");
    }
  }

  /** Closes the link (idempotent). */
  close(code: number, reason: string): void {
    if (this.phase === "closed") return;
    this.phase = "closed";
    try {
      this.socket.close(code, reason);
    } catch {
      this.socket.terminate();
    }
  }

  /** Tells the agent it was revoked and closes. */
  revoked(): void {
    if (this.phase === "closed") return;
    this.sendError("AGENT_REVOKED", "this agent was revoked by an administrator");
    this.close(CLOSE.REVOKED, "agent revoked");
  }

  /** Resolves when every message received so far has been handled. */
  async drain(): Promise<void> {
    await this.work;
  }

  /** Waits until the socket is closed, or terminates it after `ms`. */
  async closedWithin(ms: number): Promise<void> {
    if (this.socket.readyState === this.socket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.socket.terminate();
        resolve();
      }, ms);
      timer.unref();
      this.socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private newId(): string {
    return newId(this.ctx.random ?? cryptoRandom);
  }

  private send(message: ServerMessage): boolean {
    if (this.socket.readyState !== this.socket.OPEN) return false;
    try {
      this.socket.send(JSON.stringify(message));
      return true;
    } catch (e) {
      this.log.warn({ err: e }, "agent link send failed");
      return false;
    }
  }

  private sendError(code: WireErrorCode, message: string, inReplyTo?: string): void {
    this.send({
      v: PROTOCOL_VERSION,
      id: this.newId(),
      type: "error",
      code,
      message: message.slice(0, 512),
      ...(inReplyTo !== undefined ? { inReplyTo } : {}),
    });
  }

  private receive(data: unknown, isBinary: boolean): void {
    if (this.phase === "closed") return;
    this.lastActivity = this.ctx.clock.now();
    if (this.answerCredit > 0) this.answerCredit--;
    else if (!this.bucket.take()) {
      this.log.warn({ agentId: this.agentId, errorCode: "RATE_LIMITED" }, "agent link over its message rate");
      agentMessagesRefused.inc({ code: "RATE_LIMITED" });
      this.sendError("RATE_LIMITED", "too many messages");
      this.close(CLOSE.RATE_LIMITED, "rate limited");
      return;
    }
    if (this.pending >= this.ctx.limits.maxPending) {
      this.log.warn(
        { agentId: this.agentId, errorCode: "RATE_LIMITED" },
        "agent link has too much pending work",
      );
      agentMessagesRefused.inc({ code: "RATE_LIMITED" });
      this.sendError("RATE_LIMITED", "too many messages waiting; wait for the answers before sending more");
      this.close(CLOSE.RATE_LIMITED, "rate limited");
      return;
    }
    const raw = toText(data, isBinary);
    this.pending++;
    this.work = this.work
      .then(() => this.handle(raw))
      .catch((e: unknown) => {
        this.log.error({ err: e, agentId: this.agentId }, "agent message handling failed");
        this.sendError("INTERNAL", "the server could not handle the message");
      })
      .finally(() => {
        this.pending--;
      });
  }

  private async handle(raw: string | null): Promise<void> {
    if (this.phase === "closed") return;
    const parsed: ParseResult<AgentMessage> =
      raw === null
        ? { ok: false, code: "MALFORMED_MESSAGE", detail: "binary frame" }
        : parseAgentMessage(raw);
    if (!parsed.ok) {
      // Logged by code and field path only: never the message's content.
      this.log.info(
        {
          agentId: this.agentId,
          errorCode: parsed.code,
          field: parsed.code === "MALFORMED_MESSAGE" ? parsed.detail.slice(0, 100) : undefined,
        },
        "agent message refused",
      );
      agentMessagesRefused.inc({ code: parsed.code });
      this.sendError(parsed.code, REPLY[parsed.code], parsed.id);
      if (this.phase !== "ready") this.close(CLOSE.POLICY, "protocol error before authentication");
      return;
    }
    const m = parsed.message;
    if (this.phase === "challenged" && m.type === "hello") {
      this.claimed = { agentId: m.agentId, version: m.version };
      this.phase = "greeted";
      return;
    }
    if (this.phase === "greeted" && m.type === "auth") {
      await this.authenticate(m);
      return;
    }
    if (this.phase !== "ready") {
      this.unexpected(m);
      this.close(CLOSE.POLICY, "unexpected message before authentication");
      return;
    }
    switch (m.type) {
      case "heartbeat":
        await this.heartbeat();
        return;
      case "sync.batch":
        await this.syncBatch(m);
        return;
      case "op.result":
        // writeback/ matches it to the operation it waits for; an unknown opId is ignored there.
        if (this.agent) this.ctx.registry.deliverResult(this.agent.agentId, m);
        return;
      case "error":
        // Never answered (two peers must not trade errors forever); logged by code.
        this.log.warn(
          { agentId: this.agentId, errorCode: m.code, inReplyTo: m.inReplyTo },
          "agent reported an error",
        );
        return;
      default:
        this.unexpected(m);
    }
  }

  private unexpected(m: AgentMessage): void {
    this.log.info(
      { agentId: this.agentId, type: m.type, errorCode: "UNEXPECTED_MESSAGE" },
      "agent message refused",
    );
    agentMessagesRefused.inc({ code: "UNEXPECTED_MESSAGE" });
    this.sendError("UNEXPECTED_MESSAGE", `${m.type} is not allowed now`, m.id);
  }

  private async authenticate(m: Extract<AgentMessage, { type: "auth" }>): Promise<void> {
    const claimed = this.claimed;
    const row = await this.ctx.db
      .selectFrom("agents")
      .selectAll()
      .where("id", "=", m.agentId)
      .executeTakeFirst();
    const signed = verifyAuthSignature(row?.ed25519_public ?? null, this.nonce, m.agentId, m.signature);
    const reason = !row
      ? "agent_unknown"
      : !signed || claimed?.agentId !== m.agentId
        ? "signature_invalid"
        : row.revoked_at !== null
          ? "agent_revoked"
          : null;
    if (reason !== null || !row || !claimed) {
      await this.authFailed(reason ?? "agent_unknown", m.agentId, row?.tenant_id ?? null);
      return;
    }
    const decision = decideDirectories(m.directories, row.directory_id, this.ctx.configuredDirectories);
    const now = this.ctx.clock.now();
    const taken = await this.ctx.db
      .updateTable("agents")
      .set({
        version: claimed.version,
        directories_json: JSON.stringify(decision.accepted),
        link_instance: this.ctx.registry.instanceId,
        link_connected_at: now,
        last_heartbeat_at: now,
      })
      .where("id", "=", row.id)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    if (Number(taken.numUpdatedRows) !== 1) {
      await this.authFailed("agent_revoked", row.id, row.tenant_id);
      return;
    }
    if (this.phase === "closed") {
      // The socket went away while we looked: do not leave the store saying we hold a link.
      await this.releaseInStore(row.id, now);
      return;
    }
    this.lastHeartbeatWrite = now;
    this.phase = "ready";
    this.agent = {
      agentId: row.id,
      tenantId: row.tenant_id,
      name: row.name,
      version: claimed.version,
      directories: decision.accepted,
      connectedAt: now,
      lastHeartbeatAt: now,
      remoteAddress: this.remoteAddress,
    };
    const self = this.agent;
    this.liveLink = {
      agentId: self.agentId,
      tenantId: self.tenantId,
      view: () => ({ ...self, directories: [...self.directories] }),
      send: (message) => {
        const sent = this.send(message);
        if (sent && message.type === "op.request")
          this.answerCredit = Math.min(this.answerCredit + 1, MAX_CREDIT);
        return sent;
      },
      close: (code, reason) => this.close(code, reason),
    };
    const replaced = this.ctx.registry.add(this.liveLink);
    replaced?.close(CLOSE.REPLACED, "replaced by a newer link");
    if (decision.refused.length > 0) {
      this.log.warn(
        { agentId: row.id, refusedDirectories: decision.refused },
        "agent announced directories it may not serve",
      );
    }
    this.send({
      v: PROTOCOL_VERSION,
      id: this.newId(),
      type: "welcome",
      agentId: row.id,
      heartbeatIntervalMs: this.ctx.timings.heartbeatIntervalMs,
      directories: decision.accepted.map((d) => d.id),
    });
    this.log.info(
      { agentId: row.id, version: claimed.version, directories: decision.accepted.map((d) => d.id) },
      "agent link authenticated",
    );
    await this.ctx.audit.emit({
      tenantId: row.tenant_id,
      event: "agent.connected",
      result: "success",
      target: row.id,
      ip: this.remoteAddress,
      details: {
        version: claimed.version,
        directories: decision.accepted.map((d: DirectoryInfo) => d.id),
        refusedDirectories: decision.refused.map((d) => d.id),
      },
    });
  }

  private async authFailed(
    reason: "agent_unknown" | "signature_invalid" | "agent_revoked",
    claimedId: string,
    tenantId: string | null,
  ): Promise<void> {
    agentAuthFailures.inc({ reason });
    this.log.warn(
      { claimedAgentId: claimedId, reason, errorCode: "AUTH_FAILED" },
      "agent authentication failed",
    );
    // One answer for all three, so the peer learns nothing about which agent ids exist.
    this.sendError("AUTH_FAILED", "authentication failed");
    this.close(CLOSE.AUTH_FAILED, "authentication failed");
    const tenant = tenantId ?? (await this.ctx.failureTenantId());
    if (tenant) {
      await this.ctx.audit.emit({
        tenantId: tenant,
        event: "agent.auth_failed",
        result: "failure",
        reason,
        target: tenantId ? claimedId : null,
        ip: this.remoteAddress,
        details: tenantId ? {} : { claimedAgentId: claimedId },
      });
    }
  }

  private async heartbeat(): Promise<void> {
    const agent = this.agent;
    if (!agent) return;
    const now = this.ctx.clock.now();
    agent.lastHeartbeatAt = now;
    agentHeartbeats.inc();
    let revoked: boolean;
    if (now - this.lastHeartbeatWrite >= this.ctx.timings.heartbeatWriteEveryMs) {
      const r = await this.ctx.db
        .updateTable("agents")
        .set({ last_heartbeat_at: now, link_instance: this.ctx.registry.instanceId })
        .where("id", "=", agent.agentId)
        .where("revoked_at", "is", null)
        .executeTakeFirst();
      revoked = Number(r.numUpdatedRows) === 0;
      if (!revoked) this.lastHeartbeatWrite = now;
    } else {
      const r = await this.ctx.db
        .selectFrom("agents")
        .select("revoked_at")
        .where("id", "=", agent.agentId)
        .executeTakeFirst();
      revoked = !r || r.revoked_at !== null;
    }
    if (revoked) {
      this.log.warn({ agentId: agent.agentId }, "agent revoked; closing its link");
      this.revoked();
    }
  }

  private async syncBatch(m: Extract<AgentMessage, { type: "sync.batch" }>): Promise<void> {
    const agent = this.agent;
    if (!agent) return;
    let outcome: BatchOutcome;
    try {
      outcome = await this.ctx.ingest.applyBatch(
        {
          tenantId: agent.tenantId,
          agentId: agent.agentId,
          directories: new Set(agent.directories.map((d) => d.id)),
        },
        m,
      );
    } catch (e) {
      // Nothing of the batch was applied (one transaction): the agent may send it again.
      this.log.error({ err: e, agentId: agent.agentId, syncId: m.syncId, seq: m.seq }, "sync batch failed");
      this.sendError("INTERNAL", "the batch could not be applied; nothing of it was stored", m.id);
      return;
    }
    if (outcome.kind === "refused") {
      this.sendError("SYNC_REJECTED", `${outcome.reason}: ${outcome.message}`, m.id);
      return;
    }
    this.send({
      v: PROTOCOL_VERSION,
      id: this.newId(),
      type: "sync.ack",
      syncId: m.syncId,
      seq: m.seq,
      upserted: outcome.upserted,
      removed: outcome.removed,
      ...(outcome.rejected.length > 0 ? { rejected: outcome.rejected } : {}),
    });
  }

  private closed(code: number): void {
    this.phase = "closed";
    if (this.closeNoted) return;
    this.closeNoted = true;
    this.recordClose(code);
    // After recordClose queued its work, so whoever drains this link waits for it too.
    this.onEnd(this);
  }

  private recordClose(code: number): void {
    const agent = this.agent;
    const live = this.liveLink;
    if (!agent || !live) return;
    this.ctx.registry.remove(live);
    this.log.info({ agentId: agent.agentId, closeCode: code }, "agent link closed");
    // The store forgets this instance as the link holder, unless a newer link took over meanwhile.
    const stillOurs = this.ctx.registry.link(agent.agentId) === undefined;
    this.work = this.work
      .then(async () => {
        await this.ctx.audit.emit({
          tenantId: agent.tenantId,
          event: "agent.disconnected",
          result: "info",
          target: agent.agentId,
          ip: this.remoteAddress,
          details: { closeCode: code },
        });
        if (stillOurs) await this.releaseInStore(agent.agentId, agent.connectedAt);
      })
      .catch((e: unknown) =>
        this.log.warn({ err: e, agentId: agent.agentId }, "recording the link's close failed"),
      );
  }

  private async releaseInStore(agentId: string, connectedAt: number): Promise<void> {
    await this.ctx.db
      .updateTable("agents")
      .set({ link_instance: null })
      .where("id", "=", agentId)
      .where("link_instance", "=", this.ctx.registry.instanceId)
      .where("link_connected_at", "=", connectedAt)
      .execute();
  }
}

function toText(data: unknown, isBinary: boolean): string | null {
  if (isBinary) return null;
  if (typeof data === "string") return data;
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]).toString("utf8");
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString("utf8");
  return null;
}
