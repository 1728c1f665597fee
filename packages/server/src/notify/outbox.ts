/**
 * The notification outbox: messages are rows, sealed at rest, delivered by a worker.
 *
 * Callers never send inline (a slow provider must not show in a response, and a message must
 * survive a restart). `Outbox.enqueue` seals {to, subject, text, html, code} with the data key,
 * bound to the row by the associated data `outbox:<id>`, so no code and no address is readable in
 * the table. `OutboxWorker` claims due rows so that several instances never deliver the same
 * message twice, opens the payload in memory, hands it to the channel's transport, and wipes the
 * payload when the row reaches a final state (sent or failed).
 *
 * Claiming: a claimed row moves to `sending` with `next_attempt_at` pushed one lease ahead; a
 * worker that dies mid-send leaves a row whose lease runs out and another worker takes it up
 * (at-least-once only in that crash case).
 */
import { type Kysely, sql } from "kysely";
import { z } from "zod";
import type { AuditSink } from "../audit/emitter.js";
import type { Clock } from "../core/clock.js";
import { LatchkeyError } from "../core/errors.js";
import { cryptoRandom, newId, type Random } from "../core/random.js";
import { openData, type ServerSecrets, sealData } from "../core/secrets.js";
import type { Engine } from "../store/db.js";
import type { Database } from "../store/schema.js";
import {
  CHANNELS,
  type Channel,
  type ChannelTransports,
  type MessageInput,
  type OutboundMessage,
  safeReason,
} from "./types.js";

/** The subset of a pino logger the outbox uses; messages never include content or recipients. */
export interface OutboxLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const messageInputSchema = z.object({
  tenantId: z.string().min(1).max(100),
  channel: z.enum(CHANNELS),
  template: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[a-z0-9_.-]+$/),
  to: z.string().trim().min(1).max(320),
  subject: z.string().max(500).optional(),
  text: z.string().min(1).max(100_000),
  html: z.string().max(500_000).optional(),
  code: z.string().max(32).optional(),
});

const payloadSchema = z.object({
  to: z.string(),
  subject: z.string().optional(),
  text: z.string(),
  html: z.string().optional(),
  code: z.string().optional(),
});

function aadFor(id: string): string {
  return `outbox:${id}`;
}

export interface OutboxOptions {
  db: Kysely<Database>;
  clock: Clock;
  secrets: ServerSecrets;
  random?: Random;
  audit?: AuditSink;
  logger?: OutboxLogger;
}

export class Outbox {
  private readonly listeners = new Set<() => void>();

  constructor(private readonly opts: OutboxOptions) {}

  /** Seals and queues one message; returns its outbox id. Throws VALIDATION_FAILED on bad input. */
  async enqueue(input: MessageInput): Promise<string> {
    const parsed = messageInputSchema.safeParse(input);
    if (!parsed.success) {
      // Only the failing field paths: the input may hold a code or an address.
      const fields = parsed.error.issues.map((i) => i.path.join(".")).join(",");
      throw new LatchkeyError("VALIDATION_FAILED", `invalid outbox message (${fields})`, { fields });
    }
    const m = parsed.data;
    const { db, clock, secrets } = this.opts;
    const id = newId(this.opts.random ?? cryptoRandom);
    const payload = JSON.stringify({
      to: m.to,
      subject: m.subject,
      text: m.text,
      html: m.html,
      code: m.code,
    });
    const now = clock.now();
    await db
      .insertInto("outbox")
      .values({
        id,
        tenant_id: m.tenantId,
        channel: m.channel,
        template: m.template,
        payload_sealed: sealData(secrets, payload, aadFor(id)),
        state: "queued",
        attempts: 0,
        next_attempt_at: now,
        last_error: null,
        created_at: now,
        sent_at: null,
      })
      .execute();
    await safeAudit(this.opts, {
      tenantId: m.tenantId,
      event: "notification.queued",
      result: "info",
      details: { outboxId: id, channel: m.channel, template: m.template },
    });
    for (const l of this.listeners) {
      try {
        l();
      } catch {
        // A listener's failure must not fail the enqueue; the worker's poll picks the row up anyway.
      }
    }
    return id;
  }

