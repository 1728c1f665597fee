/**
 * "Why can't this user reset?" on seeded users in different situations, each with the right first
 * failing check and fix; proven read-only (counters, outbox, audit, challenges and flows are the
 * same before and after). Then the CLI on the same store: `latchkey explain` follows policy changes
 * written to the tenant (1 gate → 2, strict mode) and `latchkey admin explain-user` prints a verdict.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { explainCommand, explainUserCommand } from "../cli/explain.js";
import { parseTenantSettings } from "../config/tenant-settings.js";
import { isLatchkeyError } from "../core/errors.js";
import { createResetFixture, type ResetFixture } from "../flows/reset/testing/fixture.js";
import { registerEmail } from "../methods/email-code/index.js";
import { explainUser, renderUserVerdict } from "./explain-user.js";

let fx: ResetFixture;
let dir: string;

async function snapshot() {
  const db = fx.store.db;
  return JSON.stringify([
    await db.selectFrom("throttle_counters").selectAll().orderBy("key").execute(),
    await db.selectFrom("outbox").selectAll().orderBy("id").execute(),
    await db.selectFrom("audit_events").selectAll().orderBy("id").execute(),
    await db.selectFrom("challenges").selectAll().orderBy("id").execute(),
    await db.selectFrom("flows").selectAll().orderBy("id").execute(),
  ]);
}

beforeAll(async () => {
  fx = await createResetFixture();
  fx.configure({ reset: { disclosure: "guided", scope: "group", scopeGroup: "sspr-users", gates: 2 } });
  await fx.store.db.updateTable("tenants").set({ settings_json: fx.tenantNow().settings_json }).execute();
  const db = fx.store.db;
  await fx.fullUser("ok-user");
  await db.updateTable("users").set({ in_scope: 1 }).execute();
  const disabled = await fx.fullUser("disabled-user");
  await db.updateTable("users").set({ enabled: 0 }).where("id", "=", disabled.id).execute();
  const outside = await fx.fullUser("outside-user");
  await db.updateTable("users").set({ in_scope: 0 }).where("id", "=", outside.id).execute();
  const one = await fx.addUser("one-method");
  await db.updateTable("users").set({ in_scope: 1 }).where("id", "=", one.id).execute();
  await registerEmail(db, {
    tenantId: fx.tenant.id,
    userId: one.id,
    address: "one@example.test",
    confirmed: true,
    clock: fx.clock,
  });
  const synced = await fx.fullUser("synced-user");
  await db
    .updateTable("users")
    .set({ kind: "synced", directory_id: "corp-ol", source_anchor: "anchor-1", in_scope: 1 })
    .where("id", "=", synced.id)
    .execute();
  // A real lockout: five wrong codes through the reset service.
  const locked = await fx.fullUser("locked-user");
  await db.updateTable("users").set({ in_scope: 1 }).where("id", "=", locked.id).execute();
  const w = await fx.begin();
  await w.identify("locked-user");
  for (let i = 0; i < 5; i++) {
    try {
      await w.challengeWithCode("sms", "111111", undefined);
      await w.verify({ code: "999999" });
    } catch (e) {
      if (!isLatchkeyError(e)) throw e;
    }
  }
  dir = mkdtempSync(join(tmpdir(), "lk-explain-user-"));
});
afterAll(async () => {
  await fx?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("explain-user", () => {
  it("names the right failing check and fix for each situation, touching nothing", async () => {
    const before = await snapshot();
    const deps = {
      db: fx.store.db,
      tenant: fx.tenantNow(),
      methods: fx.methodsRegistry,
      now: fx.clock.now(),
    };
    const cases: [string, string | null, RegExp | null][] = [
      ["ok-user", null, null],
      ["nobody-here", "account_exists", /Check the user name/],
      ["disabled-user", "account_enabled", /Enable the account/],
      ["outside-user", "in_scope", /scope group 'sspr-users'/],
      ["locked-user", "not_throttled", /Wait until \d{4}-/],
      ["one-method", "enough_methods", /Register a second method/],
      ["synced-user", "writeback_available", /Start an agent for their directory 'corp-ol'/],
    ];
    for (const [name, failing, fix] of cases) {
      const v = await explainUser(deps, name);
      expect(v.firstFailing, name).toBe(failing);
      expect(v.eligible, name).toBe(failing === null);
      const text = renderUserVerdict(v, "t");
      if (failing && fix) {
        expect(text, name).toContain(`FAIL  ${failing}`);
        expect(v.checks.find((c) => c.id === failing)?.fix, name).toMatch(fix);
      } else expect(text).toContain("Verdict: eligible");
    }
    expect(await snapshot()).toBe(before);
  });
});

describe("the CLI on the same store", () => {
  const run = async (fn: (out: (s: string) => void) => Promise<void>) => {
    const lines: string[] = [];
    await fn((s) => {
      lines.push(s);
    });
    return lines.join("");
  };
  const setPolicy = async (reset: object) => {
    const current = parseTenantSettings(
      (await fx.store.db.selectFrom("tenants").select("settings_json").executeTakeFirstOrThrow())
        .settings_json,
    );
    const next = parseTenantSettings({ ...current, reset: { ...current.reset, ...reset } });
    await fx.store.db
      .updateTable("tenants")
      .set({ settings_json: JSON.stringify(next) })
      .execute();
  };

  it("explain follows the stored policy; explain-user prints the verdict", async () => {
    const config = join(dir, "latchkey.yaml");
    // The fixture's slug may hold characters a configured slug may not.
    await fx.store.db.updateTable("tenants").set({ slug: "explain-test" }).execute();
    writeFileSync(config, `database:\n  url: sqlite:${fx.file}\ntenant:\n  slug: explain-test\n`);
    await setPolicy({ gates: 1, disclosure: "guided" });
    const one = JSON.parse(await run((o) => explainCommand("reset", { config, format: "json" }, o))) as {
      steps: { id: string; action: string }[];
      summary: string;
    };
    await setPolicy({ gates: 2, disclosure: "strict" });
    const two = JSON.parse(
      await run((o) => explainCommand("reset", { config, format: "json" }, o)),
    ) as typeof one;
    expect(one.steps.some((s) => s.id === "reset.verify.gate2.check")).toBe(false);
    expect(two.steps.some((s) => s.id === "reset.verify.gate2.check")).toBe(true);
    expect(one.steps.find((s) => s.id === "reset.verify.offer")?.action).toContain("masked");
    expect(two.steps.find((s) => s.id === "reset.verify.offer")?.action).toContain(
      "the same page whoever was typed",
    );
    const admin = await run((o) => explainCommand("reset", { config, admin: true }, o));
    expect(admin).toContain("Reset, for an administrator's cloud account under this policy");
    expect(admin).toContain("reset.complete.admin_notice");

    const text = await run((o) => explainUserCommand("one-method", { config }, o));
    expect(text).toContain("FAIL  enough_methods");
    expect(text).toContain("first failing check: enough_methods (audit reason not_enough_methods)");
  });
});
