/**
 * A real reset of a synced slapd user through the real agent program, then its recorded timeline:
 * the background steps, in order, are exactly those `explain` announced for that configuration
 * (less the steps whose runtime condition did not hold: the authenticator app sends no message).
 * The agent's and directory's legs carry durations, and `latchkey admin timeline` prints them.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sql } from "kysely";
import { describe, expect, it } from "vitest";
import { timelineCommand } from "../packages/server/src/cli/explain.js";
import { parseTenantSettings } from "../packages/server/src/config/tenant-settings.js";
import { directoriesOf, implementedMethods } from "../packages/server/src/explain/context.js";
import { explainReset } from "../packages/server/src/explain/reset.js";
import { backgroundStepIds, flowTimeline } from "../packages/server/src/explain/timeline.js";
import { t } from "../packages/server/src/i18n/index.js";
import { agentProcessHooks, agentSpawner } from "./harness/agent-process.js";
import { csrfOf } from "./harness/client.js";
import { hybridDialects, resetToNewPassword, startHybrid } from "./harness/hybrid.js";

const cleanup = agentProcessHooks();
const spawnAgent = agentSpawner(cleanup);
const slapd = hybridDialects().find((d) => d.name === "openldap");

describe("the timeline of a real hybrid reset matches its explanation", () => {
  it("slapd, email code + authenticator app, through the real agent", async () => {
    if (!slapd) throw new Error("no openldap dialect in the hybrid harness");
    const dir = mkdtempSync(join(tmpdir(), "lk-explain-tl-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const { server, person, user, totpSecret } = await startHybrid(slapd, cleanup, spawnAgent);
    // The server's SQLite file, for the CLI command at the end (an operator's shell beside it).
    const files = await sql<{ file: string }>`pragma database_list`.execute(server.store.db);
    const url = `sqlite:${files.rows[0]?.file ?? ""}`;

    // What explain announces for this tenant now, for a synced non-admin account.
    const tenant = await server.store.db
      .selectFrom("tenants")
      .selectAll()
      .where("id", "=", server.tenant.id)
      .executeTakeFirstOrThrow();
    const explanation = explainReset(
      {
        tenant: { name: tenant.name, slug: tenant.slug },
        settings: parseTenantSettings(tenant.settings_json),
        implemented: implementedMethods(server.features.portal.methods),
        channels: { email: true, sms: false, voice: false },
        directories: await directoriesOf(server.store.db, tenant.id, [slapd.id], Date.now()),
        now: Date.now(),
      },
      { userKind: "synced", admin: false },
    );
    expect(explanation.warnings).toEqual([]);

    const { client: c, page: pwPage } = await resetToNewPassword(server.baseUrl, {
      username: person.username,
      email: user.email ?? "",
      totpSecret,
    });
    const next = "Saffron-Glacier-Pylon-47";
    const done = await c.submit("/reset/password", {
      _csrf: csrfOf(pwPage.text),
      password: next,
      confirm: next,
    });
    expect(done.text).toContain(t("en", "reset.done.title"));

    const flow = await server.store.db
      .selectFrom("flows")
      .select("id")
      .where("user_id", "=", user.id)
      .where("state", "=", "completed")
      .executeTakeFirstOrThrow();
    // The reset notice is delivered by the outbox worker after the page answered.
    let timeline = await flowTimeline(server.store.db, flow.id);
    for (let i = 0; i < 100 && !timeline?.entries.some((e) => e.stepId === "reset.complete.deliver"); i++) {
      await new Promise((r) => setTimeout(r, 100));
      timeline = await flowTimeline(server.store.db, flow.id);
    }
    if (!timeline) throw new Error("no timeline");

    // Announced background steps whose runtime condition held in this run: gate 1 used the email
    // code (it sends), gate 2 the authenticator app (it does not); the account has an address.
    const held = (id: string, condition: string) =>
      condition !== "method_sends" || !id.startsWith("reset.verify.gate2.");
    const announced = explanation.steps
      .filter((s) => !s.visible && s.conditions.every((c) => !c.runtime || held(s.id, c.id)))
      .map((s) => s.id);
    expect(backgroundStepIds(timeline)).toEqual(announced);
    // And the person's steps, too.
    const seen = timeline.entries.filter((e) => e.visible).map((e) => e.stepId);
    expect(seen).toEqual(explanation.steps.filter((s) => s.visible).map((s) => s.id));
    expect(timeline.entries.every((e) => e.result === "ok")).toBe(true);

    // The agent's leg is measured (the round trip, or the writeback row's life when the agent
    // reports no timings), the directory's when the agent reports it.
    const agentLeg = timeline.entries.find((e) => e.stepId === "reset.password.agent");
    expect(agentLeg?.durationMs).toBeGreaterThan(0);
    const dirLeg = timeline.entries.find((e) => e.stepId === "reset.password.directory");
    const applied = await server.store.db
      .selectFrom("audit_events")
      .select("details_json")
      .where("flow_id", "=", flow.id)
      .where("event", "=", "writeback.applied")
      .executeTakeFirstOrThrow();
    if (
      (JSON.parse(applied.details_json) as { timings?: { directoryMs?: number } }).timings?.directoryMs !==
      undefined
    )
      expect(dirLeg?.durationMs).toBeGreaterThan(0);
    else expect(dirLeg?.durationMs).toBeNull();

    // The command prints the same steps with their words from the explanation.
    const config = join(dir, "latchkey.yaml");
    writeFileSync(config, `database:\n  url: ${url}\ntenant:\n  slug: ${tenant.slug}\n`);
    const lines: string[] = [];
    await timelineCommand(flow.id, { config }, (s) => {
      lines.push(s);
    });
    const printed = lines.join("");
    expect(printed).toContain(`Flow ${flow.id} (reset), state completed`);
    for (const id of announced) expect(printed).toContain(id);
    expect(printed).toContain("Sets the password over LDAPS");
    console.log(`[explain-timeline]\n${printed}`);
  });
});
