/**
 * Directory sync ingestion: applies the agent's `sync.batch` messages to the users table, one
 * transaction per batch, and says what became of each user (`sync.ack`).
 *
 * - Users are keyed by (tenant, directory, source anchor); the user name is the account name,
 *   normalised like the reset flow's identifier (NFKC, trimmed, lower-case).
 * - A pass (`syncId`) has a row in `sync_passes`: its batches must arrive in order (seq 0, 1, …);
 *   a batch already applied is acknowledged again without being applied twice, so an agent may
 *   resend after a reconnect, to this instance or another.
 * - A full pass stamps every user it sees with its id; its final batch marks the directory's live
 *   users it did not see as deleted. Incremental passes mark the anchors they list as deleted.
 * - Deleted users keep their row (audit records point at it) with `deleted_at` set, `enabled` and
 *   `in_scope` cleared and their sessions revoked; everything else treats them as unknown. An anchor
 *   that comes back (AD's recycle bin keeps objectGUID) is restored by the next batch that has it.
 * - A user is refused, alone, when its name is held by a cloud account or by another live synced
 *   account; a deleted account holding the name gives it up (renamed to `<name>~deleted~<id>`).
 * - Email and phone numbers are stored on the user row only. They become verification methods once
 *   the person confirms them (issue 6): sync creates no auth_methods rows.
 */
import type { AgentMessage, SyncedUser, SyncRejectedEntry } from "@latchkey/protocol";
import type { Kysely, Transaction } from "kysely";
import type { AuditSink } from "../audit/emitter.js";
import { parseTenantSettings } from "../config/tenant-settings.js";
import type { Clock } from "../core/clock.js";
import { cryptoRandom, newId, type Random } from "../core/random.js";
import type { Logger } from "../logging/logger.js";
import type { Database, NewUser, SyncPass } from "../store/schema.js";
import {
  syncBatchDuration,
  syncBatchesRefused,
  syncLastFull,
  syncLastFullTimestamp,
  syncUsers,
} from "./metrics.js";

export type SyncBatch = Extract<AgentMessage, { type: "sync.batch" }>;

/** Who sends a batch: the authenticated agent and the directories it was accepted for. */
export interface SyncScope {
  tenantId: string;
  agentId: string;
  directories: ReadonlySet<string>;
}

/** Why a whole batch is refused (answered with an `error` SYNC_REJECTED). */
export type BatchRefusal =
  | "directory_not_served"
  | "out_of_order"
  | "pass_mismatch"
  | "pass_of_another_agent"
  | "pass_completed";

export type BatchOutcome =
  | {
      kind: "ack";
      /** Users stored: created, updated or confirmed unchanged. */
      upserted: number;
      created: number;
      updated: number;
      unchanged: number;
      /** Users marked deleted by this batch (its `deleted` anchors, or the end of a full pass). */
      removed: number;
      rejected: SyncRejectedEntry[];
      /** A resend of a batch already applied: nothing was done. */
      duplicate: boolean;
      /** The final batch of a full pass was applied. */
      completedFull: boolean;
    }
  | { kind: "refused"; reason: BatchRefusal; message: string };

/** Same normalisation as the reset flow's identifier (flows/reset/service.ts normaliseIdentifier). */
export function normaliseUsername(name: string): string {
  return name.normalize("NFKC").trim().toLowerCase();
}

/** Anchors are GUID/UUID strings; compared lower-case. */
export function normaliseAnchor(anchor: string): string {
  return anchor.trim().toLowerCase();
}

/** Thrown inside a batch's transaction when a concurrent application of the same batch committed first. */
class ConcurrentBatchError extends Error {}

/** The answer to a batch that was already applied. */
function duplicate(): Extract<BatchOutcome, { kind: "ack" }> {
  return {
    kind: "ack",
    upserted: 0,
    created: 0,
    updated: 0,
    unchanged: 0,
    removed: 0,
    rejected: [],
    duplicate: true,
    completedFull: false,
  };
}

