/**
 * Where sync batches go. The engine hands each batch to a SyncSink and moves its cursor only after
 * every batch of the pass was acknowledged. LinkSyncSink sends over the live link and resolves on the
 * matching `sync.ack`; it fails the batch on the server's `error` (inReplyTo the batch), when the link
 * drops, or after ackTimeoutMs.
 */
import type { SyncedUser } from "@latchkey/protocol";
import type { Clock, TimerHandle } from "../link/clock.js";
import { systemClock } from "../link/clock.js";
import type { AgentLink } from "../link/link.js";

export interface SyncBatch {
  directoryId: string;
  syncId: string;
  full: boolean;
  seq: number;
  final: boolean;
  users: SyncedUser[];
  deleted: string[];
}

export interface SyncAck {
  syncId: string;
  seq: number;
  upserted: number;
  removed: number;
  /** Users the server did not store, and why (e.g. username_taken_cloud). */
  rejected: { anchor: string; reason: string }[];
}

export interface SyncSink {
  send(batch: SyncBatch): Promise<SyncAck>;
}

export class SyncSendError extends Error {
  constructor(
    message: string,
    readonly reason: "offline" | "timeout" | "rejected",
  ) {
    super(message);
    this.name = "SyncSendError";
  }
}

interface Pending {
  messageId: string;
  resolve: (a: SyncAck) => void;
  reject: (e: Error) => void;
  timer: TimerHandle;
}

/**
 * The server closes a link that sends more than 50 messages/s sustained (burst 200). Batches are
 * paced below that — 40/s, burst 100, i.e. at most 20,000 users/s — so heartbeats always fit.
 */
export const DEFAULT_PACING = { perSecond: 40, burst: 100 };

export class LinkSyncSink implements SyncSink {
  private readonly pending = new Map<string, Pending>();
  private readonly clock: Clock;
  private tokens: number;
  private last: number;
  private readonly pacing: { perSecond: number; burst: number };

  constructor(
    private readonly link: AgentLink,
    private readonly opts: {
      ackTimeoutMs: number;
      clock?: Clock;
      pacing?: { perSecond: number; burst: number };
    },
  ) {
    this.clock = opts.clock ?? systemClock;
    this.pacing = opts.pacing ?? DEFAULT_PACING;
    this.tokens = this.pacing.burst;
    this.last = performance.now();
    link.on("message", (m) => {
      if (m.type === "sync.ack") {
        const key = `${m.syncId}:${m.seq}`;
        const p = this.pending.get(key);
        if (!p) return;
        this.settle(key);
        p.resolve({
          syncId: m.syncId,
          seq: m.seq,
          upserted: m.upserted,
          removed: m.removed,
          rejected: m.rejected ?? [],
        });
      } else if (m.type === "error" && m.inReplyTo) {
        for (const [key, p] of this.pending) {
          if (p.messageId !== m.inReplyTo) continue;
          this.settle(key);
          p.reject(new SyncSendError(`the server refused a sync batch: ${m.code} ${m.message}`, "rejected"));
        }
      }
    });
    link.on("offline", () => this.failAll(new SyncSendError("the link to the server dropped", "offline")));
  }

  private settle(key: string): void {
    const p = this.pending.get(key);
    if (!p) return;
    this.clock.clearTimeout(p.timer);
    this.pending.delete(key);
  }

  private failAll(e: SyncSendError): void {
    for (const [key, p] of [...this.pending]) {
      this.settle(key);
      p.reject(e);
    }
  }

  /** Waits (real time) until the pacing bucket holds a token, then takes it. */
  private async pace(): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(
        this.pacing.burst,
        this.tokens + ((now - this.last) / 1000) * this.pacing.perSecond,
      );
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.ceil(((1 - this.tokens) * 1000) / this.pacing.perSecond)));
    }
  }

  async send(batch: SyncBatch): Promise<SyncAck> {
    await this.pace();
    return new Promise<SyncAck>((resolve, reject) => {
      let messageId: string | null;
      try {
        messageId = this.link.send({ type: "sync.batch", ...batch });
      } catch (e) {
        reject(e);
        return;
      }
      if (messageId === null) {
        reject(new SyncSendError("the link to the server is not online", "offline"));
        return;
      }
      const key = `${batch.syncId}:${batch.seq}`;
      const timer = this.clock.setTimeout(() => {
        this.settle(key);
        reject(
          new SyncSendError(
            `no sync.ack for batch ${batch.seq} within ${this.opts.ackTimeoutMs} ms`,
            "timeout",
          ),
        );
      }, this.opts.ackTimeoutMs);
      this.pending.set(key, { messageId, resolve, reject, timer });
    });
  }
}
