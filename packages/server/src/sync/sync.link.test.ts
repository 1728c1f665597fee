/**
 * Sync end to end over the link: a real server, a real `ws` agent. A full pass of N users, an
 * incremental pass with changes and deletions, a full pass that omits a user (→ deleted), the
 * sync metrics in /metrics; then a synced user whose directory has no agent online walks into the
 * reset pages and is sent to the contact-your-administrator page with `writeback_unavailable` in
 * the audit log (writeback/ tests the same user with an agent online).
 */
import type { SyncedUser } from "@latchkey/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csrfOf, HttpClient, solveCaptchaChallengeFast } from "../../../../e2e/harness/client.js";
import { createTestDatabase } from "../../../../test-env/env.js";
import type { TestAgentLink } from "../directory-link/testing/agent-client.js";
import { syncedUser } from "../directory-link/testing/agent-client.js";
import { type LinkServer, sqliteDatabase, startLinkServer } from "../directory-link/testing/server.js";
import { registerEmail } from "../methods/email-code/index.js";
import type { CaptchaChallenge } from "../web/altcha.js";
import { CAPTCHA_FIELD } from "../web/components.js";

const N = 1_500;
const anchor = (i: number) => `11111111-0000-4000-8000-${String(i).padStart(12, "0")}`;
const user = (i: number, over: Partial<SyncedUser> = {}) => syncedUser(anchor(i), `Person${i}`, over);

