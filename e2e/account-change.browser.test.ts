/**
 * Issue 6's password-change done-when in Chromium, against the real Samba AD DC and the real
 * `latchkey-agent` program (setup: e2e/harness/hybrid.ts):
 * - a synced AD user signs in through the pages (pass-through: the agent binds as them; then the
 *   authenticator app as the second step), changes the password with the old one, and binds over
 *   LDAPS with the new one;
 * - changing back to a password in the directory's history is refused with the plain sentence;
 * - with "must change at next logon" (pwdLastSet=0) set in AD, sign-in takes them to the forced
 *   change, which succeeds, and the new password binds;
 * - a cloud user signs in and changes against the store, keyboard only and at 360 px.
 * axe runs on every page passed through.
 */
import { Attribute, Change, Client } from "ldapts";
import { describe, expect, it } from "vitest";
import { verifyPassword } from "../packages/server/src/core/password-hash.js";
import { newId } from "../packages/server/src/core/random.js";
import { startLinkServer } from "../packages/server/src/directory-link/testing/server.js";
import { translator } from "../packages/server/src/i18n/index.js";
import { getTestEnv, strictTls } from "../test-env/env.js";
import { insertCloudUser } from "./harness/account.js";
import { agentProcessHooks, agentSpawner } from "./harness/agent-process.js";
import { hybridDialects, startHybrid } from "./harness/hybrid.js";
import {
  accessible,
  at360,
  captchaSolved,
  errorSummary,
  heading,
  ldapsBind,
  press,
  tabAndEnter,
  tabAndType,
  totpNow,
  useBrowser,
} from "./helpers/index.js";

const t = translator("en");
const cleanup = agentProcessHooks();
const spawnAgent = agentSpawner(cleanup);

const browser = useBrowser();