/** Completed and abandoned pass rows are kept this long (resends of old batches are then refused). */
export const PASS_RETENTION_MS = 24 * 60 * 60_000;

// Kept well under PostgreSQL's 65,535 bind parameters and SQLite's 32,766.
const IN_CHUNK = 1000;
const INSERT_CHUNK = 200;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The user columns a directory owns. */
function columnsOf(u: SyncedUser, username: string) {
  return {
    username,
    upn: u.upn,
    email: u.mail,
    display_name: u.displayName,
    given_name: u.givenName,
    surname: u.surname,
    mobile: u.mobile,
    office_phone: u.telephoneNumber,
    enabled: u.enabled ? 1 : 0,
    locked: u.locked ? 1 : 0,
    in_scope: u.inScope ? 1 : 0,
    is_admin: u.isAdmin ? 1 : 0,
    password_changed_at: u.passwordLastSet,
    password_expires_at: u.passwordExpiresAt,
  } as const;
}
type DirectoryColumns = ReturnType<typeof columnsOf>;
const DIRECTORY_COLUMNS = Object.keys(
  columnsOf(
    {
      anchor: "a",
      dn: "d",
      username: "u",
      upn: null,
      displayName: null,
      givenName: null,
      surname: null,
      mail: null,
      mobile: null,
      telephoneNumber: null,
      enabled: true,
      locked: false,
      inScope: true,
      isAdmin: false,
      passwordLastSet: null,
      passwordExpiresAt: null,
    },
    "u",
  ),
) as (keyof DirectoryColumns)[];

interface Holder {
  id: string;
  kind: "cloud" | "synced";
  deleted: boolean;
}

export interface SyncIngestorDeps {
  db: Kysely<Database>;
  clock: Clock;
  audit: AuditSink;
  logger: Logger;
  random?: Random;
}

interface WithheldDeletions {
  tenantId: string;
  agentId: string;
  batch: SyncBatch;
  wouldDelete: number;
  live: number;
  limit: string;
}

export class SyncIngestor {
  private readonly random: Random;
  /** Withheld deletions found inside a transaction, reported (audit, log) once it has committed. */
  private withheld: WithheldDeletions[] = [];

  constructor(private readonly deps: SyncIngestorDeps) {
    this.random = deps.random ?? cryptoRandom;
  }

  /** Applies one batch in one transaction. Throws only when the store fails (nothing is then applied). */
  async applyBatch(scope: SyncScope, batch: SyncBatch): Promise<BatchOutcome> {
    const started = performance.now();
    const dir = batch.directoryId;
    if (!scope.directories.has(dir)) {
      return this.refused("directory_not_served", `this agent is not accepted for directory ${dir}`, batch);
    }
    const now = this.deps.clock.now();
    let result: Awaited<ReturnType<SyncIngestor["applyInTransaction"]>>;
    try {
      result = await this.deps.db
        .transaction()
        .execute(async (trx) => this.applyInTransaction(trx, scope, batch, now));
    } catch (e) {
      // Rolled back: whatever the guard withheld inside it was not withheld after all.
      this.withheld = this.withheld.filter((w) => w.batch !== batch);
      if (!(e instanceof ConcurrentBatchError)) throw e;
      // Rolled back: the same batch was applied by a concurrent resend, as for any resend.
      return duplicate();
    }
    if (result.outcome.kind === "refused") {
      return this.refused(result.outcome.reason, result.outcome.message, batch);
    }
    const o = result.outcome;
    const pass = batch.full ? "full" : "incremental";
    syncBatchDuration.observe({ directory: dir, pass }, (performance.now() - started) / 1000);
    if (!o.duplicate) {
      for (const [outcome, n] of [
        ["created", o.created],
        ["updated", o.updated],
        ["unchanged", o.unchanged],
        ["removed", o.removed],
        ["rejected", o.rejected.length],
      ] as const) {
        if (n > 0) syncUsers.inc({ directory: dir, outcome }, n);
      }
    }
    if (o.rejected.length > 0) await this.recordRejections(scope, batch, o.rejected);
    await this.reportWithheld(batch);
    if (o.completedFull && result.pass) {
      const p = result.pass;
      const durationMs = now - p.started_at;
      syncLastFull.set({ directory: dir }, durationMs / 1000);
      syncLastFullTimestamp.set({ directory: dir }, now / 1000);
      await this.deps.audit.emit({
        tenantId: scope.tenantId,
        event: "sync.completed",
        result: "success",
        actor: `agent:${scope.agentId}`,
        details: {
          directoryId: dir,
          syncId: batch.syncId,
          batches: batch.seq + 1,
          upserted: p.upserted,
          removed: p.removed,
          rejected: p.rejected,
          durationMs,
        },
      });
      this.deps.logger.info(
        {
          agentId: scope.agentId,
          directoryId: dir,
          syncId: batch.syncId,
          upserted: p.upserted,
          removed: p.removed,
          rejected: p.rejected,
          durationMs,
        },
        "full sync pass completed",
      );
    }
    return o;
  }

