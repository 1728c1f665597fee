/**
 * One sync pass of one directory, full or incremental, from a directory session to sync.batch
 * messages, and the cursor moved only once the server acknowledged all of them.
 *
 * Full pass: read the membership sets, list every user (paged), send them with `full: true`; the
 * server removes the directory's users the pass did not contain. The cursor becomes the mark of the
 * pass's start (AD: highestCommittedUSN) or the newest mark seen (OpenLDAP).
 *
 * Incremental pass, after cursor C (window W = session.windowStart(C, settled), never below the
 * floor a settled window left):
 *  1. groups changed since W that decide membership → read the membership sets again; every user
 *     whose scope/admin membership flipped is read and sent;
 *  2. users changed since W are sent (entries whose version was already sent are skipped);
 *  3. deletions: AD tombstones since W, and — every `reconcileEvery` passes — an anchors-only listing:
 *     anchors the server holds that the directory no longer lists are sent as deleted (this is how
 *     OpenLDAP deletions are found, and how any user that left baseDn or the filter is noticed);
 *     listed anchors the server does not hold are read and sent.
 * A full pass happens when there is no usable cursor: first run, another configuration, another
 * dialect, another AD DC, or when asked (sync --full, or the server's sync.request).
 */
import { createHash, randomUUID } from "node:crypto";
import { type SyncedUser, syncedUserSchema } from "@latchkey/protocol";
import type { AgentDirectoryConfig } from "../config/schema.js";
import type { DirectorySession, DirectoryUser, Membership, UserPage } from "../directory/types.js";
import type { AgentLogger } from "../log.js";
import { Batcher } from "./batcher.js";
import type { SyncSink } from "./sink.js";
import type { DirectoryState, StateStore } from "./state.js";

export interface PassProgress {
  directoryId: string;
  full: boolean;
  phase: "membership" | "users" | "deletions" | "acks" | "done";
  /** Users sent so far in this pass. */
  users: number;
  /** A guess of the pass's total (the previous pass's anchor count), when there is one. */
  estimate: number | null;
}

export interface PassResult {
  directoryId: string;
  syncId: string;
  full: boolean;
  /** Why the pass was full (null for incremental). */
  fullReason: string | null;
  users: number;
  /** Entries read by the pass's user search (incremental: including those skipped as already sent). */
  read: number;
  deleted: number;
  skipped: number;
  /** Users the server refused to store. */
  rejected: number;
  batches: number;
  membershipRead: boolean;
  reconciled: boolean;
  durationMs: number;
  cursor: string | null;
}

export interface PassOptions {
  full?: boolean;
  onProgress?: (p: PassProgress) => void;
}

export interface EngineOptions {
  sink: SyncSink;
  state: StateStore;
  batchSize: number;
  window: number;
  logger: AgentLogger;
  now?: () => number;
}

/** What makes a cursor meaningless when it changes. */
export function configFingerprint(d: AgentDirectoryConfig): string {
  const relevant = {
    baseDn: d.baseDn.toLowerCase(),
    userFilter: d.userFilter,
    groupFilter: d.groupFilter,
    scopeGroups: d.scopeGroups.map((g) => g.toLowerCase()).sort(),
    adminGroups: d.adminGroups.map((g) => g.toLowerCase()).sort(),
    nestedGroups: d.nestedGroups,
    attributes: d.attributes,
    passwordPolicyDn: d.passwordPolicyDn,
  };
  return createHash("sha256").update(JSON.stringify(relevant)).digest("hex").slice(0, 32);
}

function maxMark(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return a >= b ? a : b;
}

const NULLABLE_FIELDS = new Set([
  "upn",
  "displayName",
  "givenName",
  "surname",
  "mail",
  "mobile",
  "telephoneNumber",
  "passwordLastSet",
  "passwordExpiresAt",
]);

export class SyncEngine {
  private readonly now: () => number;

  constructor(private readonly opts: EngineOptions) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * A user ready for the wire, or null when it cannot be sent. A value the schema refuses in an
   * optional field (e.g. a 300-character phone number) is dropped to null with a warning rather than
   * losing the user.
   */
  private compose(u: DirectoryUser, m: Membership, directoryId: string): SyncedUser | null {
    const user: SyncedUser = {
      ...u.user,
      inScope: m.scope === null ? true : m.scope.has(u.memberKey),
      isAdmin: m.admin.has(u.memberKey),
    };
    let r = syncedUserSchema.safeParse(user);
    if (r.success) return r.data;
    const dropped: string[] = [];
    const fixed: Record<string, unknown> = { ...user };
    for (const issue of r.error.issues) {
      const field = String(issue.path[0] ?? "");
      if (NULLABLE_FIELDS.has(field)) {
        fixed[field] = null;
        dropped.push(field);
      }
    }
    r = syncedUserSchema.safeParse(fixed);
    this.opts.logger.warn(
      { directory: directoryId, dn: user.dn.slice(0, 300), fields: dropped, sent: r.success },
      r.success
        ? "user has values the protocol refuses: sent without them"
        : "user cannot be synced: skipped",
    );
    return r.success ? r.data : null;
  }

