/**
 * Sync ingestion on both engines (SQLite file, PostgreSQL database): full and incremental passes,
 * deletions and their return, resends and ordering, per-user refusals, what is stored per user.
 */
import type { SyncedUser } from "@latchkey/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../../../../test-env/env.js";
import { StoreAudit } from "../audit/emitter.js";
import { ManualClock } from "../core/clock.js";
import { newId } from "../core/random.js";
import { syncedUser } from "../directory-link/testing/agent-client.js";
import { type SharedStore, sqliteDatabase, testStore } from "../directory-link/testing/server.js";
import { normaliseIdentifier } from "../flows/reset/service.js";
import { createLogger } from "../logging/logger.js";
import { openStore } from "../store/db.js";
import type { User } from "../store/schema.js";
import { createTenant } from "../tenants/seed.js";
import {
  type BatchOutcome,
  normaliseUsername,
  type SyncBatch,
  SyncIngestor,
  type SyncScope,
} from "./ingest.js";

const anchor = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
const user = (i: number, over: Partial<SyncedUser> = {}) => syncedUser(anchor(i), `User${i}`, over);

function batch(over: Partial<SyncBatch> & Pick<SyncBatch, "syncId">): SyncBatch {
  return {
    v: 1,
    id: newId(),
    type: "sync.batch",
    directoryId: "corp",
    full: true,
    seq: 0,
    final: true,
    users: [],
    deleted: [],
    ...over,
  };
}

function ack(o: BatchOutcome) {
  if (o.kind !== "ack") throw new Error(`refused: ${o.reason} ${o.message}`);
  return o;
}