  private async reportWithheld(batch: SyncBatch): Promise<void> {
    const mine = this.withheld.filter((w) => w.batch === batch);
    this.withheld = this.withheld.filter((w) => w.batch !== batch);
    for (const w of mine) {
      await this.deps.audit.emit({
        tenantId: w.tenantId,
        event: "sync.deletions_withheld",
        result: "failure",
        actor: `agent:${w.agentId}`,
        reason: "deletion_threshold",
        details: {
          directoryId: batch.directoryId,
          syncId: batch.syncId,
          wouldDelete: w.wouldDelete,
          live: w.live,
          limit: w.limit,
        },
      });
      this.deps.logger.warn(
        {
          errorCode: "SYNC_DELETIONS_WITHHELD",
          directoryId: batch.directoryId,
          syncId: batch.syncId,
          wouldDelete: w.wouldDelete,
          live: w.live,
          limit: w.limit,
        },
        "a full sync pass would have deleted more users than the threshold allows; none were deleted. If the departures are real, raise the tenant's sync threshold (latchkey admin tenant set) for one pass",
      );
    }
  }

  private refused(reason: BatchRefusal, message: string, batch: SyncBatch): BatchOutcome {
    syncBatchesRefused.inc({ reason });
    this.deps.logger.warn(
      {
        errorCode: "SYNC_REJECTED",
        reason,
        directoryId: batch.directoryId,
        syncId: batch.syncId,
        seq: batch.seq,
      },
      "sync batch refused",
    );
    return { kind: "refused", reason, message };
  }

  private async recordRejections(scope: SyncScope, batch: SyncBatch, rejected: SyncRejectedEntry[]) {
    const counts: Record<string, number> = {};
    for (const r of rejected) counts[r.reason] = (counts[r.reason] ?? 0) + 1;
    // Anchors are directory GUIDs, not personal data; user names are left out.
    this.deps.logger.warn(
      {
        errorCode: "SYNC_REJECTED",
        agentId: scope.agentId,
        directoryId: batch.directoryId,
        syncId: batch.syncId,
        seq: batch.seq,
        counts,
        anchors: rejected.slice(0, 20).map((r) => `${r.anchor}:${r.reason}`),
      },
      "sync refused some users",
    );
    await this.deps.audit.emit({
      tenantId: scope.tenantId,
      event: "sync.rejected",
      result: "failure",
      actor: `agent:${scope.agentId}`,
      details: { directoryId: batch.directoryId, syncId: batch.syncId, seq: batch.seq, counts },
    });
  }

