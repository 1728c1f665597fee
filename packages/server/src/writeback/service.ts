/**
 * Password writeback, the server's half (issue 5): one password operation (reset, change, unlock,
 * verify-password) for a synced user, sealed to one online agent serving the user's directory, sent
 * on its link, and waited for. Every `submit` ends in an applied result, a clear refusal or failure,
 * or "pending" — and a pending operation keeps running here and emails the person its final result.
 *
 * The operation is a `writeback_operations` row; the secrets exist in clear only in this process's
 * memory while the operation runs, and the row holds the sealed payload only while an agent has it.
 *
 * Several instances: the agent may be linked to another instance. Then the attempt is handed over
 * through the row: this instance writes it `queued` for that agent (sealed to its key), the instance
 * holding the link claims it (`FOR UPDATE SKIP LOCKED` on PostgreSQL), sends op.request, and writes
 * the answer (or the loss) to the row; this instance, woken by the bus (LISTEN/NOTIFY; in memory on
 * SQLite) or its poll, reads it and goes on exactly as with an answer from its own link. An agent
 * linked here is used directly: the row is written already claimed by this instance.
 * docs/writeback.md explains the routing and the retry rules (when a lost attempt may run again).
 */
import {
  DIRECTORY_ERRORS,
  type DirectoryErrorCode,
  type OperationKind,
  type OpRequest,
  type OpResult,
  type OpTimings,
  operationAad,
  opRequestMessage,
  opResultMessage,
  PROTOCOL_VERSION,
  seal,
} from "@latchkey/protocol";
import { type Kysely, PostgresAdapter } from "kysely";
import { z } from "zod";
import type { AuditSink } from "../audit/emitter.js";
import type { Clock } from "../core/clock.js";
import { cryptoRandom, newId, type Random } from "../core/random.js";
import {
  DEFAULT_TIMINGS,
  type LivenessTimings,
  onlineWindowMs,
  parseStoredDirectories,
} from "../directory-link/liveness.js";
import type { AgentRegistry } from "../directory-link/registry.js";
import type { Logger } from "../logging/logger.js";
import type { Database, User, WritebackOperationsTable } from "../store/schema.js";
import { memoryBus, type WritebackBus } from "./bus.js";

/** The sealing functions of @latchkey/protocol (sealing.ts), passed in. */
export interface Sealing {
  seal(recipientPublicKeyRaw: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Promise<string>;
  operationAad(p: { opId: string; kind: OperationKind; tenantId: string; anchor: string }): Uint8Array;
}

/** Secrets by kind: reset `newPassword`; change `oldPassword` + `newPassword`; verify-password `password`. */
export interface WritebackSecrets {
  newPassword?: string;
  oldPassword?: string;
  password?: string;
}

export interface WritebackRequest {
  tenantId: string;
  user: User;
  kind: OperationKind;
  secrets: WritebackSecrets;
  options?: { unlock?: boolean; mustChange?: boolean };
  /** How long the caller waits before it is answered "pending"; default `pendingAfterMs`. */
  timeoutMs?: number;
  /** Who asked (audit actor); default the user. */
  actor?: string;
  flowId?: string | null;
}

/** Codes the server itself gives when no directory answered. */
export const WRITEBACK_ERRORS = {
  NO_AGENT: {
    messageId: "writeback.no_agent",
    description: "No agent serving the user's directory is online (or every one was lost).",
  },
  OUTCOME_UNKNOWN: {
    messageId: "writeback.outcome_unknown",
    description:
      "The agent was lost and whether the operation applied could not be established (a change whose replay and check both failed, or no answer before the final deadline).",
  },
} as const;
export type WritebackErrorCode = keyof typeof WRITEBACK_ERRORS;

/**
 * Where the time of the answering attempt went (for the per-flow timeline): the agent's own
 * measurements (absent from older agents and answers from the agent's memory) and `roundTripMs`,
 * from sending op.request to receiving op.result as this server saw it.
 */
export interface WritebackTimings extends Partial<OpTimings> {
  roundTripMs: number;
  /**
   * Only when the agent was linked to another instance: from writing the attempt to the row to
   * reading its answer here (hand-off, claim, round trip, write-back, wake-up).
   */
  relayMs?: number;
}

export type WritebackOutcome =
  | { status: "applied"; operationId: string; agentId: string; timings?: WritebackTimings }
  | {
      status: "refused" | "failed";
      operationId: string;
      code: DirectoryErrorCode | WritebackErrorCode;
      messageId: string;
      agentId: string | null;
      timings?: WritebackTimings;
    }
  | { status: "pending"; operationId: string };

export type FinalOutcome = Exclude<WritebackOutcome, { status: "pending" }>;

export interface WritebackOptions {
  /** The caller is told "pending" after this long. Default 15 s. */
  pendingAfterMs: number;
  /** One attempt's deadline: the agent must not start it later (op.request `deadline`). Default 60 s. */
  attemptDeadlineMs: number;
  /** After the deadline, how long a started attempt may still answer before it counts as lost. Default 30 s. */
  answerGraceMs: number;
  /** Agents tried at most per operation. Default 3. */
  maxAttempts: number;
  /** After a lost attempt with no other agent online, how long to wait for one to (re)connect. Default 5 s. */
  reconnectWaitMs: number;
  /**
   * An attempt handed to another instance that nobody claimed in this time (its instance died, or
   * the agent left it) is taken back — never sent, so it is tried on another agent. Default 5 s.
   */
  claimWaitMs: number;
  /** The fallback when a wake-up is lost: queued attempts and awaited answers are looked for this often. Default 1 s. */
  pollMs: number;
  /** How often the agents online on other instances are read from the store (for canServe). Default 2 s. */
  agentsRefreshMs: number;
}

export const DEFAULT_WRITEBACK_OPTIONS: WritebackOptions = {
  pendingAfterMs: 15_000,
  attemptDeadlineMs: 60_000,
  answerGraceMs: 30_000,
  maxAttempts: 3,
  reconnectWaitMs: 5_000,
  claimWaitMs: 5_000,
  pollMs: 1_000,
  agentsRefreshMs: 2_000,
};

/** Tells the person the final result of an operation they were told was pending. */
export type PendingNotifier = (p: {
  tenantId: string;
  user: User;
  kind: OperationKind;
  operationId: string;
  outcome: FinalOutcome;
}) => Promise<void>;

export interface WritebackDeps {
  db: Kysely<Database>;
  clock: Clock;
  logger: Logger;
  audit: AuditSink;
  registry: AgentRegistry;
  /** Default: @latchkey/protocol's seal and operationAad. */
  sealing?: Sealing;
  notifyPending: PendingNotifier;
  random?: Random;
  options?: Partial<WritebackOptions>;
  /**
   * Wake-ups between instances (createWritebackBus: LISTEN/NOTIFY on PostgreSQL). Default: the
   * in-memory bus of `db`, which reaches the instances of this process only. Closed by close().
   */
  bus?: WritebackBus;
  /** The link's heartbeat timings, which decide when a stored agent counts as online. */
  liveness?: LivenessTimings;
}

/** An agent an attempt can go to: linked here, or (per the store) to another instance. */
interface Target {
  agentId: string;
  local: boolean;
}

/** What one attempt on one agent came to. */
type AttemptEnd =
  | { kind: "result"; result: OpResult; roundTripMs: number; relayMs?: number }
  /** The link closed (or the message could not be sent) before an answer. `sent`: it may have run. */
  | { kind: "lost"; sent: boolean; unclaimed?: boolean }
  | { kind: "timeout" };

interface Waiter {
  agentId: string;
  /** performance.now() when op.request was sent (for roundTripMs). */
  sentAt: number;
  settle(end: AttemptEnd): void;
}

const encoder = new TextEncoder();

/** What the link holder writes to the row for the submitter (attempt_result). */
const attemptResultSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("result"), result: opResultMessage, roundTripMs: z.number() }),
  z.object({ kind: z.literal("lost"), sent: z.boolean() }),
]);
/** The op.request of a handed-over attempt, as written to the row: everything but the sealed payload. */
const attemptRequestSchema = opRequestMessage.omit({ v: true, id: true, type: true, sealed: true });

