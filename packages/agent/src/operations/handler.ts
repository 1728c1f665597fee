/**
 * The agent's side of a password operation (op.request → op.result):
 *
 * 1. a repeated opId is answered from memory (fromCache), and one still in flight is waited for:
 *    the directory is written at most once per opId (ResultCache: 10,000 results for 1 h by default);
 * 2. past its deadline, an operation is not started (DIRECTORY_TIMEOUT, nothing applied);
 * 3. the sealed secrets are opened with the agent's X25519 key and the operation's associated data
 *    (opId, kind, tenant, anchor); any failure is SEAL_INVALID, refused, nothing applied;
 * 4. the directory operator re-resolves the user by anchor and applies it, at most `concurrency`
 *    operations at once per directory (AD 2: Samba hashes one password at a time, and a second
 *    operation only overlaps its search with the other's hashing — measured +16–30 % over 1; slapd 4),
 *    and operations on one user one after another.
 *
 * Secrets exist only for the call: the opened bytes are zeroed after parsing, the values built from
 * them (UTF-16 and BER buffers) after use; JS strings cannot be zeroed and are simply dropped. Nothing
 * here logs a secret: the log lines carry opId, kind, directory, outcome and code.
 */
import type { KeyObject } from "node:crypto";
import { type OpRequest, type OpResult, open, operationAad } from "@latchkey/protocol";
import type { Clock } from "../link/clock.js";
import type { AgentLogger } from "../log.js";
import { Limiter, ResultCache } from "./cache.js";
import { type DirectoryOperator, failure, type OperationOutcome, round } from "./directory.js";

export type OperationResult = Pick<
  OpResult,
  "opId" | "outcome" | "applied" | "code" | "diagnostic" | "fromCache" | "timings"
>;

export interface OperationHandlerOptions {
  /** The agent's X25519 private key (AgentIdentity.sealingKey). */
  sealingKey: KeyObject;
  /** The directories this agent serves, by id. */
  directories: ReadonlyMap<string, DirectoryOperator>;
  clock?: Pick<Clock, "now">;
  logger?: AgentLogger;
  /** Remembered results: default 10,000 entries for 1 h. */
  cache?: { maxEntries?: number; ttlMs?: number };
  /** Operations at once per directory, by dialect (default AD 2, OpenLDAP 4). */
  concurrency?: { ad?: number; openldap?: number };
}

interface Secrets {
  newPassword?: string;
  oldPassword?: string;
  password?: string;
}

const seal = (diagnostic: string): OperationOutcome =>
  failure({ code: "SEAL_INVALID", outcome: "refused", diagnostic });

const tooLate = (): OperationOutcome =>
  failure({
    code: "DIRECTORY_TIMEOUT",
    outcome: "failed",
    diagnostic: "the operation's deadline had passed before the agent started it; nothing was applied",
  });