  private async applyInTransaction(
    trx: Transaction<Database>,
    scope: SyncScope,
    batch: SyncBatch,
    now: number,
  ): Promise<{
    outcome: BatchOutcome | { kind: "refused"; reason: BatchRefusal; message: string };
    pass?: SyncPass;
  }> {
    const { tenantId } = scope;
    const dir = batch.directoryId;
    const readPass = () =>
      trx
        .selectFrom("sync_passes")
        .selectAll()
        .where("tenant_id", "=", tenantId)
        .where("directory_id", "=", dir)
        .where("sync_id", "=", batch.syncId)
        .executeTakeFirst();
    const existingPass = await readPass();
    const refuse = (reason: BatchRefusal, message: string) => ({
      outcome: { kind: "refused" as const, reason, message },
    });
    if (!existingPass) {
      if (batch.seq !== 0) return refuse("out_of_order", `a new pass starts at seq 0, not ${batch.seq}`);
      await trx
        .deleteFrom("sync_passes")
        .where("tenant_id", "=", tenantId)
        .where("directory_id", "=", dir)
        .where("updated_at", "<", now - PASS_RETENTION_MS)
        .execute();
      await trx
        .insertInto("sync_passes")
        .values({
          tenant_id: tenantId,
          directory_id: dir,
          sync_id: batch.syncId,
          agent_id: scope.agentId,
          full: batch.full ? 1 : 0,
          next_seq: 0,
          upserted: 0,
          removed: 0,
          rejected: 0,
          started_at: now,
          updated_at: now,
          completed_at: null,
        })
        .execute();
    } else {
      if (existingPass.agent_id !== scope.agentId)
        return refuse("pass_of_another_agent", "this pass was started by another agent");
      if ((existingPass.full === 1) !== batch.full)
        return refuse("pass_mismatch", "a pass is either full or incremental in every batch");
      if (batch.seq < existingPass.next_seq) {
        return { outcome: duplicate() };
      }
      if (existingPass.completed_at !== null) return refuse("pass_completed", "this pass has ended");
      if (batch.seq > existingPass.next_seq)
        return refuse("out_of_order", `expected seq ${existingPass.next_seq}, not ${batch.seq}`);
    }
    const pass = existingPass ?? (await readPass());
    if (!pass) throw new Error("the sync pass row just written cannot be read back");

    const users = await this.upsertUsers(trx, scope, batch, now);
    let removed = await this.removeAnchors(trx, scope, batch, users.seenAnchors, now);
    if (batch.full && batch.final) removed += await this.endFullPass(trx, scope, batch, pass, now);

    const updated = await trx
      .updateTable("sync_passes")
      .set({
        next_seq: batch.seq + 1,
        upserted: pass.upserted + users.upserted,
        removed: pass.removed + removed,
        rejected: pass.rejected + users.rejected.length,
        updated_at: now,
        completed_at: batch.final ? now : null,
      })
      .where("tenant_id", "=", tenantId)
      .where("directory_id", "=", dir)
      .where("sync_id", "=", batch.syncId)
      // Another instance applying the same batch at the same moment: the first to commit wins.
      .where("next_seq", "=", pass.next_seq)
      .returningAll()
      .executeTakeFirst();
    if (!updated) throw new ConcurrentBatchError();
    return {
      outcome: {
        kind: "ack",
        upserted: users.upserted,
        created: users.created,
        updated: users.updated,
        unchanged: users.unchanged,
        removed,
        rejected: users.rejected,
        duplicate: false,
        completedFull: batch.full && batch.final,
      },
      pass: updated,
    };
  }