const CLAIM_BATCH = 20;

export class WritebackService {
  private readonly options: WritebackOptions;
  private readonly random: Random;
  private readonly log: Logger;
  private readonly sealing: Sealing;
  /** opId → the attempt waiting for its answer (one at a time per operation). */
  private readonly waiting = new Map<string, Waiter>();
  /** agentId → operations in flight on it (least-loaded routing). */
  private readonly load = new Map<string, number>();
  /** userId → the password-setting operation (reset, change) still running for them. */
  private readonly byUser = new Map<string, string>();
  /** Operations whose row exists (written by their first attempt). */
  private readonly rowsWritten = new Set<string>();
  /** Ids of the operations this instance runs (the stale-row sweep leaves them alone). */
  private readonly runningIds = new Set<string>();
  /** Operations still running (also those answered "pending"), so close() can wait for them. */
  private readonly running = new Set<Promise<unknown>>();
  private readonly unsubscribe: (() => void)[];
  private sweeper: NodeJS.Timeout | undefined;
  /** agentId → raw X25519 public key, while its link is up. */
  private readonly keys = new Map<string, Uint8Array>();
  /** The agents' raw diagnostics by operation, kept only until the audit record is written. */
  private readonly diagnostics = new Map<string, string>();
  private readonly bus: WritebackBus;
  private readonly postgres: boolean;
  /** `tenant\0directory` served by an agent online on another instance (read every agentsRefreshMs). */
  private remoteServing = new Set<string>();
  /** Row id → its current attempt number (this instance is the only one that starts attempts of its rows). */
  private readonly attemptNo = new Map<string, number>();
  /** Rows of other instances' operations this instance claimed and is serving (the sweep leaves them alone). */
  private readonly claimedHere = new Set<string>();
  /** Row id → wakes the attempt waiting for another instance's answer. */
  private readonly relayWaiters = new Map<string, () => void>();
  /** Claimed attempts being served for other instances, so close() can wait for them. */
  private readonly serving = new Set<Promise<unknown>>();
  private claiming = false;
  private claimAgain = false;
  private poller: NodeJS.Timeout | undefined;
  private refresher: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly deps: WritebackDeps) {
    this.options = { ...DEFAULT_WRITEBACK_OPTIONS, ...deps.options };
    this.random = deps.random ?? cryptoRandom;
    this.log = deps.logger.child({ component: "writeback" });
    this.sealing = deps.sealing ?? { seal, operationAad };
    this.bus = deps.bus ?? memoryBus(deps.db);
    this.postgres = deps.db.getExecutor().adapter instanceof PostgresAdapter;
    this.unsubscribe = [
      deps.registry.onOpResult((agentId, result) => this.onResult(agentId, result)),
      deps.registry.onLinkClosed((agentId) => this.onLinkClosed(agentId)),
      this.bus.subscribe("queued", (agentId) => {
        if (this.deps.registry.link(agentId)) this.claim();
      }),
      this.bus.subscribe("answered", (rowId) => this.relayWaiters.get(rowId)?.()),
    ];
  }

  /**
   * Whether an agent serving the user's directory is online: linked to this instance, or to another
   * one according to the store (as read at most agentsRefreshMs ago; start() keeps it fresh).
   */
  canServe(user: User): boolean {
    return (
      user.kind === "synced" &&
      user.deleted_at === null &&
      user.source_anchor !== null &&
      user.directory_id !== null &&
      (this.deps.registry.isServing(user.tenant_id, user.directory_id) ||
        this.remoteServing.has(`${user.tenant_id}\u0000${user.directory_id}`))
    );
  }

  /** Resolves once wake-ups from other instances are received (tests wait for it before measuring). */
  async ready(): Promise<void> {
    await Promise.all([this.bus.ready(), this.refreshRemote()]);
  }

  /** Operations in flight on this instance (answered or not). */
  get inFlight(): number {
    return this.running.size;
  }

  /**
   * Runs one operation. Resolves with its final outcome, or with `pending` after `timeoutMs` —
   * in which case it keeps running and `notifyPending` tells the person its final outcome.
   */
  async submit(req: WritebackRequest): Promise<WritebackOutcome> {
    const { user } = req;
    if (user.source_anchor === null || user.directory_id === null || user.kind !== "synced") {
      throw new Error("writeback needs a synced user with an anchor and a directory");
    }
    const setsPassword = req.kind === "reset" || req.kind === "change";
    const running = setsPassword ? this.byUser.get(user.id) : undefined;
    if (running !== undefined) {
      // The person was told "pending: we will email you the result" and submitted again: the
      // running operation is the answer (two in flight would race in the directory).
      return { status: "pending", operationId: running };
    }
    const opId = newId(this.random);
    if (setsPassword) this.byUser.set(user.id, opId);
    // The row is written with the first attempt (one write fewer on the way to the directory), or by
    // finish() when no agent was ever picked.

    let told = false;
    this.runningIds.add(opId);
    const final = this.run(opId, req)
      .catch((e: unknown) => {
        // A failure of ours (store, sealing): the person is told clearly, never left waiting.
        this.log.error({ err: e, operationId: opId }, "writeback operation failed on the server");
        return this.unknown(opId);
      })
      .then(async (outcome) => {
        await this.finish(opId, req, outcome, told);
        return outcome;
      });
    this.running.add(final);
    void final
      .finally(() => {
        this.running.delete(final);
        this.runningIds.delete(opId);
        this.rowsWritten.delete(opId);
        if (this.byUser.get(user.id) === opId) this.byUser.delete(user.id);
      })
      .catch(() => {});

    const waitMs = req.timeoutMs ?? this.options.pendingAfterMs;
    let timer: NodeJS.Timeout | undefined;
    const pending = new Promise<"pending">((resolve) => {
      timer = setTimeout(() => resolve("pending"), waitMs);
    });
    const first = await Promise.race([final, pending]).finally(() => clearTimeout(timer));
    if (first !== "pending") return first;
    told = true;
    await this.deps.db
      .updateTable("writeback_operations")
      .set({ state: "pending_notify", updated_at: this.deps.clock.now() })
      .where("id", "=", opId)
      .where("completed_at", "is", null)
      .execute();
    await this.deps.audit.emit({
      tenantId: req.tenantId,
      event: "writeback.pending",
      result: "info",
      actor: req.actor ?? user.id,
      target: user.id,
      flowId: req.flowId ?? null,
      details: { operationId: opId, kind: req.kind, waitedMs: waitMs },
    });
    return { status: "pending", operationId: opId };
  }

  private async insertRow(
    opId: string,
    req: WritebackRequest,
    now: number,
    fields: Partial<
      Pick<
        WritebackOperationsTable,
        "agent_id" | "state" | "sealed_payload" | "attempts" | "result_code" | "completed_at"
      >
    >,
  ): Promise<void> {
    const { user } = req;
    await this.deps.db
      .insertInto("writeback_operations")
      .values({
        id: opId,
        tenant_id: req.tenantId,
        type: req.kind,
        user_id: user.id,
        target_anchor: user.source_anchor ?? "",
        directory_id: user.directory_id,
        agent_id: null,
        state: "queued",
        sealed_payload: null,
        result_code: null,
        attempts: 0,
        created_at: now,
        updated_at: now,
        completed_at: null,
        ...fields,
      })
      .execute();
    this.rowsWritten.add(opId);
  }

  /**
   * Ends the operations an instance that died left unfinished: rows not completed and not touched
   * for `staleAfterMs` (every attempt touches its row when it starts and when it ends, and an attempt
   * lasts at most attemptDeadlineMs + answerGraceMs) become `failed OUTCOME_UNKNOWN`, audited, and a
   * person who was told "pending" gets the email that was promised. Each row is taken by one
   * conditional update, so two instances sweeping at once end it once. Returns how many it ended.
   */
  async recoverStale(
    staleAfterMs = 2 * (this.options.attemptDeadlineMs + this.options.answerGraceMs),
  ): Promise<number> {
    const { db, clock } = this.deps;
    const now = clock.now();
    const rows = await db
      .selectFrom("writeback_operations")
      .selectAll()
      .where("completed_at", "is", null)
      .where("updated_at", "<", now - staleAfterMs)
      .limit(500)
      .execute();
    let ended = 0;
    for (const row of rows) {
      if (this.runningIds.has(row.id) || this.claimedHere.has(row.id)) continue;
      // The submitting instance died after the link holder wrote the answer: that answer stands.
      const answered = row.attempt_state === "answered" ? parseAttemptResult(row.attempt_result) : null;
      const known =
        answered?.kind === "result" && answered.result.opId === row.id
          ? toOutcome(row.id, row.agent_id ?? "", answered.result, answered.roundTripMs)
          : null;
      const outcome = known ?? this.unknown(row.id);
      const code = outcome.status === "applied" ? null : outcome.code;
      const res = await db
        .updateTable("writeback_operations")
        .set({
          state: outcome.status === "applied" ? "succeeded" : "failed",
          result_code: code,
          sealed_payload: null,
          attempt_request: null,
          attempt_result: null,
          updated_at: now,
          completed_at: now,
        })
        .where("id", "=", row.id)
        .where("completed_at", "is", null)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) continue;
      ended++;
      const kind = row.type as OperationKind;
      await this.deps.audit.emit({
        tenantId: row.tenant_id,
        event: `writeback.${outcome.status}`,
        result: outcome.status === "applied" ? "success" : "failure",
        target: row.user_id,
        reason: code,
        details: {
          operationId: row.id,
          kind,
          agentId: row.agent_id,
          resultCode: code,
          diagnostic: answered?.kind === "result" ? answered.result.diagnostic : null,
          recovered: true,
        },
      });
      if (row.state !== "pending_notify") continue;
      const user = await db.selectFrom("users").selectAll().where("id", "=", row.user_id).executeTakeFirst();
      if (!user) continue;
      try {
        await this.deps.notifyPending({ tenantId: row.tenant_id, user, kind, operationId: row.id, outcome });
      } catch (e) {
        this.log.error({ err: e, operationId: row.id }, "could not queue the writeback result email");
      }
    }
    return ended;
  }

  /**
   * Sweeps stale rows now and then every attemptDeadlineMs + answerGraceMs; polls for attempts other
   * instances queued for this instance's agents (the fallback of the bus); reads which agents are
   * online elsewhere. Until close.
   */
  start(): void {
    if (this.sweeper) return;
    void this.refreshRemote();
    this.refresher = setInterval(() => void this.refreshRemote(), this.options.agentsRefreshMs);
    this.refresher.unref();
    this.poller = setInterval(() => {
      if (this.deps.registry.size > 0) this.claim();
      for (const wake of this.relayWaiters.values()) wake();
    }, this.options.pollMs);
    this.poller.unref();
    const sweep = () => {
      this.recoverStale().catch((e: unknown) =>
        this.log.warn({ err: e }, "writeback stale-row sweep failed"),
      );
    };
    sweep();
    this.sweeper = setInterval(sweep, this.options.attemptDeadlineMs + this.options.answerGraceMs);
    this.sweeper.unref();
  }

  /** Stops listening and waits for every running operation (pending ones included) to end. */
  async close(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    await Promise.allSettled([...this.running]);
    this.closed = true;
    clearInterval(this.poller);
    clearInterval(this.refresher);
    await Promise.allSettled([...this.serving]);
    for (const u of this.unsubscribe) u();
    await this.bus.close();
  }

  /** Which directories agents online on other instances serve (canServe). */
  private async refreshRemote(): Promise<void> {
    try {
      const rows = await this.deps.db
        .selectFrom("agents")
        .select(["tenant_id", "directories_json"])
        .where("revoked_at", "is", null)
        .where("link_instance", "is not", null)
        .where("link_instance", "!=", this.deps.registry.instanceId)
        .where("last_heartbeat_at", ">=", this.deps.clock.now() - onlineWindowMs(this.liveness))
        .execute();
      const next = new Set<string>();
      for (const r of rows)
        for (const d of parseStoredDirectories(r.directories_json)) next.add(`${r.tenant_id}\u0000${d.id}`);
      this.remoteServing = next;
    } catch (e) {
      this.log.warn({ err: e }, "reading the agents online on other instances failed");
    }
  }

  private get liveness(): LivenessTimings {
    return this.deps.liveness ?? DEFAULT_TIMINGS;
  }

  // ——— one operation ———

  private async run(opId: string, req: WritebackRequest): Promise<FinalOutcome> {
    const tried = new Set<string>();
    /** Agents whose attempt nobody claimed (their instance is gone): not worth a second try. */
    const unclaimed = new Set<string>();
    /** An attempt was sent to an agent that was then lost: it may have applied. */
    let mayHaveApplied = false;
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
      const agent =
        attempt === 1
          ? await this.pick(req.tenantId, req.user.directory_id ?? "", tried)
          : await this.pickAfterLoss(req.tenantId, req.user.directory_id ?? "", tried, unclaimed);
      if (!agent) break;
      tried.add(agent.agentId);
      const end = await this.attempt(opId, req, req.kind, req.secrets, agent, attempt);
      if (end.kind === "result") {
        const r = end.result;
        if (mayHaveApplied && r.outcome !== "applied" && r.code !== null && replayRefusal(req.kind, r.code)) {
          // The replay was refused the way it would be if the lost first attempt had applied (a change:
          // the old password no longer works; a reset: the new one is now "in history"). Ask the
          // directory whether the new password works, under a fresh id (its own operation).
          return this.verifyAfterLostAttempt(opId, req, toOutcome(opId, agent.agentId, r, end.roundTripMs));
        }
        return toOutcome(opId, agent.agentId, r, end.roundTripMs, end.relayMs);
      }
      if (end.kind === "lost" && end.sent) mayHaveApplied = true;
      if (end.kind === "lost" && end.unclaimed) unclaimed.add(agent.agentId);
      this.log.warn(
        { operationId: opId, agentId: agent.agentId, local: agent.local, attempt, end: end.kind },
        "writeback attempt lost; trying another agent",
      );
    }
    // verify-password changes nothing: a lost one is simply not answered.
    if (mayHaveApplied && req.kind !== "verify-password") return this.unknown(opId);
    return {
      status: "failed",
      operationId: opId,
      code: "NO_AGENT",
      messageId: WRITEBACK_ERRORS.NO_AGENT.messageId,
      agentId: null,
    };
  }

  /**
   * An attempt was lost after it was sent, and the replay was refused in a way that a first
   * application would explain. A verify-password with the new password tells the two apart: it
   * works → the lost attempt applied; it does not → the replay's refusal stands (for a change: the
   * old password really was wrong).
   */
  private async verifyAfterLostAttempt(
    opId: string,
    req: WritebackRequest,
    replay: FinalOutcome,
  ): Promise<FinalOutcome> {
    const newPassword = req.secrets.newPassword;
    if (newPassword === undefined) return this.unknown(opId);
    const agent = await this.pick(req.tenantId, req.user.directory_id ?? "", new Set());
    if (!agent) return this.unknown(opId);
    const end = await this.attempt(
      `${opId}.verify`,
      req,
      "verify-password",
      { password: newPassword },
      agent,
      1,
      opId,
    );
    if (end.kind !== "result") return this.unknown(opId);
    const r = end.result;
    // A bind that says "must change" or "expired" still proves the password is the current one.
    if (r.outcome === "applied" || r.code === "PASSWORD_MUST_CHANGE" || r.code === "PASSWORD_EXPIRED") {
      return { status: "applied", operationId: opId, agentId: agent.agentId };
    }
    if (r.code === "INVALID_CREDENTIALS") return replay;
    return this.unknown(opId);
  }

  private unknown(opId: string): FinalOutcome {
    return {
      status: "failed",
      operationId: opId,
      code: "OUTCOME_UNKNOWN",
      messageId: WRITEBACK_ERRORS.OUTCOME_UNKNOWN.messageId,
      agentId: null,
    };
  }

  /**
   * The agent's X25519 public key (raw), from the store once per link: a revoked agent's link is
   * closed at once, and a closed link drops the cached key.
   */
  private async publicKey(agentId: string): Promise<Uint8Array | null> {
    const cached = this.keys.get(agentId);
    if (cached) return cached;
    const row = await this.deps.db
      .selectFrom("agents")
      .select("x25519_public")
      .where("id", "=", agentId)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    if (!row) return null;
    const key = new Uint8Array(Buffer.from(row.x25519_public, "base64url"));
    // Only while a link of ours holds it (onLinkClosed forgets it); another instance's agent is read each time.
    if (this.deps.registry.link(agentId)) this.keys.set(agentId, key);
    return key;
  }

  /**
   * The agent for a retry: an agent not tried yet if one is online; otherwise one tried before that
   * is back (a restarted agent, or the same agent on a new link — it remembers results by opId, so
   * the same operation is answered from memory, never applied twice), waiting up to reconnectWaitMs.
   */
  private async pickAfterLoss(
    tenantId: string,
    directoryId: string,
    tried: Set<string>,
    unclaimed: Set<string>,
  ): Promise<Target | null> {
    const deadline = Date.now() + this.options.reconnectWaitMs;
    for (;;) {
      const agent =
        (await this.pick(tenantId, directoryId, tried)) ??
        (await this.pick(tenantId, directoryId, unclaimed));
      if (agent) return agent;
      if (Date.now() >= deadline || this.closed) return null;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * An agent serving the directory, not yet tried: one linked here if any (least loaded; freshest
   * heartbeat on a tie), else one the store says is online on another instance (least loaded from
   * here, freshest heartbeat first). The store is read only when no agent here will do, so an
   * operation through a local agent costs no extra query.
   */
  private async pick(tenantId: string, directoryId: string, tried: Set<string>): Promise<Target | null> {
    let best: Target | null = null;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const a of this.deps.registry.serving(tenantId, directoryId)) {
      if (tried.has(a.agentId)) continue;
      const load = this.load.get(a.agentId) ?? 0;
      if (load < bestLoad) {
        best = { agentId: a.agentId, local: true };
        bestLoad = load;
      }
    }
    if (best) return best;
    const now = this.deps.clock.now();
    const rows = await this.deps.db
      .selectFrom("agents")
      .select(["id", "directories_json"])
      .where("tenant_id", "=", tenantId)
      .where("revoked_at", "is", null)
      .where("link_instance", "is not", null)
      // Our own links are known exactly (above); a row naming us without a link here is stale.
      .where("link_instance", "!=", this.deps.registry.instanceId)
      .where("last_heartbeat_at", ">=", now - onlineWindowMs(this.liveness))
      .orderBy("last_heartbeat_at", "desc")
      .execute();
    for (const r of rows) {
      if (tried.has(r.id)) continue;
      if (!parseStoredDirectories(r.directories_json).some((d) => d.id === directoryId)) continue;
      const load = this.load.get(r.id) ?? 0;
      if (load < bestLoad) {
        best = { agentId: r.id, local: false };
        bestLoad = load;
      }
    }
    return best;
  }

  /**
   * One attempt on one agent: seal to its key, record it, then send it on our link — or hand it to
   * the instance holding the agent's link through the row — and wait. `rowId` is the operation's row
   * (a verify after a lost change runs under its own opId but updates the change's row).
   */
  private async attempt(
    opId: string,
    req: WritebackRequest,
    kind: OperationKind,
    secrets: WritebackSecrets,
    agent: Target,
    attempt: number,
    rowId = opId,
  ): Promise<AttemptEnd> {
    const { db, clock } = this.deps;
    const anchor = req.user.source_anchor ?? "";
    const publicKey = await this.publicKey(agent.agentId);
    if (!publicKey) return { kind: "lost", sent: false };
    const aad = this.sealing.operationAad({ opId, kind, tenantId: req.tenantId, anchor });
    const sealed = await this.sealing.seal(publicKey, encoder.encode(JSON.stringify(secrets)), aad);
    const now = clock.now();
    const deadline = now + this.options.attemptDeadlineMs;
    const request = {
      opId,
      kind,
      tenantId: req.tenantId,
      directoryId: req.user.directory_id ?? "",
      anchor,
      dn: null,
      options: { unlock: req.options?.unlock ?? false, mustChange: req.options?.mustChange ?? false },
      deadline,
    };
    // Ours: the row says claimed by us, and the attempt needs nobody else. Another instance's: queued
    // for it, with the request (without the sealed payload, which has its own column) for it to send.
    const handOff = {
      agent_id: agent.agentId,
      sealed_payload: sealed,
      attempt_state: agent.local ? "claimed" : "queued",
      claimed_by: agent.local ? this.deps.registry.instanceId : null,
      attempt_request: agent.local ? null : JSON.stringify(request),
      attempt_result: null,
    };
    const n = (this.attemptNo.get(rowId) ?? 0) + 1;
    if (!this.rowsWritten.has(rowId)) {
      await this.insertRow(rowId, req, now, {
        ...handOff,
        state: agent.local ? "claimed" : "queued",
        attempts: 1,
      });
    } else {
      await db
        .updateTable("writeback_operations")
        .set((eb) => ({
          ...handOff,
          // A person already told "pending" stays so (the sweep's email depends on it).
          state: eb
            .case()
            .when("state", "=", "pending_notify")
            .then("pending_notify")
            .else(agent.local ? "claimed" : "queued")
            .end(),
          attempts: eb("attempts", "+", 1),
          updated_at: now,
        }))
        .where("id", "=", rowId)
        .execute();
    }
    this.attemptNo.set(rowId, n);

    this.load.set(agent.agentId, (this.load.get(agent.agentId) ?? 0) + 1);
    let end: AttemptEnd | undefined;
    try {
      if (agent.local) {
        end = await this.sendAndWait(agent.agentId, {
          v: PROTOCOL_VERSION,
          id: newId(this.random),
          type: "op.request",
          ...request,
          sealed,
        });
        if (end.kind === "result")
          this.log.debug({ operationId: rowId, agentId: agent.agentId, kind, attempt }, "writeback answered");
      } else {
        this.bus.publish("queued", agent.agentId);
        end = await this.waitForRelay(rowId, n);
        if (end.kind === "result") {
          // The other instance wrote the agent's diagnostic to the row; the audit record takes it from here.
          if (end.result.diagnostic) this.diagnostics.set(rowId, end.result.diagnostic);
          this.log.debug(
            { operationId: rowId, agentId: agent.agentId, kind, attempt, relayMs: end.relayMs },
            "writeback answered through another instance",
          );
        }
      }
      return end;
    } finally {
      this.load.set(agent.agentId, Math.max(0, (this.load.get(agent.agentId) ?? 1) - 1));
      // The sealed payload lives only while an agent holds it. An answer is written by finish()
      // (which clears it in the same update); a lost attempt clears it here.
      if (end?.kind !== "result") {
        await db
          .updateTable("writeback_operations")
          .set({ sealed_payload: null, updated_at: clock.now() })
          .where("id", "=", rowId)
          .execute();
      }
    }
  }

  /**
   * Sends one op.request on this instance's link to the agent and waits for its op.result, the
   * link's loss, or attemptDeadlineMs + answerGraceMs (then it counts as sent and lost: it may
   * still run on the agent). Used for our own operations and for those claimed for other instances.
   */
  private async sendAndWait(agentId: string, message: OpRequest): Promise<AttemptEnd> {
    const opId = message.opId;
    try {
      const answered = new Promise<AttemptEnd>((resolve) => {
        const timer = setTimeout(
          () => resolve({ kind: "timeout" }),
          this.options.attemptDeadlineMs + this.options.answerGraceMs,
        );
        timer.unref();
        this.waiting.set(opId, {
          agentId,
          sentAt: performance.now(),
          settle: (end) => {
            clearTimeout(timer);
            resolve(end);
          },
        });
      });
      const link = this.deps.registry.link(agentId);
      if (!link?.send(message)) this.waiting.get(opId)?.settle({ kind: "lost", sent: false });
      const end = await answered;
      // An attempt that timed out may still run on its agent: treat it as sent and lost.
      return end.kind === "timeout" ? { kind: "lost", sent: true } : end;
    } finally {
      this.waiting.delete(opId);
    }
  }

  /**
   * Waits for the answer another instance writes to the row (woken by the bus, or by the poll).
   * Unclaimed after claimWaitMs: taken back (never sent; the next agent is tried). Unanswered after
   * attemptDeadlineMs + answerGraceMs + claimWaitMs: the claiming instance is presumed dead, and the
   * attempt counts as sent and lost (the agent's deadline keeps it from starting later).
   */
  private async waitForRelay(rowId: string, n: number): Promise<AttemptEnd> {
    const { db } = this.deps;
    const started = performance.now();
    const claimBy = started + this.options.claimWaitMs;
    const giveUpAt = claimBy + this.options.attemptDeadlineMs + this.options.answerGraceMs;
    const abandon = (states: string[]) =>
      db
        .updateTable("writeback_operations")
        .set({ attempt_state: "lost", sealed_payload: null, updated_at: this.deps.clock.now() })
        .where("id", "=", rowId)
        .where("attempts", "=", n)
        .where("attempt_state", "in", states)
        .executeTakeFirst();
    let woken = false;
    let wake: () => void = () => {};
    this.relayWaiters.set(rowId, () => {
      woken = true;
      wake();
    });
    try {
      for (;;) {
        woken = false;
        const row = await db
          .selectFrom("writeback_operations")
          .select(["attempt_state", "attempt_result", "attempts"])
          .where("id", "=", rowId)
          .executeTakeFirst();
        if (!row || row.attempts !== n) return { kind: "lost", sent: true };
        if (row.attempt_state === "answered") {
          const r = parseAttemptResult(row.attempt_result);
          if (!r) return { kind: "lost", sent: true };
          if (r.kind === "lost") return r;
          return { ...r, relayMs: performance.now() - started };
        }
        const t = performance.now();
        if (row.attempt_state === "queued" && t >= claimBy) {
          const taken = await abandon(["queued"]);
          if (Number(taken.numUpdatedRows) === 1) return { kind: "lost", sent: false, unclaimed: true };
          continue;
        }
        if (row.attempt_state === "lost") return { kind: "lost", sent: false };
        if (t >= giveUpAt) {
          await abandon(["queued", "claimed"]);
          return { kind: "lost", sent: true };
        }
        if (this.closed) return { kind: "lost", sent: row.attempt_state !== "queued" };
        if (woken) continue;
        const next = row.attempt_state === "queued" ? Math.min(claimBy, giveUpAt) : giveUpAt;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(1, Math.min(this.options.pollMs, next - t)));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = () => {};
      }
    } finally {
      this.relayWaiters.delete(rowId);
    }
  }

  // ——— attempts other instances hand to this one ———

  /**
   * Claims the queued attempts of the agents linked here (FOR UPDATE SKIP LOCKED on PostgreSQL, so
   * instances never take the same row; SQLite has one writer) and serves each. Runs one claim at a
   * time; a wake-up during one runs another after it.
   */
  private claim(): void {
    if (this.closed) return;
    if (this.claiming) {
      this.claimAgain = true;
      return;
    }
    this.claiming = true;
    void (async () => {
      try {
        do {
          this.claimAgain = false;
          const agents = this.deps.registry.list().map((a) => a.agentId);
          if (agents.length === 0) break;
          const picked = this.deps.db
            .selectFrom("writeback_operations")
            .select("id")
            .where("attempt_state", "=", "queued")
            .where("agent_id", "in", agents)
            .where("completed_at", "is", null)
            .orderBy("updated_at")
            .limit(CLAIM_BATCH)
            .$if(this.postgres, (q) => q.forUpdate().skipLocked());
          const rows = await this.deps.db
            .updateTable("writeback_operations")
            .set({
              attempt_state: "claimed",
              claimed_by: this.deps.registry.instanceId,
              updated_at: this.deps.clock.now(),
            })
            .where("id", "in", picked)
            .where("attempt_state", "=", "queued")
            .returning(["id", "agent_id", "attempts", "attempt_request", "sealed_payload"])
            .execute();
          for (const row of rows) {
            const p = this.serveClaimed(row).catch((e: unknown) =>
              this.log.error({ err: e, operationId: row.id }, "serving a claimed writeback attempt failed"),
            );
            this.serving.add(p);
            void p.finally(() => this.serving.delete(p));
          }
          if (rows.length === CLAIM_BATCH) this.claimAgain = true;
        } while (this.claimAgain && !this.closed);
      } catch (e) {
        this.log.warn({ err: e }, "claiming queued writeback attempts failed");
      } finally {
        this.claiming = false;
      }
    })();
  }

  /** Sends a claimed attempt on our link and writes its answer (or its loss) for the submitter. */
  private async serveClaimed(row: {
    id: string;
    agent_id: string | null;
    attempts: number;
    attempt_request: string | null;
    sealed_payload: string | null;
  }): Promise<void> {
    this.claimedHere.add(row.id);
    try {
      let end: AttemptEnd = { kind: "lost", sent: false };
      const parsed = parseAttemptRequest(row.attempt_request);
      if (parsed && row.agent_id !== null) {
        end = await this.sendAndWait(row.agent_id, {
          v: PROTOCOL_VERSION,
          id: newId(this.random),
          type: "op.request",
          ...parsed,
          sealed: row.sealed_payload,
        });
      }
      const written =
        end.kind === "result"
          ? { kind: "result" as const, result: end.result, roundTripMs: end.roundTripMs }
          : { kind: "lost" as const, sent: end.kind !== "lost" || end.sent };
      // Only the attempt we claimed: a submitter that gave up has moved the row on (attempts, state).
      await this.deps.db
        .updateTable("writeback_operations")
        .set({
          attempt_state: "answered",
          attempt_result: JSON.stringify(written),
          sealed_payload: null,
          updated_at: this.deps.clock.now(),
        })
        .where("id", "=", row.id)
        .where("attempts", "=", row.attempts)
        .where("claimed_by", "=", this.deps.registry.instanceId)
        .where("attempt_state", "=", "claimed")
        .execute();
      this.bus.publish("answered", row.id);
    } finally {
      this.claimedHere.delete(row.id);
    }
  }

  private onResult(agentId: string, result: OpResult): void {
    const w = this.waiting.get(result.opId);
    if (!w || w.agentId !== agentId) {
      // Unknown or stale (an earlier attempt's agent answering late): nothing waits for it here.
      this.log.info(
        { operationId: result.opId, agentId, outcome: result.outcome },
        "writeback result for no waiting operation; ignored",
      );
      return;
    }
    if (result.diagnostic) this.diagnostics.set(result.opId.replace(/\.verify$/, ""), result.diagnostic);
    w.settle({ kind: "result", result, roundTripMs: performance.now() - w.sentAt });
  }

  private onLinkClosed(agentId: string): void {
    this.keys.delete(agentId);
    for (const w of this.waiting.values()) {
      if (w.agentId === agentId) w.settle({ kind: "lost", sent: true });
    }
  }

  /** Records the final outcome: the row, the audit event, and the email when the person was told "pending". */
  private async finish(
    opId: string,
    req: WritebackRequest,
    outcome: FinalOutcome,
    told: boolean,
  ): Promise<void> {
    const now = this.deps.clock.now();
    const code = outcome.status === "applied" ? null : outcome.code;
    const state = outcome.status === "applied" ? "succeeded" : "failed";
    // The row and the audit record do not depend on each other: on PostgreSQL they go out on two
    // connections at once (one round trip instead of two); SQLite runs them one after the other anyway.
    const row = !this.rowsWritten.has(opId)
      ? // No attempt was ever made (no agent online): the row records the failure.
        this.insertRow(opId, req, now, { state, result_code: code, completed_at: now })
      : this.deps.db
          .updateTable("writeback_operations")
          .set({
            state,
            result_code: code,
            sealed_payload: null,
            attempt_request: null,
            attempt_result: null,
            updated_at: now,
            completed_at: now,
          })
          .where("id", "=", opId)
          .execute();
    const audit = this.deps.audit.emit({
      tenantId: req.tenantId,
      event: `writeback.${outcome.status}`,
      result: outcome.status === "applied" ? "success" : "failure",
      actor: req.actor ?? req.user.id,
      target: req.user.id,
      flowId: req.flowId ?? null,
      reason: code,
      details: {
        operationId: opId,
        kind: req.kind,
        agentId: outcome.agentId,
        resultCode: code,
        diagnostic: this.diagnostics.get(opId) ?? null,
        notified: told,
        // Durations only (the per-flow timeline reads them): the agent's phases and the round trip.
        timings: outcome.timings ?? null,
      },
    });
    // Both are awaited (and both settle) before the caller hears the outcome.
    const [rowDone, auditDone] = await Promise.allSettled([row, audit]);
    if (rowDone.status === "rejected") throw rowDone.reason;
    if (auditDone.status === "rejected") throw auditDone.reason;
    this.diagnostics.delete(opId);
    if (told) {
      try {
        await this.deps.notifyPending({
          tenantId: req.tenantId,
          user: req.user,
          kind: req.kind,
          operationId: opId,
          outcome,
        });
      } catch (e) {
        this.log.error({ err: e, operationId: opId }, "could not queue the writeback result email");
      }
    }
  }
}