describe.each(["sqlite", "postgres"] as const)("sync ingestion (%s)", (engine) => {
  let shared: SharedStore;
  let ingest: SyncIngestor;
  let scope: SyncScope;
  let tenantId: string;
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const logger = createLogger({ level: "silent" });

  beforeAll(async () => {
    shared = await testStore(engine === "postgres" ? await createTestDatabase() : sqliteDatabase());
    const audit = new StoreAudit(shared.store.db, clock);
    const { tenant } = await createTenant({ db: shared.store.db, clock }, { slug: "sync", name: "Sync" });
    tenantId = tenant.id;
    ingest = new SyncIngestor({ db: shared.store.db, clock, audit, logger });
    scope = { tenantId, agentId: "agent-1", directories: new Set(["corp", "lab"]) };
  });
  afterAll(async () => {
    await shared?.dispose();
  });
  /** A second connection (pool) to the same database: another instance. */
  const testStoreLike = async () => ({ store: openStore({ url: shared.url, poolSize: 2 }) });

  const db = () => shared.store.db;
  async function byAnchor(i: number, directory = "corp"): Promise<User | undefined> {
    return db()
      .selectFrom("users")
      .selectAll()
      .where("tenant_id", "=", tenantId)
      .where("directory_id", "=", directory)
      .where("source_anchor", "=", anchor(i))
      .executeTakeFirst();
  }
  async function live(directory = "corp"): Promise<number> {
    const r = await db()
      .selectFrom("users")
      .select((eb) => eb.fn.countAll().as("n"))
      .where("tenant_id", "=", tenantId)
      .where("directory_id", "=", directory)
      .where("deleted_at", "is", null)
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  const N = 2_500;
  const full1 = "full-1";

  it("a full pass of N users in batches stores every user with the directory's values", async () => {
    const all = Array.from({ length: N }, (_, i) => user(i));
    let created = 0;
    for (let seq = 0; seq * 1000 < N; seq++) {
      const o = ack(
        await ingest.applyBatch(
          scope,
          batch({
            syncId: full1,
            seq,
            final: (seq + 1) * 1000 >= N,
            users: all.slice(seq * 1000, (seq + 1) * 1000),
          }),
        ),
      );
      created += o.created;
      expect(o.removed).toBe(0);
    }
    expect(created).toBe(N);
    expect(await live()).toBe(N);
    const u = await byAnchor(7);
    expect(u).toMatchObject({
      kind: "synced",
      username: "user7",
      upn: "User7@lab.example.test",
      email: "User7@example.test",
      display_name: "User User7",
      given_name: "User",
      surname: "User7",
      mobile: "+15555550100",
      office_phone: null,
      enabled: 1,
      locked: 0,
      in_scope: 1,
      is_admin: 0,
      password_hash: null,
      password_changed_at: 1_767_225_600_000,
      password_expires_at: null,
      directory_id: "corp",
      deleted_at: null,
      last_full_sync_id: full1,
      created_at: clock.now(),
      updated_at: clock.now(),
    });
    // Directory contacts are not verification methods until the person confirms them (issue 6).
    const methods = await db()
      .selectFrom("auth_methods")
      .select("id")
      .where("tenant_id", "=", tenantId)
      .execute();
    expect(methods).toEqual([]);
    const pass = await db()
      .selectFrom("sync_passes")
      .selectAll()
      .where("sync_id", "=", full1)
      .executeTakeFirstOrThrow();
    expect(pass).toMatchObject({
      full: 1,
      next_seq: 3,
      upserted: N,
      removed: 0,
      rejected: 0,
      completed_at: clock.now(),
    });
    const audit = await db()
      .selectFrom("audit_events")
      .selectAll()
      .where("event", "=", "sync.completed")
      .execute();
    expect(audit).toHaveLength(1);
    expect(JSON.parse(audit[0]?.details_json ?? "{}")).toMatchObject({
      directoryId: "corp",
      syncId: full1,
      batches: 3,
      upserted: N,
      removed: 0,
      rejected: 0,
    });
    expect(audit[0]?.details_json).not.toContain("user7");
  });

  it("a resend of an applied batch is acknowledged and not applied again; out-of-order batches are refused", async () => {
    clock.advance(1_000);
    const again = ack(
      await ingest.applyBatch(
        scope,
        batch({ syncId: full1, seq: 1, final: false, users: [user(1500, { displayName: "changed" })] }),
      ),
    );
    expect(again).toMatchObject({ duplicate: true, upserted: 0 });
    expect((await byAnchor(1500))?.display_name).toBe("User User1500");

    expect(await ingest.applyBatch(scope, batch({ syncId: "fresh", seq: 1, final: false }))).toMatchObject({
      kind: "refused",
      reason: "out_of_order",
    });
    ack(await ingest.applyBatch(scope, batch({ syncId: "inc-x", full: false, seq: 0, final: false })));
    expect(
      await ingest.applyBatch(scope, batch({ syncId: "inc-x", full: false, seq: 2, final: true })),
    ).toMatchObject({
      kind: "refused",
      reason: "out_of_order",
    });
    expect(
      await ingest.applyBatch(scope, batch({ syncId: "inc-x", full: true, seq: 1, final: true })),
    ).toMatchObject({
      kind: "refused",
      reason: "pass_mismatch",
    });
    expect(
      await ingest.applyBatch(
        { ...scope, agentId: "agent-2" },
        batch({ syncId: "inc-x", full: false, seq: 1 }),
      ),
    ).toMatchObject({ kind: "refused", reason: "pass_of_another_agent" });
    ack(await ingest.applyBatch(scope, batch({ syncId: "inc-x", full: false, seq: 1, final: true })));
  });

  it("the same batch applied twice at once (two instances) is applied once", async () => {
    const second = testStoreLike();
    const other = new SyncIngestor({
      db: (await second).store.db,
      clock,
      audit: new StoreAudit((await second).store.db, clock),
      logger,
    });
    const race = (i: number, over: Partial<SyncedUser> = {}) =>
      syncedUser(anchor(8_000 + i), `race${i}`, over);
    ack(
      await ingest.applyBatch(
        scope,
        batch({ syncId: "race-pre", directoryId: "lab", full: false, users: [race(0), race(1)] }),
      ),
    );
    // The pass exists, so both read the same expected seq and only the pass row can tell them apart.
    ack(
      await ingest.applyBatch(
        scope,
        batch({ syncId: "race", directoryId: "lab", full: false, final: false }),
      ),
    );
    const b = batch({
      syncId: "race",
      directoryId: "lab",
      full: false,
      seq: 1,
      users: [race(0, { displayName: "changed" }), race(1, { locked: true }), race(2)],
    });
    const results = await Promise.allSettled([ingest.applyBatch(scope, b), other.applyBatch(scope, b)]);
    const applied = results.filter(
      (r) => r.status === "fulfilled" && r.value.kind === "ack" && !r.value.duplicate,
    );
    expect(applied).toHaveLength(1);
    // The other one was told it is a duplicate, or failed and rolled back (the agent would resend).
    const pass = await db()
      .selectFrom("sync_passes")
      .selectAll()
      .where("sync_id", "=", "race")
      .executeTakeFirstOrThrow();
    expect(pass).toMatchObject({ next_seq: 2, upserted: 3 });
    expect(ack(await ingest.applyBatch(scope, b))).toMatchObject({ duplicate: true });
    await (await second).store.close();
  });

  it("refuses a batch for a directory the agent does not serve", async () => {
    expect(
      await ingest.applyBatch(scope, batch({ syncId: "x", directoryId: "hr", users: [user(1)] })),
    ).toMatchObject({
      kind: "refused",
      reason: "directory_not_served",
    });
    expect(await byAnchor(1, "hr")).toBeUndefined();
  });

  it("an incremental pass applies changes, additions and deletions; unchanged users keep updated_at", async () => {
    clock.advance(60_000);
    const session = newId();
    const victim = await byAnchor(3);
    await db()
      .insertInto("sessions")
      .values({
        id: session,
        tenant_id: tenantId,
        user_id: victim?.id ?? "",
        token_hash: newId(),
        ip: null,
        user_agent: null,
        created_at: clock.now(),
        last_seen_at: clock.now(),
        expires_at: clock.now() + 3_600_000,
        revoked_at: null,
      })
      .execute();
    const changed = [
      user(10, { displayName: "Ten Renamed" }),
      user(11, { locked: true }),
      user(12, { enabled: false }),
      user(13, { isAdmin: true, inScope: false }),
      user(14, { mail: null, mobile: null, telephoneNumber: "+442079460000" }),
      user(15, { username: "Renamed15", passwordExpiresAt: 1_800_000_000_000 }),
      user(16), // unchanged
    ];
    const added = [user(N + 1), user(N + 2), user(N + 3)];
    const o = ack(
      await ingest.applyBatch(
        scope,
        batch({
          syncId: "inc-1",
          full: false,
          users: [...changed, ...added],
          deleted: [anchor(1), anchor(2), anchor(3), anchor(4), anchor(5), anchor(999_999)],
        }),
      ),
    );
    expect(o).toMatchObject({ created: 3, updated: 6, unchanged: 1, upserted: 10, removed: 5, rejected: [] });
    expect(await byAnchor(10)).toMatchObject({ display_name: "Ten Renamed", updated_at: clock.now() });
    expect(await byAnchor(11)).toMatchObject({ locked: 1 });
    expect(await byAnchor(12)).toMatchObject({ enabled: 0 });
    expect(await byAnchor(13)).toMatchObject({ is_admin: 1, in_scope: 0 });
    expect(await byAnchor(14)).toMatchObject({ email: null, mobile: null, office_phone: "+442079460000" });
    expect(await byAnchor(15)).toMatchObject({
      username: "renamed15",
      password_expires_at: 1_800_000_000_000,
    });
    expect((await byAnchor(16))?.updated_at).toBeLessThan(clock.now());
    expect(await byAnchor(N + 2)).toMatchObject({ username: `user${N + 2}`, last_full_sync_id: null });
    const gone = await byAnchor(3);
    expect(gone).toMatchObject({ deleted_at: clock.now(), enabled: 0, in_scope: 0, username: "user3" });
    const s = await db()
      .selectFrom("sessions")
      .select("revoked_at")
      .where("id", "=", session)
      .executeTakeFirstOrThrow();
    expect(s.revoked_at).toBe(clock.now());
    expect(await live()).toBe(N + 3 - 5);
  });

  it("a full pass that omits users marks them deleted (and only them)", async () => {
    clock.advance(60_000);
    const keep = Array.from({ length: N + 4 }, (_, i) => i).filter(
      (i) => (i === 0 || i > 5) && i !== 42 && i !== 43,
    );
    const users = keep
      .map((i) =>
        i === 10
          ? user(10, { displayName: "Ten Renamed" })
          : i === 11
            ? user(11, { locked: true })
            : i === 12
              ? user(12, { enabled: false })
              : i === 13
                ? user(13, { isAdmin: true, inScope: false })
                : i === 14
                  ? user(14, { mail: null, mobile: null, telephoneNumber: "+442079460000" })
                  : i === 15
                    ? user(15, { username: "Renamed15", passwordExpiresAt: 1_800_000_000_000 })
                    : user(i),
      )
      .filter((u) => u.anchor !== anchor(N)); // N itself never existed: ids run 0..N-1, N+1..N+3
    let removed = 0;
    let updated = 0;
    const size = 800;
    for (let seq = 0; seq * size < users.length; seq++) {
      const o = ack(
        await ingest.applyBatch(
          scope,
          batch({
            syncId: "full-2",
            seq,
            final: (seq + 1) * size >= users.length,
            users: users.slice(seq * size, (seq + 1) * size),
          }),
        ),
      );
      removed += o.removed;
      updated += o.updated;
    }
    expect(updated).toBe(0);
    expect(removed).toBe(2);
    expect(await byAnchor(42)).toMatchObject({ deleted_at: clock.now(), enabled: 0 });
    expect(await byAnchor(43)).toMatchObject({ deleted_at: clock.now() });
    expect((await byAnchor(1))?.deleted_at).toBeLessThan(clock.now()); // deleted earlier, untouched
    expect(await byAnchor(44)).toMatchObject({ deleted_at: null, last_full_sync_id: "full-2" });
    expect(await live()).toBe(users.length);
    const audit = await db()
      .selectFrom("audit_events")
      .selectAll()
      .where("event", "=", "sync.completed")
      .execute();
    expect(JSON.parse(audit.at(-1)?.details_json ?? "{}")).toMatchObject({ syncId: "full-2", removed: 2 });
  });

  it("a user written by an incremental pass while a full pass runs is not removed by that full pass", async () => {
    clock.advance(1_000);
    const everyone = await db()
      .selectFrom("users")
      .select(["source_anchor", "username"])
      .where("tenant_id", "=", tenantId)
      .where("directory_id", "=", "corp")
      .where("deleted_at", "is", null)
      .execute();
    const users = everyone.map((r) => syncedUser(r.source_anchor ?? "", r.username));
    ack(
      await ingest.applyBatch(
        scope,
        batch({ syncId: "full-3", seq: 0, final: false, users: users.slice(0, 100) }),
      ),
    );
    clock.advance(1_000);
    ack(await ingest.applyBatch(scope, batch({ syncId: "inc-during", full: false, users: [user(9_000)] })));
    clock.advance(1_000);
    const o = ack(
      await ingest.applyBatch(
        scope,
        batch({ syncId: "full-3", seq: 1, final: true, users: users.slice(100) }),
      ),
    );
    expect(o.removed).toBe(0);
    expect(await byAnchor(9_000)).toMatchObject({ deleted_at: null });
  });

  it("a deleted user who comes back (same anchor) is restored", async () => {
    clock.advance(1_000);
    const o = ack(
      await ingest.applyBatch(scope, batch({ syncId: "inc-back", full: false, users: [user(42)] })),
    );
    expect(o).toMatchObject({ updated: 1, created: 0 });
    expect(await byAnchor(42)).toMatchObject({
      deleted_at: null,
      enabled: 1,
      in_scope: 1,
      username: "user42",
    });
  });

  it("refuses, one by one, names held by a cloud account or another live synced account; frees a deleted one's", async () => {
    clock.advance(1_000);
    const now = clock.now();
    await db()
      .insertInto("users")
      .values({
        id: newId(),
        tenant_id: tenantId,
        kind: "cloud",
        username: "cloudy",
        upn: null,
        email: null,
        display_name: null,
        given_name: null,
        surname: null,
        mobile: null,
        office_phone: null,
        enabled: 1,
        locked: 0,
        is_admin: 0,
        in_scope: 1,
        source_anchor: null,
        directory_id: null,
        password_hash: null,
        password_changed_at: null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    const o = ack(
      await ingest.applyBatch(
        { ...scope, agentId: "agent-lab" },
        batch({
          syncId: "lab-1",
          directoryId: "lab",
          full: false,
          users: [
            syncedUser(anchor(1), "Cloudy"), // a cloud account holds it
            syncedUser(anchor(2), "user44"), // corp's live user44 holds it
            syncedUser(anchor(3), "user3"), // corp's user3 was deleted: it gives the name up
            syncedUser(anchor(4), "  "), // nothing left of the name
            syncedUser(anchor(5), "fine"),
            syncedUser(anchor(5), "fine-again"), // same anchor twice
            syncedUser(anchor(6), "FINE"), // "fine" is taken by anchor 5 of this batch
          ],
        }),
      ),
    );
    expect(o.rejected).toEqual([
      { anchor: anchor(1), reason: "username_taken_cloud" },
      { anchor: anchor(2), reason: "username_taken" },
      { anchor: anchor(4), reason: "invalid_username" },
      { anchor: anchor(5), reason: "duplicate_anchor" },
      { anchor: anchor(6), reason: "username_taken" },
    ]);
    expect(o).toMatchObject({ created: 2, upserted: 2 });
    expect(await byAnchor(3, "lab")).toMatchObject({ username: "user3", deleted_at: null });
    const tomb = await byAnchor(3, "corp");
    expect(tomb?.username).toBe(`user3~deleted~${tomb?.id}`);
    expect(tomb?.deleted_at).not.toBeNull();
    const audit = await db()
      .selectFrom("audit_events")
      .selectAll()
      .where("event", "=", "sync.rejected")
      .execute();
    expect(JSON.parse(audit.at(-1)?.details_json ?? "{}")).toMatchObject({
      directoryId: "lab",
      counts: { username_taken_cloud: 1, username_taken: 2, invalid_username: 1, duplicate_anchor: 1 },
    });
    expect(audit.at(-1)?.details_json).not.toContain("cloudy");
  });

  it("a full pass that would delete more than the threshold deletes nobody and alerts; a raised threshold lets it through", async () => {
    const guard: SyncScope = { ...scope, directories: new Set(["guard"]) };
    const ids = Array.from({ length: 30 }, (_, i) => 7000 + i);
    const fullPass = async (syncId: string, present: number[]) =>
      ack(
        await ingest.applyBatch(
          guard,
          batch({ syncId, directoryId: "guard", users: present.map((i) => user(i)) }),
        ),
      );
    const liveInGuard = async () =>
      (
        await db()
          .selectFrom("users")
          .select("id")
          .where("tenant_id", "=", tenantId)
          .where("directory_id", "=", "guard")
          .where("deleted_at", "is", null)
          .execute()
      ).length;
    const setSync = async (sync: Record<string, number>) => {
      const row = await db()
        .selectFrom("tenants")
        .select("settings_json")
        .where("id", "=", tenantId)
        .executeTakeFirstOrThrow();
      const settings = JSON.parse(row.settings_json) as Record<string, unknown>;
      await db()
        .updateTable("tenants")
        .set({ settings_json: JSON.stringify({ ...settings, sync }) })
        .where("id", "=", tenantId)
        .execute();
    };

    clock.advance(1_000);
    expect((await fullPass("guard-1", ids)).created).toBe(30);
    // 25 of 30 missing: over the default 50 % share.
    clock.advance(1_000);
    expect((await fullPass("guard-2", ids.slice(0, 5))).removed).toBe(0);
    expect(await liveInGuard()).toBe(30);
    const withheld = await db()
      .selectFrom("audit_events")
      .selectAll()
      .where("event", "=", "sync.deletions_withheld")
      .execute();
    expect(JSON.parse(withheld.at(-1)?.details_json ?? "{}")).toMatchObject({
      directoryId: "guard",
      syncId: "guard-2",
      wouldDelete: 25,
      live: 30,
      limit: "maxDeletionPercent=50",
    });
    // A count threshold: 4 missing of 30 is under 50 %, but over a limit of 3.
    await setSync({ maxDeletionsPerFullPass: 3, maxDeletionPercent: 0 });
    clock.advance(1_000);
    expect((await fullPass("guard-3", ids.slice(4))).removed).toBe(0);
    expect(await liveInGuard()).toBe(30);
    // The administrator confirms the departures are real by lifting the limits for one pass.
    await setSync({ maxDeletionsPerFullPass: 0, maxDeletionPercent: 0 });
    clock.advance(1_000);
    expect((await fullPass("guard-4", ids.slice(0, 5))).removed).toBe(25);
    expect(await liveInGuard()).toBe(5);
    await setSync({});
  });
});

describe("user names", () => {
  it("are normalised exactly like the reset flow's identifier", () => {
    for (const name of ["Alice", "  BOB ", "ｃａｒｏｌ", "Dave.O'Brien", "ÅSA"]) {
      expect(normaliseUsername(name)).toBe(normaliseIdentifier(name));
    }
  });
});