  private async upsertUsers(trx: Transaction<Database>, scope: SyncScope, batch: SyncBatch, now: number) {
    const { tenantId } = scope;
    const dir = batch.directoryId;
    const rejected: SyncRejectedEntry[] = [];
    const seenAnchors = new Set<string>();
    let created = 0;
    let updated = 0;
    let unchanged = 0;

    const anchors = [...new Set(batch.users.map((u) => normaliseAnchor(u.anchor)).filter(Boolean))];
    const existing = new Map<string, Awaited<ReturnType<typeof selectExisting>>[number]>();
    const selectExisting = (list: string[]) =>
      trx
        .selectFrom("users")
        .select(["id", "source_anchor", "deleted_at", ...DIRECTORY_COLUMNS])
        .where("tenant_id", "=", tenantId)
        .where("directory_id", "=", dir)
        .where("source_anchor", "in", list)
        .execute();
    for (const part of chunks(anchors, IN_CHUNK)) {
      for (const row of await selectExisting(part)) existing.set(row.source_anchor ?? "", row);
    }

    const names = [...new Set(batch.users.map((u) => normaliseUsername(u.username)).filter(Boolean))];
    const holders = new Map<string, Holder>();
    for (const part of chunks(names, IN_CHUNK)) {
      const rows = await trx
        .selectFrom("users")
        .select(["id", "username", "kind", "deleted_at"])
        .where("tenant_id", "=", tenantId)
        .where("username", "in", part)
        .execute();
      for (const r of rows)
        holders.set(r.username, { id: r.id, kind: r.kind, deleted: r.deleted_at !== null });
    }

    const inserts: NewUser[] = [];
    for (const u of batch.users) {
      const anchor = normaliseAnchor(u.anchor);
      if (!anchor) {
        rejected.push({ anchor: u.anchor, reason: "invalid_anchor" });
        continue;
      }
      if (seenAnchors.has(anchor)) {
        rejected.push({ anchor, reason: "duplicate_anchor" });
        continue;
      }
      seenAnchors.add(anchor);
      const username = normaliseUsername(u.username);
      if (!username) {
        rejected.push({ anchor, reason: "invalid_username" });
        continue;
      }
      const row = existing.get(anchor);
      const holder = holders.get(username);
      if (holder && holder.id !== row?.id) {
        if (!holder.deleted) {
          rejected.push({
            anchor,
            reason: holder.kind === "cloud" ? "username_taken_cloud" : "username_taken",
          });
          continue;
        }
        // A deleted account gives its name up to a live one.
        await trx
          .updateTable("users")
          .set({ username: `${username}~deleted~${holder.id}`, updated_at: now })
          .where("id", "=", holder.id)
          .execute();
        holders.delete(username);
      }
      const values = columnsOf(u, username);
      if (!row) {
        const id = newId(this.random);
        inserts.push({
          id,
          tenant_id: tenantId,
          kind: "synced",
          ...values,
          source_anchor: anchor,
          directory_id: dir,
          password_hash: null,
          created_at: now,
          updated_at: now,
          deleted_at: null,
          last_full_sync_id: batch.full ? batch.syncId : null,
        });
        holders.set(username, { id, kind: "synced", deleted: false });
        created++;
        continue;
      }
      const changed = DIRECTORY_COLUMNS.some((c) => row[c] !== values[c]);
      if (!changed && row.deleted_at === null) {
        unchanged++;
        continue;
      }
      await trx
        .updateTable("users")
        .set({ ...values, deleted_at: null, updated_at: now })
        .where("id", "=", row.id)
        .execute();
      if (row.username !== username) holders.delete(row.username);
      holders.set(username, { id: row.id, kind: "synced", deleted: false });
      updated++;
    }
    for (const part of chunks(inserts, INSERT_CHUNK)) await trx.insertInto("users").values(part).execute();
    if (batch.full) {
      // Seen, even when refused: a full pass removes only what the directory no longer has.
      const stamp = [...seenAnchors].filter((a) => existing.has(a));
      for (const part of chunks(stamp, IN_CHUNK)) {
        await trx
          .updateTable("users")
          .set({ last_full_sync_id: batch.syncId })
          .where("tenant_id", "=", tenantId)
          .where("directory_id", "=", dir)
          .where("source_anchor", "in", part)
          .execute();
      }
    }
    return { upserted: created + updated + unchanged, created, updated, unchanged, rejected, seenAnchors };
  }