/** A refusal a replay gets when the lost first attempt had applied. */
function replayRefusal(kind: OperationKind, code: string): boolean {
  if (kind === "change") return code === "OLD_PASSWORD_WRONG" || code === "INVALID_CREDENTIALS";
  if (kind === "reset") return code === "PASSWORD_IN_HISTORY";
  return false;
}

function toOutcome(
  opId: string,
  agentId: string,
  r: OpResult,
  roundTripMs: number,
  relayMs?: number,
): FinalOutcome {
  const timings: WritebackTimings = {
    ...r.timings,
    roundTripMs: round2(roundTripMs),
    ...(relayMs !== undefined ? { relayMs: round2(relayMs) } : {}),
  };
  if (r.outcome === "applied") return { status: "applied", operationId: opId, agentId, timings };
  const code = (r.code ?? "DIRECTORY_ERROR") as DirectoryErrorCode;
  return {
    status: r.outcome,
    operationId: opId,
    code,
    messageId: (DIRECTORY_ERRORS[code] ?? DIRECTORY_ERRORS.DIRECTORY_ERROR).messageId,
    agentId,
    timings,
  };
}

const round2 = (ms: number) => Math.round(ms * 100) / 100;

function parseAttemptResult(json: string | null): z.infer<typeof attemptResultSchema> | null {
  if (json === null) return null;
  try {
    const r = attemptResultSchema.safeParse(JSON.parse(json));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

function parseAttemptRequest(json: string | null): z.infer<typeof attemptRequestSchema> | null {
  if (json === null) return null;
  try {
    const r = attemptRequestSchema.safeParse(JSON.parse(json));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
