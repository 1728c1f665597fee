/**
 * Password writeback, the server's half (issue 5): one password operation (reset, change, unlock,
 * verify-password) for a synced user, sealed to one online agent serving the user's directory, sent
 * on its link, and waited for. Every `submit` ends in an applied result, a clear refusal or failure,
 * or "pending" — and a pending operation keeps running here and emails the person its final result.
 *
 * The operation is a `writeback_operations` row; the secrets exist in clear only in this process's
 * memory while the operation runs, and the row holds the sealed payload only while an agent has it.
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
  PROTOCOL_VERSION,
  seal,
} from "@latchkey/protocol";
import type { Kysely } from "kysely";
import type { AuditSink } from "../audit/emitter.js";
import type { Clock } from "../core/clock.js";
import { cryptoRandom, newId, type Random } from "../core/random.js";
import type { AgentRegistry, OnlineAgent } from "../directory-link/registry.js";
import type { Logger } from "../logging/logger.js";
import type { Database, User, WritebackOperationsTable } from "../store/schema.js";

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
}

export const DEFAULT_WRITEBACK_OPTIONS: WritebackOptions = {
  pendingAfterMs: 15_000,
  attemptDeadlineMs: 60_000,
  answerGraceMs: 30_000,
  maxAttempts: 3,
  reconnectWaitMs: 5_000,
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
}

/** What one attempt on one agent came to. */
type AttemptEnd =
  | { kind: "result"; result: OpResult; roundTripMs: number }
  /** The link closed (or the message could not be sent) before an answer. `sent`: it may have run. */
  | { kind: "lost"; sent: boolean }
  | { kind: "timeout" };

interface Waiter {
  agentId: string;
  /** performance.now() when op.request was sent (for roundTripMs). */
  sentAt: number;
  settle(end: AttemptEnd): void;
}