  /** Called after each enqueue (the worker uses it to deliver at once); returns an unsubscribe. */
  onQueued(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

async function safeAudit(
  opts: { audit?: AuditSink; logger?: OutboxLogger },
  record: Parameters<AuditSink["emit"]>[0],
): Promise<void> {
  if (!opts.audit) return;
  try {
    await opts.audit.emit(record);
  } catch (e) {
    opts.logger?.warn({ event: record.event, reason: safeReason(e).reason }, "audit write failed");
  }
}

export interface OutboxWorkerOptions {
  db: Kysely<Database>;
  engine: Engine;
  clock: Clock;
  secrets: ServerSecrets;
  transports: ChannelTransports;
  audit?: AuditSink;
  logger?: OutboxLogger;
  /** When given, the worker drains right after each enqueue instead of waiting for the next poll. */
  outbox?: Outbox;
  /** Time between polls while started. Default 2000 ms. */
  pollIntervalMs?: number;
  /** Delivery attempts before a message is marked failed. Default 6. */
  maxAttempts?: number;
  /** Delay before the 2nd attempt; doubles each time (10 s, 20 s, 40 s …). Default 10 000 ms. */
  baseDelayMs?: number;
  /** Upper bound of the backoff delay. Default 15 min. */
  maxDelayMs?: number;
  /** How long a claim is held before another worker may take the row over. Default 5 min. */
  leaseMs?: number;
  /** Most messages handled by one drainOnce. Default 100. */
  maxPerDrain?: number;
}

interface ClaimedRow {
  id: string;
  tenant_id: string;
  channel: string;
  template: string;
  payload_sealed: string | null;
  attempts: number;
}

export class OutboxWorker {
  private readonly pollIntervalMs: number;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly leaseMs: number;
  private readonly maxPerDrain: number;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private draining: Promise<number> | null = null;
  private again = false;
  private unsubscribe: (() => void) | null = null;

  constructor(private readonly opts: OutboxWorkerOptions) {
    this.pollIntervalMs = opts.pollIntervalMs ?? 2000;
    this.maxAttempts = opts.maxAttempts ?? 6;
    this.baseDelayMs = opts.baseDelayMs ?? 10_000;
    this.maxDelayMs = opts.maxDelayMs ?? 15 * 60_000;
    this.leaseMs = opts.leaseMs ?? 5 * 60_000;
    this.maxPerDrain = opts.maxPerDrain ?? 100;
    if (this.maxAttempts < 1)
      throw new LatchkeyError("CONFIG_INVALID", "outbox maxAttempts must be at least 1");
  }

  /** The delay before attempt `attempts + 1`, after `attempts` failed ones. */
  backoffMs(attempts: number): number {
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.max(0, attempts - 1));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.opts.outbox?.onQueued(() => this.wake()) ?? null;
    this.wake();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.unsubscribe = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.draining?.catch(() => 0);
  }

  /** Drain now (coalesced with a drain in progress), then keep polling. */
  private wake(): void {
    if (!this.running) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.draining = this.drainOnce()
      .then((handled) => {
        // A full batch means more may be due: go on at once rather than after a poll interval.
        if (handled >= this.maxPerDrain) this.again = true;
        return handled;
      })
      .catch((e: unknown) => {
        // A store outage must not kill the worker; the next poll tries again.
        this.opts.logger?.warn({ reason: safeReason(e).reason }, "outbox drain failed");
        return 0;
      })
      .finally(() => {
        this.draining = null;
        if (!this.running) return;
        if (this.again) {
          this.again = false;
          setImmediate(() => this.wake());
        } else {
          this.timer = setTimeout(() => this.wake(), this.pollIntervalMs);
          this.timer.unref();
        }
      });
  }

  /** Claims and handles every due message (up to maxPerDrain); returns how many were handled. */
  async drainOnce(): Promise<number> {
    let handled = 0;
    while (handled < this.maxPerDrain) {
      const row = await this.claim();
      if (!row) break;
      await this.handle(row);
      handled++;
    }
    return handled;
  }

  private async claim(): Promise<ClaimedRow | null> {
    const { db, engine, clock } = this.opts;
    const now = clock.now();
    const leaseEnd = now + this.leaseMs;
    if (engine === "postgres") {
      // The row lock taken by the subquery makes concurrent claimers skip to the next row.
      const res = await sql<ClaimedRow>`
        update outbox
           set state = 'sending', attempts = attempts + 1, next_attempt_at = ${leaseEnd}
         where id = (
           select id from outbox
            where state in ('queued', 'sending') and next_attempt_at <= ${now}
            order by next_attempt_at
            limit 1
            for update skip locked)
        returning id, tenant_id, channel, template, payload_sealed, attempts`.execute(db);
      return res.rows[0] ?? null;
    }
    // SQLite: compare-and-set on the state and due time we saw; only one claimer's update matches.
    const candidates = await db
      .selectFrom("outbox")
      .select(["id", "state", "next_attempt_at"])
      .where("state", "in", ["queued", "sending"])
      .where("next_attempt_at", "<=", now)
      .orderBy("next_attempt_at")
      .limit(10)
      .execute();
    for (const c of candidates) {
      const res = await db
        .updateTable("outbox")
        .set((eb) => ({ state: "sending", attempts: eb("attempts", "+", 1), next_attempt_at: leaseEnd }))
        .where("id", "=", c.id)
        .where("state", "=", c.state)
        .where("next_attempt_at", "=", c.next_attempt_at)
        .executeTakeFirst();
      if (res.numUpdatedRows !== 1n) continue;
      const row = await db
        .selectFrom("outbox")
        .select(["id", "tenant_id", "channel", "template", "payload_sealed", "attempts"])
        .where("id", "=", c.id)
        .executeTakeFirst();
      if (row) return row;
    }
    return null;
  }

  private async handle(row: ClaimedRow): Promise<void> {
    const { secrets, transports } = this.opts;
    if (row.attempts > this.maxAttempts) {
      // Only a row whose last holder died mid-send gets here.
      await this.finishFailed(row, "attempts_exhausted", false);
      return;
    }
    let message: OutboundMessage;
    try {
      if (row.payload_sealed === null) throw new Error("no payload");
      const payload = payloadSchema.parse(JSON.parse(openData(secrets, row.payload_sealed, aadFor(row.id))));
      message = {
        id: row.id,
        tenantId: row.tenant_id,
        channel: row.channel as Channel,
        template: row.template,
        ...payload,
      };
    } catch {
      await this.finishFailed(row, "payload_unreadable", false);
      return;
    }
    const transport = (CHANNELS as readonly string[]).includes(row.channel)
      ? transports[row.channel as Channel]
      : undefined;
    if (!transport) {
      await this.finishFailed(row, "channel_not_configured", false);
      return;
    }
    try {
      await transport.send(message);
    } catch (e) {
      const { reason, retryable } = safeReason(e);
      await this.finishFailed(row, reason, retryable);
      return;
    }
    await this.finishSent(row);
  }

  private async finishSent(row: ClaimedRow): Promise<void> {
    const { db, clock } = this.opts;
    const res = await db
      .updateTable("outbox")
      .set({ state: "sent", sent_at: clock.now(), payload_sealed: null, last_error: null })
      .where("id", "=", row.id)
      .where("attempts", "=", row.attempts)
      .executeTakeFirst();
    if (res.numUpdatedRows !== 1n) {
      this.opts.logger?.warn({ outboxId: row.id }, "outbox row changed hands while sending");
    }
    this.opts.logger?.info(
      { outboxId: row.id, channel: row.channel, template: row.template },
      "notification sent",
    );
    await safeAudit(this.opts, {
      tenantId: row.tenant_id,
      event: "notification.sent",
      result: "success",
      details: { outboxId: row.id, channel: row.channel, template: row.template, attempts: row.attempts },
    });
  }

  private async finishFailed(row: ClaimedRow, reason: string, retryable: boolean): Promise<void> {
    const { db, clock } = this.opts;
    const willRetry = retryable && row.attempts < this.maxAttempts;
    const now = clock.now();
    await db
      .updateTable("outbox")
      .set(
        willRetry
          ? { state: "queued", next_attempt_at: now + this.backoffMs(row.attempts), last_error: reason }
          : { state: "failed", payload_sealed: null, last_error: reason },
      )
      .where("id", "=", row.id)
      .where("attempts", "=", row.attempts)
      .execute();
    this.opts.logger?.warn(
      {
        outboxId: row.id,
        channel: row.channel,
        template: row.template,
        attempts: row.attempts,
        reason,
        willRetry,
      },
      "notification failed",
    );
    await safeAudit(this.opts, {
      tenantId: row.tenant_id,
      event: "notification.failed",
      result: "failure",
      reason,
      details: {
        outboxId: row.id,
        channel: row.channel,
        template: row.template,
        attempts: row.attempts,
        willRetry,
      },
    });
  }
}