  /** Marks the batch's `deleted` anchors deleted (an anchor also upserted in the batch stays). */
  private async removeAnchors(
    trx: Transaction<Database>,
    scope: SyncScope,
    batch: SyncBatch,
    upserted: ReadonlySet<string>,
    now: number,
  ): Promise<number> {
    const anchors = [...new Set(batch.deleted.map(normaliseAnchor))].filter((a) => a && !upserted.has(a));
    const ids: string[] = [];
    for (const part of chunks(anchors, IN_CHUNK)) {
      const rows = await trx
        .selectFrom("users")
        .select("id")
        .where("tenant_id", "=", scope.tenantId)
        .where("directory_id", "=", batch.directoryId)
        .where("kind", "=", "synced")
        .where("deleted_at", "is", null)
        .where("source_anchor", "in", part)
        .execute();
      ids.push(...rows.map((r) => r.id));
    }
    await markDeleted(trx, ids, now);
    return ids.length;
  }

  /**
   * The end of a full pass: the directory's live users it did not see are marked deleted. A user
   * written after the pass began by something else (an interleaved incremental pass) is kept: the
   * next full pass decides about it.
   */
  private async endFullPass(
    trx: Transaction<Database>,
    scope: SyncScope,
    batch: SyncBatch,
    pass: SyncPass,
    now: number,
  ): Promise<number> {
    const rows = await trx
      .selectFrom("users")
      .select("id")
      .where("tenant_id", "=", scope.tenantId)
      .where("directory_id", "=", batch.directoryId)
      .where("kind", "=", "synced")
      .where("deleted_at", "is", null)
      .where("updated_at", "<=", pass.started_at)
      .where((eb) =>
        eb.or([eb("last_full_sync_id", "is", null), eb("last_full_sync_id", "!=", batch.syncId)]),
      )
      .execute();
    const ids = rows.map((r) => r.id);
    if (ids.length === 0) return 0;
    const withheld = await this.deletionsExceedThreshold(trx, scope.tenantId, batch.directoryId, ids.length);
    if (withheld) {
      // A full pass that suddenly misses many users is far more often a wrong base DN, a lost group
      // membership or a directory outage than a real mass departure: keep everyone and alert.
      this.withheld.push({ ...withheld, tenantId: scope.tenantId, agentId: scope.agentId, batch });
      return 0;
    }
    await markDeleted(trx, ids, now);
    return ids.length;
  }

  /** The guard's verdict: null when the deletions may proceed, else what would have gone. */
  private async deletionsExceedThreshold(
    trx: Transaction<Database>,
    tenantId: string,
    directoryId: string,
    wouldDelete: number,
  ): Promise<{ wouldDelete: number; live: number; limit: string } | null> {
    const tenant = await trx
      .selectFrom("tenants")
      .select("settings_json")
      .where("id", "=", tenantId)
      .executeTakeFirst();
    const { maxDeletionsPerFullPass, maxDeletionPercent } = parseTenantSettings(
      tenant?.settings_json ?? "{}",
    ).sync;
    const liveRow = await trx
      .selectFrom("users")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .where("tenant_id", "=", tenantId)
      .where("directory_id", "=", directoryId)
      .where("kind", "=", "synced")
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    const live = Number(liveRow?.n ?? 0);
    if (maxDeletionsPerFullPass > 0 && wouldDelete > maxDeletionsPerFullPass)
      return { wouldDelete, live, limit: `maxDeletionsPerFullPass=${maxDeletionsPerFullPass}` };
    if (maxDeletionPercent > 0 && wouldDelete > 10 && wouldDelete * 100 > live * maxDeletionPercent)
      return { wouldDelete, live, limit: `maxDeletionPercent=${maxDeletionPercent}` };
    return null;
  }
}

/** Deleted: kept for the audit trail, unusable everywhere (and its sessions end). */
async function markDeleted(trx: Transaction<Database>, ids: readonly string[], now: number): Promise<void> {
  for (const part of chunks(ids, IN_CHUNK)) {
    await trx
      .updateTable("users")
      .set({ deleted_at: now, enabled: 0, in_scope: 0, updated_at: now })
      .where("id", "in", part)
      .execute();
    await trx
      .updateTable("sessions")
      .set({ revoked_at: now })
      .where("user_id", "in", part)
      .where("revoked_at", "is", null)
      .execute();
  }
}