  private logSkipped(directoryId: string, page: UserPage): number {
    for (const s of page.skipped)
      this.opts.logger.warn(
        { directory: directoryId, dn: s.dn.slice(0, 300), reason: s.reason },
        "entry skipped",
      );
    return page.skipped.length;
  }

  /** Runs one pass on an open session. The caller closes the session. */
  async runPass(
    directory: AgentDirectoryConfig,
    session: DirectorySession,
    options: PassOptions = {},
  ): Promise<PassResult> {
    const started = this.now();
    const id = directory.id;
    const prev = this.opts.state.get(id);
    const fingerprint = configFingerprint(directory);
    const begin = await session.beginPass();
    const fullReason = options.full
      ? "requested"
      : !prev
        ? "first sync"
        : prev.fingerprint !== fingerprint
          ? "the configuration changed"
          : prev.dialect !== session.dialect
            ? "the dialect changed"
            : prev.server !== begin.server
              ? "another directory server (its change numbers differ)"
              : prev.cursor === null
                ? "no cursor yet"
                : null;
    const syncId = randomUUID();
    const full = fullReason !== null;
    const batcher = new Batcher(this.opts.sink, {
      directoryId: id,
      syncId,
      full,
      batchSize: this.opts.batchSize,
      window: this.opts.window,
    });
    const progress = (phase: PassProgress["phase"], users: number) =>
      options.onProgress?.({
        directoryId: id,
        full,
        phase,
        users,
        estimate: prev ? prev.anchors.length : null,
      });
    this.opts.logger.info(
      { directory: id, syncId, full, reason: fullReason, cursor: prev?.cursor ?? null },
      full ? "full sync pass starting" : "incremental sync pass starting",
    );

    let sent = 0;
    let read = 0;
    let skipped = 0;
    let deletedCount = 0;
    let reconciled = false;
    let membershipRead = false;
    let next: DirectoryState;

    if (full) {
      progress("membership", 0);
      const membership = await session.membership();
      membershipRead = true;
      const anchors = new Set<string>();
      const observed: { key: string; mark: string; version: string }[] = [];
      let seenMark: string | null = null;
      progress("users", 0);
      for await (const page of session.users()) {
        skipped += this.logSkipped(id, page);
        read += page.users.length;
        for (const u of page.users) {
          if (anchors.has(u.user.anchor)) continue;
          anchors.add(u.user.anchor);
          seenMark = maxMark(seenMark, u.mark);
          observed.push({ key: u.user.anchor, mark: u.mark, version: u.version });
          const wire = this.compose(u, membership, id);
          if (!wire) {
            skipped++;
            anchors.delete(u.user.anchor);
            continue;
          }
          await batcher.addUser(wire);
          sent++;
        }
        progress("users", sent);
      }
      progress("acks", sent);
      await batcher.finish();
      this.noteRejected(id, batcher.rejected, anchors);
      const cursor = begin.mark ?? seenMark;
      next = {
        dialect: session.dialect,
        fingerprint,
        server: begin.server,
        cursor,
        cursorAt: this.now(),
        settled: false,
        floor: null,
        anchors: [...anchors].sort(),
        scope: membership.scope ? [...membership.scope].sort() : null,
        admin: [...membership.admin].sort(),
        groups: [...membership.groups].sort(),
        recent: this.recentAfter(session, cursor, false, null, observed),
        passesSinceReconcile: 0,
        lastFullAt: this.now(),
        lastPassAt: this.now(),
      };
    } else {
      const p = prev as DirectoryState;
      const since = maxMark(session.windowStart(p.cursor as string, p.settled), p.floor) as string;
      let membership: Membership = {
        scope: p.scope ? new Set(p.scope) : null,
        admin: new Set(p.admin),
        groups: new Set(p.groups),
      };
      const anchors = new Set(p.anchors);
      const observed: { key: string; mark: string; version: string }[] = [];
      let seenMark: string | null = p.cursor;

      // 1. Membership: only groups that decide it, and only versions not seen yet.
      progress("membership", 0);
      const changedGroups = (await session.changedGroups(since)).filter((g) => membership.groups.has(g.dn));
      for (const g of changedGroups) {
        seenMark = maxMark(seenMark, g.mark);
        observed.push({ key: `g:${g.dn}`, mark: g.mark, version: g.version });
      }
      const newGroups = changedGroups.filter((g) => p.recent[`g:${g.dn}`] !== g.version);
      let flipped: string[] = [];
      if (newGroups.length > 0) {
        const fresh = await session.membership();
        membershipRead = true;
        flipped = flippedKeys(membership, fresh);
        membership = fresh;
      }

      // 2. Changed users.
      progress("users", 0);
      const sentKeys = new Set<string>();
      const sendUser = async (u: DirectoryUser) => {
        const wire = this.compose(u, membership, id);
        if (!wire) {
          skipped++;
          return;
        }
        anchors.add(u.user.anchor);
        sentKeys.add(u.memberKey);
        await batcher.addUser(wire);
        sent++;
      };
      for await (const page of session.users(since)) {
        skipped += this.logSkipped(id, page);
        read += page.users.length;
        for (const u of page.users) {
          seenMark = maxMark(seenMark, u.mark);
          observed.push({ key: u.user.anchor, mark: u.mark, version: u.version });
          if (p.recent[u.user.anchor] === u.version && anchors.has(u.user.anchor)) continue;
          await sendUser(u);
        }
        progress("users", sent);
      }
      const toRead = flipped.filter((k) => !sentKeys.has(k));
      if (toRead.length > 0) {
        const page = await session.usersByKey(toRead);
        skipped += this.logSkipped(id, page);
        for (const u of page.users) await sendUser(u);
      }

      // 3. Deletions.
      progress("deletions", sent);
      const deleted = new Set<string>();
      for (const a of await session.deletedSince(since)) if (anchors.has(a)) deleted.add(a);
      const every = directory.reconcileEvery ?? (session.deletions === "reconcile" ? 1 : 60);
      if (p.passesSinceReconcile + 1 >= every) {
        reconciled = true;
        const listed = new Set<string>();
        for await (const list of session.anchors()) for (const a of list) listed.add(a);
        for (const a of anchors) if (!listed.has(a)) deleted.add(a);
        const unknown = [...listed].filter((a) => !anchors.has(a));
        if (unknown.length > 0) {
          this.opts.logger.info(
            { directory: id, count: unknown.length },
            "reconciliation found users not synced yet",
          );
          const page = await session.usersByAnchor(unknown);
          skipped += this.logSkipped(id, page);
          for (const u of page.users) await sendUser(u);
        }
      }
      for (const a of deleted) {
        anchors.delete(a);
        await batcher.addDeleted(a);
      }
      deletedCount = deleted.size;
      progress("acks", sent);
      await batcher.finish();
      this.noteRejected(id, batcher.rejected, anchors);
      const cursor = begin.mark ?? seenMark;
      const moved = cursor !== p.cursor;
      // Settled once a pass that began settleAfterMs after the cursor was reached has read the overlap.
      const settled = !moved && (p.settled || started - (p.cursorAt ?? started) >= session.settleAfterMs);
      const floor = settled && cursor !== null ? session.windowStart(cursor, true) : p.floor;
      next = {
        ...p,
        server: begin.server,
        cursor,
        cursorAt: moved ? this.now() : p.cursorAt,
        settled,
        floor,
        anchors: [...anchors].sort(),
        scope: membership.scope ? [...membership.scope].sort() : null,
        admin: [...membership.admin].sort(),
        groups: [...membership.groups].sort(),
        recent: this.recentAfter(session, cursor, settled, floor, observed),
        passesSinceReconcile: reconciled ? 0 : p.passesSinceReconcile + 1,
        lastPassAt: this.now(),
      };
    }

    this.opts.state.commit(id, next);
    progress("done", sent);
    const result: PassResult = {
      directoryId: id,
      syncId,
      full,
      fullReason,
      users: sent,
      read,
      deleted: deletedCount,
      skipped,
      rejected: batcher.rejected.length,
      batches: batcher.batches,
      membershipRead,
      reconciled,
      durationMs: this.now() - started,
      cursor: next.cursor,
    };
    this.opts.logger.info({ ...result }, full ? "full sync pass done" : "incremental sync pass done");
    return result;
  }