export class OperationHandler {
  private readonly cache: ResultCache<OperationOutcome>;
  private readonly clock: Pick<Clock, "now">;
  private readonly limiters = new Map<string, Limiter>();
  /** The tail of each user's queue: operations on one user run one after another. */
  private readonly perUser = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: OperationHandlerOptions) {
    this.clock = opts.clock ?? { now: () => Date.now() };
    this.cache = new ResultCache({
      maxEntries: opts.cache?.maxEntries ?? 10_000,
      ttlMs: opts.cache?.ttlMs ?? 3_600_000,
      clock: this.clock,
    });
  }

  /** Applies one operation (or answers it from memory). Never throws. */
  async handleOperation(request: OpRequest): Promise<OperationResult> {
    const key = `${request.tenantId}\u0000${request.opId}`;
    const { value, cached } = await this.cache.run(key, () =>
      this.apply(request).catch(
        (e: unknown): OperationOutcome =>
          failure({
            code: "DIRECTORY_ERROR",
            outcome: "failed",
            diagnostic: `internal error: ${e instanceof Error ? e.name : "unknown"}`,
          }),
      ),
    );
    // An answer from memory measured nothing: it carries no timings (the first answer had them).
    const { timings, ...rest } = value;
    const result: OperationResult = {
      opId: request.opId,
      ...rest,
      fromCache: cached,
      ...(!cached && timings ? { timings: { openMs: timings.openMs ?? 0, ...timings } } : {}),
    };
    this.opts.logger?.info(
      {
        opId: request.opId,
        kind: request.kind,
        directory: request.directoryId,
        outcome: result.outcome,
        applied: result.applied,
        code: result.code,
        fromCache: cached,
      },
      "password operation answered",
    );
    return result;
  }

  async close(): Promise<void> {
    await Promise.all([...this.opts.directories.values()].map((d) => d.close()));
  }

  private limiter(d: DirectoryOperator): Limiter {
    let l = this.limiters.get(d.id);
    if (!l) {
      const c = this.opts.concurrency ?? {};
      l = new Limiter(d.dialect === "ad" ? (c.ad ?? 2) : (c.openldap ?? 4));
      // Fixed once the dialect is known; before that (auto, not yet connected) it is re-decided.
      if (d.dialect !== null) this.limiters.set(d.id, l);
    }
    return l;
  }

  private async apply(request: OpRequest): Promise<OperationOutcome> {
    if (this.clock.now() > request.deadline) return tooLate();
    const directory = this.opts.directories.get(request.directoryId);
    if (!directory)
      return failure({
        code: "DIRECTORY_ERROR",
        outcome: "failed",
        diagnostic: `this agent does not serve the directory ${request.directoryId}`,
      });

    let secrets: Secrets = {};
    let openMs = 0;
    if (request.kind !== "unlock") {
      if (!request.sealed) return seal("no sealed payload for an operation that needs one");
      const t = performance.now();
      const opened = await this.open(request);
      openMs = round(performance.now() - t);
      if (!opened)
        return seal("the sealed payload could not be opened (wrong key or changed associated data)");
      secrets = opened;
    }
    if (directory.dialect === null) {
      // The dialect (hence the concurrency) is known after the first connection.
      await directory.service().catch(() => {});
    }
    const out = await this.oneAtATimePerUser(
      `${request.directoryId}\u0000${request.anchor.toLowerCase()}`,
      () => this.limiter(directory).run(() => this.dispatch(request, directory, secrets)),
    );
    return { ...out, timings: { openMs, lookupMs: 0, directoryMs: 0, ...out.timings } };
  }

  /**
   * Runs `task` after every earlier task for the same user has ended. Two password writes on one entry
   * at once can fail inside the directory (measured: slapd's ppolicy answered 16 noSuchAttribute to
   * one of two concurrent resets of a user, as each rewrote pwdHistory), and their order would be a race.
   */
  private async oneAtATimePerUser<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.perUser.get(key) ?? Promise.resolve();
    const run = before.then(task, task);
    const tail = run.catch(() => undefined);
    this.perUser.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.perUser.get(key) === tail) this.perUser.delete(key);
    }
  }

  private async dispatch(
    request: OpRequest,
    directory: DirectoryOperator,
    secrets: Secrets,
  ): Promise<OperationOutcome> {
    const need = (k: keyof Secrets): string | null =>
      typeof secrets[k] === "string" ? (secrets[k] as string) : null;
    // It may have waited for its turn: the deadline is checked again before anything is written.
    if (this.clock.now() > request.deadline) return tooLate();
    switch (request.kind) {
      case "reset": {
        const pw = need("newPassword");
        if (pw === null) return seal("the sealed payload has no newPassword");
        if (pw === "")
          return failure({
            code: "PASSWORD_TOO_SHORT",
            outcome: "refused",
            diagnostic: "empty new password",
          });
        return directory.reset(request.anchor, pw, request.options);
      }
      case "change": {
        const oldPw = need("oldPassword");
        const newPw = need("newPassword");
        if (oldPw === null || newPw === null)
          return seal("the sealed payload lacks oldPassword or newPassword");
        if (oldPw === "")
          return failure({
            code: "OLD_PASSWORD_WRONG",
            outcome: "refused",
            diagnostic: "empty old password",
          });
        if (newPw === "")
          return failure({
            code: "PASSWORD_TOO_SHORT",
            outcome: "refused",
            diagnostic: "empty new password",
          });
        return directory.change(request.anchor, oldPw, newPw);
      }
      case "unlock":
        return directory.unlock(request.anchor);
      case "verify-password": {
        const pw = need("password");
        if (pw === null) return seal("the sealed payload has no password");
        return directory.verifyPassword(request.anchor, pw);
      }
    }
  }

  private async open(request: OpRequest): Promise<Secrets | null> {
    let bytes: Uint8Array;
    try {
      bytes = await open(this.opts.sealingKey, request.sealed ?? "", operationAad(request));
    } catch {
      return null;
    }
    try {
      const parsed: unknown = JSON.parse(
        Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"),
      );
      if (typeof parsed !== "object" || parsed === null) return null;
      const out: Secrets = {};
      for (const k of ["newPassword", "oldPassword", "password"] as const) {
        const v = (parsed as Record<string, unknown>)[k];
        if (typeof v === "string") out[k] = v;
      }
      return out;
    } catch {
      return null;
    } finally {
      bytes.fill(0);
    }
  }
}