const encoder = new TextEncoder();

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

  constructor(private readonly deps: WritebackDeps) {
    this.options = { ...DEFAULT_WRITEBACK_OPTIONS, ...deps.options };
    this.random = deps.random ?? cryptoRandom;
    this.log = deps.logger.child({ component: "writeback" });
    this.sealing = deps.sealing ?? { seal, operationAad };
    this.unsubscribe = [
      deps.registry.onOpResult((agentId, result) => this.onResult(agentId, result)),
      deps.registry.onLinkClosed((agentId) => this.onLinkClosed(agentId)),
    ];
  }

  /** Whether an agent serving the user's directory is online on this instance. */
  canServe(user: User): boolean {
    return (
      user.kind === "synced" &&
      user.deleted_at === null &&
      user.source_anchor !== null &&
      user.directory_id !== null &&
      this.deps.registry.isServing(user.tenant_id, user.directory_id)
    );
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
      if (this.runningIds.has(row.id)) continue;
      const res = await db
        .updateTable("writeback_operations")
        .set({
          state: "failed",
          result_code: "OUTCOME_UNKNOWN",
          sealed_payload: null,
          updated_at: now,
          completed_at: now,
        })
        .where("id", "=", row.id)
        .where("completed_at", "is", null)
        .executeTakeFirst();
      if (Number(res.numUpdatedRows) !== 1) continue;
      ended++;
      const kind = row.type as OperationKind;
      const outcome = this.unknown(row.id);
      await this.deps.audit.emit({
        tenantId: row.tenant_id,
        event: "writeback.failed",
        result: "failure",
        target: row.user_id,
        reason: "OUTCOME_UNKNOWN",
        details: {
          operationId: row.id,
          kind,
          agentId: row.agent_id,
          resultCode: "OUTCOME_UNKNOWN",
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

  /** Sweeps stale rows now and then every attemptDeadlineMs + answerGraceMs (until close). */
  start(): void {
    if (this.sweeper) return;
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
    for (const u of this.unsubscribe) u();
  }

  // ——— one operation ———

  private async run(opId: string, req: WritebackRequest): Promise<FinalOutcome> {
    const tried = new Set<string>();
    /** An attempt was sent to an agent that was then lost: it may have applied. */
    let mayHaveApplied = false;
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
      const agent =
        attempt === 1
          ? this.pick(req.tenantId, req.user.directory_id ?? "", tried)
          : await this.pickAfterLoss(req.tenantId, req.user.directory_id ?? "", tried);
      if (!agent) break;
      tried.add(agent.agentId);
      const end = await this.attempt(opId, req, req.kind, req.secrets, agent, attempt);
      if (end.kind === "result") {
        const r = end.result;
        if (mayHaveApplied && r.outcome !== "applied" && r.code !== null && replayRefusal(req.kind, r.code)) {
          // The replay was refused the way it would be if the lost attempt had applied (a change:
          // the old password no longer works; a reset: the new one is now "in history"). Ask the
          // directory whether the new password works, under a fresh id (its own operation).
          return this.verifyAfterLostAttempt(opId, req, toOutcome(opId, agent.agentId, r, end.roundTripMs));
        }
        return toOutcome(opId, agent.agentId, r, end.roundTripMs);
      }
      if (end.kind === "lost" && end.sent) mayHaveApplied = true;
      this.log.warn(
        { operationId: opId, agentId: agent.agentId, attempt, end: end.kind },
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
    const agent = this.pick(req.tenantId, req.user.directory_id ?? "", new Set());
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
    this.keys.set(agentId, key);
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
  ): Promise<OnlineAgent | null> {
    const deadline = Date.now() + this.options.reconnectWaitMs;
    for (;;) {
      const agent = this.pick(tenantId, directoryId, tried) ?? this.pick(tenantId, directoryId, new Set());
      if (agent) return agent;
      if (Date.now() >= deadline) return null;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Least-loaded online agent serving the directory, not yet tried (freshest heartbeat on a tie). */
  private pick(tenantId: string, directoryId: string, tried: Set<string>): OnlineAgent | null {
    let best: OnlineAgent | null = null;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (const a of this.deps.registry.serving(tenantId, directoryId)) {
      if (tried.has(a.agentId)) continue;
      const load = this.load.get(a.agentId) ?? 0;
      if (load < bestLoad) {
        best = a;
        bestLoad = load;
      }
    }
    return best;
  }

  /**
   * One attempt on one agent: seal to its key, record it, send, wait. `rowId` is the operation's
   * row (a verify after a lost change runs under its own opId but updates the change's row).
   */
  private async attempt(
    opId: string,
    req: WritebackRequest,
    kind: OperationKind,
    secrets: WritebackSecrets,
    agent: OnlineAgent,
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
    if (!this.rowsWritten.has(rowId)) {
      await this.insertRow(rowId, req, now, {
        agent_id: agent.agentId,
        state: "claimed",
        sealed_payload: sealed,
        attempts: 1,
      });
    } else {
      await db
        .updateTable("writeback_operations")
        .set((eb) => ({
          agent_id: agent.agentId,
          state: "claimed",
          sealed_payload: sealed,
          attempts: eb("attempts", "+", 1),
          updated_at: now,
        }))
        .where("id", "=", rowId)
        .execute();
    }

    const deadline = now + this.options.attemptDeadlineMs;
    const message: OpRequest = {
      v: PROTOCOL_VERSION,
      id: newId(this.random),
      type: "op.request",
      opId,
      kind,
      tenantId: req.tenantId,
      directoryId: req.user.directory_id ?? "",
      anchor,
      dn: null,
      options: { unlock: req.options?.unlock ?? false, mustChange: req.options?.mustChange ?? false },
      sealed,
      deadline,
    };
    this.load.set(agent.agentId, (this.load.get(agent.agentId) ?? 0) + 1);
    let end: AttemptEnd | undefined;
    try {
      const answered = new Promise<AttemptEnd>((resolve) => {
        const timer = setTimeout(
          () => resolve({ kind: "timeout" }),
          this.options.attemptDeadlineMs + this.options.answerGraceMs,
        );
        timer.unref();
        this.waiting.set(opId, {
          agentId: agent.agentId,
          sentAt: performance.now(),
          settle: (end) => {
            clearTimeout(timer);
            resolve(end);
          },
        });
      });
      const link = this.deps.registry.link(agent.agentId);
      if (!link?.send(message)) {
        this.waiting.get(opId)?.settle({ kind: "lost", sent: false });
      } else {
        this.log.debug({ operationId: rowId, agentId: agent.agentId, kind, attempt }, "writeback sent");
      }
      end = await answered;
      // An attempt that timed out may still run on its agent: treat it as sent and lost.
      return end.kind === "timeout" ? { kind: "lost", sent: true } : end;
    } finally {
      this.waiting.delete(opId);
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
    if (!this.rowsWritten.has(opId)) {
      // No attempt was ever made (no agent online): the row records the failure.
      await this.insertRow(opId, req, now, { state, result_code: code, completed_at: now });
    } else {
      await this.deps.db
        .updateTable("writeback_operations")
        .set({ state, result_code: code, sealed_payload: null, updated_at: now, completed_at: now })
        .where("id", "=", opId)
        .execute();
    }
    await this.deps.audit.emit({
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
      },
    });
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

function toOutcome(opId: string, agentId: string, r: OpResult, roundTripMs: number): FinalOutcome {
  const timings: WritebackTimings = { ...r.timings, roundTripMs: Math.round(roundTripMs * 100) / 100 };
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