describe("my account: change password in Chromium", () => {
  it("a synced Samba AD user signs in (pass-through + TOTP), changes, is refused a password from the history, then must change at next logon", async () => {
    const ad = hybridDialects().find((d) => d.name === "ad");
    if (!ad) throw new Error("no AD dialect");
    const { server, person, totpSecret, agent } = await startHybrid(ad, cleanup, spawnAgent);
    const context = await browser().newContext({ locale: "en-GB", viewport: { width: 1280, height: 800 } });
    cleanup.push(() => context.close());
    const page = await context.newPage();

    // Sign in: the password goes to the agent, which binds to Samba as the person.
    await page.goto(`${server.baseUrl}/account`);
    expect(new URL(page.url()).pathname).toBe("/account/sign-in");
    expect(await heading(page)).toBe(t("account.sign_in.title"));
    await page.getByLabel(t("account.sign_in.username.label"), { exact: true }).fill(person.username);
    await page.getByLabel(t("account.sign_in.password.label"), { exact: true }).fill(person.password);
    await captchaSolved(page);
    await accessible(page, "sign-in");
    await press(page, t("account.sign_in.submit"));

    // The second step: the authenticator app.
    expect(await heading(page), agent.out.stdout.slice(-2000)).toBe(
      t("account.sign_in.second_factor.legend"),
    );
    await accessible(page, "second factor: choose");
    await page.getByLabel(t("reset.choose.method.totp"), { exact: true }).check();
    await press(page, t("account.sign_in.second_factor.submit"));
    expect(await heading(page)).toBe(t("reset.totp.title"));
    await accessible(page, "second factor: code");
    const totp = totpNow(totpSecret);
    await page.getByLabel(t("reset.code.label"), { exact: true }).fill(totp);
    await press(page, t("account.sign_in.second_factor.verify"));
    expect(await heading(page)).toBe(t("account.overview.title"));
    await accessible(page, "overview");

    // Change with the old password: the agent's change operation, in the directory.
    await page.getByRole("link", { name: t("account.nav.password"), exact: true }).click();
    await page.waitForLoadState("load");
    expect(await heading(page)).toBe(t("account.password.title"));
    await accessible(page, "change password");
    const next = "Saffron-Glacier-Pylon-47";
    await page.getByLabel(t("account.password.current.label"), { exact: true }).fill(person.password);
    await page.getByLabel(t("account.password.new.label"), { exact: true }).fill(next);
    await page.getByLabel(t("account.password.confirm.label"), { exact: true }).fill(next);
    await press(page, t("account.password.submit"));
    expect(await heading(page), agent.out.stdout.slice(-2000)).toBe(t("account.password.done.title"));
    await accessible(page, "changed");
    expect(await ldapsBind(getTestEnv().ad.url, person.dn, next)).toBe("ok");

    // Back to the original password: in Samba's history (5), refused in the directory's words.
    await page.goto(`${server.baseUrl}/account/password`);
    await page.getByLabel(t("account.password.current.label"), { exact: true }).fill(next);
    await page.getByLabel(t("account.password.new.label"), { exact: true }).fill(person.password);
    await page.getByLabel(t("account.password.confirm.label"), { exact: true }).fill(person.password);
    await press(page, t("account.password.submit"));
    expect(await heading(page)).toBe(t("account.password.title"));
    expect(await errorSummary(page)).toContain(t("directory.password_in_history"));
    await accessible(page, "change refused by the directory");
    expect(await ldapsBind(getTestEnv().ad.url, person.dn, next)).toBe("ok");

    // The sessions page, then sign out.
    await page.goto(`${server.baseUrl}/account/sessions`);
    expect(await heading(page)).toBe(t("account.sessions.title"));
    await accessible(page, "sessions");
    await press(page, t("account.nav.sign_out"));
    expect(await heading(page)).toBe(t("account.sign_in.title"));

    // "Must change at next logon": sign-in takes the person to the forced change.
    const env = getTestEnv();
    const admin = new Client({ url: env.ad.url, timeout: 15_000, tlsOptions: strictTls() });
    try {
      await admin.bind(env.ad.adminDn, env.ad.adminPassword);
      await admin.modify(
        person.dn,
        new Change({
          operation: "replace",
          modification: new Attribute({ type: "pwdLastSet", values: ["0"] }),
        }),
      );
    } finally {
      await admin.unbind().catch(() => undefined);
    }
    await page.getByLabel(t("account.sign_in.username.label"), { exact: true }).fill(person.username);
    await page.getByLabel(t("account.sign_in.password.label"), { exact: true }).fill(next);
    await captchaSolved(page);
    await press(page, t("account.sign_in.submit"));
    expect(new URL(page.url()).pathname).toBe("/account/password/expired");
    expect(await heading(page)).toBe(t("account.password.must_change.title"));
    await accessible(page, "must change");
    // The flow holds the old password only sealed.
    const flows = await server.store.db
      .selectFrom("flows")
      .selectAll()
      .where("type", "=", "change")
      .execute();
    expect(flows).toHaveLength(1);
    expect(JSON.stringify(flows)).not.toContain(next);
    const third = "Harbour-Quartz-Lantern-58";
    await page.getByLabel(t("account.password.new.label"), { exact: true }).fill(third);
    await page.getByLabel(t("account.password.confirm.label"), { exact: true }).fill(third);
    await press(page, t("account.password.submit"));
    expect(await heading(page), agent.out.stdout.slice(-2000)).toBe(t("account.password.done.title"));
    await accessible(page, "must change: done");
    expect(await ldapsBind(getTestEnv().ad.url, person.dn, third)).toBe("ok");
    expect(
      await server.store.db.selectFrom("flows").selectAll().where("type", "=", "change").execute(),
    ).toEqual([]);

    const events = (await server.audit("password.changed")).map((e) => e.result);
    expect(events).toEqual(["success", "success"]);
    for (const p of [person.password, next, third]) {
      expect(agent.out.stdout + agent.out.stderr).not.toContain(p);
      expect(server.logLines().join("\n")).not.toContain(p);
    }
  });

  it("a cloud user signs in and changes against the store, keyboard only and at 360 px", async () => {
    // A cloud account needs no directory and no agent.
    const server = await startLinkServer({
      smtpPort: getTestEnv().smtp.port,
      settings: { reset: { gates: 2, methods: ["email", "totp"] }, throttles: { perIpPerMinute: 1000 } },
    });
    cleanup.push(() => server.close());
    const username = `cloud${newId()
      .slice(0, 6)
      .toLowerCase()
      .replace(/[^a-z0-9]/g, "x")}`;
    const first = "Cobalt-Meadow-Rivet-31";
    const userId = await insertCloudUser(server.store, server.tenant.id, {
      username,
      password: first,
      givenName: "Cloud",
      surname: "Person",
    });
    const context = await browser().newContext({ locale: "en-GB", viewport: { width: 360, height: 740 } });
    cleanup.push(() => context.close());
    const page = await context.newPage();

    await page.goto(`${server.baseUrl}/account/sign-in?next=%2Faccount%2Fpassword`);
    await at360(page);
    await tabAndType(page, page.getByLabel(t("account.sign_in.username.label"), { exact: true }), username);
    await tabAndType(page, page.getByLabel(t("account.sign_in.password.label"), { exact: true }), first);
    await captchaSolved(page);
    const loaded = page.waitForEvent("load");
    await tabAndEnter(page, page.getByRole("button", { name: t("account.sign_in.submit"), exact: true }));
    await loaded;
    // No methods and the tenant requires two: the "register now" interrupt (the method pages' own).
    expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe(
      "/account/methods?interrupt=register",
    );

    await page.goto(`${server.baseUrl}/account/password`);
    expect(await heading(page)).toBe(t("account.password.title"));
    await at360(page);
    await accessible(page, "cloud: change password");
    // A wrong current password is refused in plain words.
    const second = "Velvet-Harbor-Compass-64";
    await tabAndType(
      page,
      page.getByLabel(t("account.password.current.label"), { exact: true }),
      "not-my-password",
    );
    await tabAndType(page, page.getByLabel(t("account.password.new.label"), { exact: true }), second);
    await tabAndType(page, page.getByLabel(t("account.password.confirm.label"), { exact: true }), second);
    let submitted = page.waitForEvent("load");
    await tabAndEnter(page, page.getByRole("button", { name: t("account.password.submit"), exact: true }));
    await submitted;
    expect(await errorSummary(page)).toContain(t("error.old_password_wrong"));
    await accessible(page, "cloud: wrong current password");
    await at360(page);

    await tabAndType(page, page.getByLabel(t("account.password.current.label"), { exact: true }), first);
    await tabAndType(page, page.getByLabel(t("account.password.new.label"), { exact: true }), second);
    await tabAndType(page, page.getByLabel(t("account.password.confirm.label"), { exact: true }), second);
    submitted = page.waitForEvent("load");
    await tabAndEnter(page, page.getByRole("button", { name: t("account.password.submit"), exact: true }));
    await submitted;
    expect(await heading(page)).toBe(t("account.password.done.title"));
    await at360(page);
    await accessible(page, "cloud: changed");
    const row = await server.store.db
      .selectFrom("users")
      .selectAll()
      .where("id", "=", userId)
      .executeTakeFirstOrThrow();
    expect(await verifyPassword(row.password_hash ?? "", second)).toBe(true);
    expect(await verifyPassword(row.password_hash ?? "", first)).toBe(false);

    // The sessions page at 360 px, by keyboard: sign out.
    await page.goto(`${server.baseUrl}/account/sessions`);
    await at360(page);
    await accessible(page, "cloud: sessions");
    submitted = page.waitForEvent("load");
    await tabAndEnter(page, page.getByRole("button", { name: t("account.nav.sign_out"), exact: true }));
    await submitted;
    expect(await heading(page)).toBe(t("account.sign_in.title"));
    await accessible(page, "signed out");
  });
});