  /**
   * Users the server refused (a cloud account holds the name…) are not held there: forget their
   * anchors, so the next reconciliation offers them again once the conflict is resolved.
   */
  private noteRejected(
    directoryId: string,
    rejected: { anchor: string; reason: string }[],
    anchors: Set<string>,
  ): void {
    if (rejected.length === 0) return;
    for (const r of rejected) anchors.delete(r.anchor);
    const reasons: Record<string, number> = {};
    for (const r of rejected) reasons[r.reason] = (reasons[r.reason] ?? 0) + 1;
    this.opts.logger.warn(
      {
        directory: directoryId,
        count: rejected.length,
        reasons,
        anchors: rejected.slice(0, 20).map((r) => r.anchor),
      },
      "the server refused some users",
    );
  }

  /** Versions of the entries the next incremental window will read again (so they are not resent). */
  private recentAfter(
    session: DirectorySession,
    cursor: string | null,
    settled: boolean,
    floor: string | null,
    observed: { key: string; mark: string; version: string }[],
  ): Record<string, string> {
    if (cursor === null) return {};
    const from = maxMark(session.windowStart(cursor, settled), floor) as string;
    const out: Record<string, string> = {};
    for (const o of observed) if (o.mark >= from) out[o.key] = o.version;
    return out;
  }
}

/** Member keys whose scope or admin membership differs between two readings. */
export function flippedKeys(before: Membership, after: Membership): string[] {
  const out = new Set<string>();
  const diff = (a: Set<string>, b: Set<string>) => {
    for (const k of a) if (!b.has(k)) out.add(k);
    for (const k of b) if (!a.has(k)) out.add(k);
  };
  if (before.scope !== null && after.scope !== null) diff(before.scope, after.scope);
  diff(before.admin, after.admin);
  return [...out];
}