describe.each(["sqlite", "postgres"] as const)("sync over the link (%s)", (engine) => {
  let s: LinkServer;
  let link: TestAgentLink;

  beforeAll(async () => {
    s = await startLinkServer({
      database: engine === "postgres" ? await createTestDatabase() : sqliteDatabase(),
      settings: { reset: { disclosure: "guided", scope: "all", gates: 1, methods: ["email", "sms"] } },
    });
    ({ link } = await s.connectAgent({
      directories: [{ id: "corp", dialect: "ad", description: "Samba AD" }],
    }));
  });
  afterAll(async () => {
    link?.close();
    await s?.close();
  });

  async function pass(
    syncId: string,
    full: boolean,
    users: SyncedUser[],
    deleted: string[] = [],
    size = 1000,
  ) {
    const totals = { upserted: 0, removed: 0, batches: 0 };
    const count = Math.max(1, Math.ceil(users.length / size));
    for (let seq = 0; seq < count; seq++) {
      const answer = await link.sync({
        directoryId: "corp",
        syncId,
        full,
        seq,
        final: seq === count - 1,
        users: users.slice(seq * size, (seq + 1) * size),
        deleted: seq === count - 1 ? deleted : [],
      });
      if (answer.type !== "sync.ack") throw new Error(`batch refused: ${JSON.stringify(answer)}`);
      expect(answer.rejected ?? []).toEqual([]);
      totals.upserted += answer.upserted;
      totals.removed += answer.removed;
      totals.batches++;
    }
    return totals;
  }
  const row = (i: number) =>
    s.store.db
      .selectFrom("users")
      .selectAll()
      .where("source_anchor", "=", anchor(i))
      .executeTakeFirstOrThrow();
  const liveCount = async () =>
    Number(
      (
        await s.store.db
          .selectFrom("users")
          .select((eb) => eb.fn.countAll().as("n"))
          .where("directory_id", "=", "corp")
          .where("deleted_at", "is", null)
          .executeTakeFirstOrThrow()
      ).n,
    );

  it("full pass, incremental pass with changes and deletions, full pass that omits a user", async () => {
    const all = Array.from({ length: N }, (_, i) => user(i));
    expect(await pass("full-a", true, all)).toEqual({ upserted: N, removed: 0, batches: 2 });
    expect(await liveCount()).toBe(N);

    const inc = await pass(
      "inc-a",
      false,
      [user(1, { locked: true }), user(2, { displayName: "Two" }), user(N + 1)],
      [anchor(3), anchor(4)],
    );
    expect(inc).toEqual({ upserted: 3, removed: 2, batches: 1 });
    expect(await row(1)).toMatchObject({ locked: 1 });
    expect(await row(2)).toMatchObject({ display_name: "Two" });
    expect(await row(3)).toMatchObject({ enabled: 0, in_scope: 0 });
    expect((await row(3)).deleted_at).not.toBeNull();
    expect(await liveCount()).toBe(N - 1);

    // The next full pass no longer has person 5 (nor 3 and 4, already gone).
    const current = [
      ...all
        .filter((_, i) => ![3, 4, 5].includes(i))
        .map((u) =>
          u.anchor === anchor(1)
            ? user(1, { locked: true })
            : u.anchor === anchor(2)
              ? user(2, { displayName: "Two" })
              : u,
        ),
      user(N + 1),
    ];
    expect(await pass("full-b", true, current, [], 700)).toEqual({ upserted: N - 2, removed: 1, batches: 3 });
    expect((await row(5)).deleted_at).not.toBeNull();
    expect((await row(6)).deleted_at).toBeNull();
    expect(await liveCount()).toBe(N - 2);

    const completed = await s.audit("sync.completed");
    expect(completed.map((e) => JSON.parse(e.details_json).syncId)).toEqual(["full-a", "full-b"]);
    expect(JSON.parse(completed[1]?.details_json ?? "{}")).toMatchObject({ removed: 1, upserted: N - 2 });

    const metrics = await (await fetch(`${s.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^latchkey_sync_users_total\{directory="corp",outcome="created"\} \d+/m);
    expect(metrics).toMatch(/^latchkey_sync_users_total\{directory="corp",outcome="removed"\} \d+/m);
    expect(metrics).toMatch(
      /^latchkey_sync_batch_duration_seconds_count\{directory="corp",pass="full"\} \d+/m,
    );
    expect(metrics).toMatch(/^latchkey_sync_last_full_seconds\{directory="corp"\} [\d.e-]+$/m);
    expect(metrics).toMatch(/^latchkey_sync_last_full_timestamp_seconds\{directory="corp"\} [\d.e+]+$/m);
    expect(link.invalid).toEqual([]);
  });

  it("a synced user is refused at identify with writeback_unavailable and sees the contact-your-administrator page", async () => {
    await pass("inc-jane", false, [syncedUser("22222222-0000-4000-8000-000000000001", "Jane.Doe")]);
    const jane = await s.store.db
      .selectFrom("users")
      .selectAll()
      .where("username", "=", "jane.doe")
      .executeTakeFirstOrThrow();
    expect(jane.kind).toBe("synced");
    // Jane's directory has no agent online (this link serves "corp" only), so no writeback path.
    await s.store.db.updateTable("users").set({ directory_id: "branch" }).where("id", "=", jane.id).execute();
    // Jane confirmed her directory email once (issue 6 will do this in the portal): every check but
    // writeback now passes.
    await registerEmail(s.store.db, {
      tenantId: s.tenant.id,
      userId: jane.id,
      address: jane.email ?? "",
      confirmed: true,
      clock: s.clock,
    });

    const c = new HttpClient(s.baseUrl);
    const page = await c.get("/reset");
    const challenge = JSON.parse((await c.get("/api/v1/captcha/challenge")).text) as CaptchaChallenge;
    const res = await c.post("/reset/identify", {
      form: {
        _csrf: csrfOf(page.text),
        username: "Jane.Doe",
        [CAPTCHA_FIELD]: solveCaptchaChallengeFast(challenge),
      },
    });
    expect(res.status).toBe(303);
    const blocked = await c.get(res.location ?? "/reset");
    expect(blocked.status).toBe(200);
    expect(blocked.text).toContain("You cannot reset your password here");
    expect(blocked.text).toContain("Tell my administrator");

    const identified = (await s.audit("reset_flow.identified")).filter((e) => e.target === jane.id);
    expect(identified).toHaveLength(1);
    expect(identified[0]).toMatchObject({ result: "failure", reason: "writeback_unavailable" });
    expect(JSON.parse(identified[0]?.details_json ?? "{}").checks).toContain("writeback_available:fail");
    const blockedEvents = (await s.audit("reset_flow.blocked")).filter((e) => e.target === jane.id);
    expect(blockedEvents[0]).toMatchObject({ reason: "writeback_unavailable" });
  });

  it("a user deleted from the directory is unknown to the reset flow", async () => {
    const anchorGone = "22222222-0000-4000-8000-000000000002";
    await pass("inc-gone-1", false, [syncedUser(anchorGone, "Gone.User")]);
    await pass("inc-gone-2", false, [], [anchorGone]);
    const gone = await s.store.db
      .selectFrom("users")
      .selectAll()
      .where("source_anchor", "=", anchorGone)
      .executeTakeFirstOrThrow();
    expect(gone.deleted_at).not.toBeNull();

    const c = new HttpClient(s.baseUrl);
    const page = await c.get("/reset");
    const challenge = JSON.parse((await c.get("/api/v1/captcha/challenge")).text) as CaptchaChallenge;
    const before = (await s.audit("reset_flow.identified")).length;
    await c.post("/reset/identify", {
      form: {
        _csrf: csrfOf(page.text),
        username: "gone.user",
        [CAPTCHA_FIELD]: solveCaptchaChallengeFast(challenge),
      },
    });
    const identified = (await s.audit("reset_flow.identified")).slice(before);
    expect(identified).toHaveLength(1);
    expect(identified[0]).toMatchObject({ result: "failure", reason: "user_not_found", target: null });
  });
});
