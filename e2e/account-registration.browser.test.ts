import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { parseTenantSettings } from "../packages/server/src/config/tenant-settings.js";
import { translator } from "../packages/server/src/i18n/index.js";
import { getTestEnv, readMail } from "../test-env/env.js";
import { confirmedTypes } from "./harness/account.js";
import { agentProcessHooks, agentSpawner } from "./harness/agent-process.js";
import { hybridDialects, startHybrid } from "./harness/hybrid.js";
import { startPortal } from "./harness/portal.js";
import {
  accessible,
  at360,
  captchaSolved,
  fillSignIn,
  heading,
  ldapsBind,
  press,
  totpNow,
  useBrowser,
  virtualAuthenticator,
} from "./helpers/index.js";

const t = translator("en");
const cleanup = agentProcessHooks();
const spawnAgent = agentSpawner(cleanup);

const browser = useBrowser();

const SETTINGS = {
  reset: {
    disclosure: "guided",
    scope: "all",
    gates: 2,
    methods: ["email", "sms", "totp", "questions", "passkey"],
  },
  throttles: { perIpPerMinute: 1000 },
};

async function signIn(page: Page, base: string, username: string, password: string): Promise<void> {
  // Sign-in answers with redirects (the interrupt): wait for where they end.
  await fillSignIn(page, base, username, password);
  await accessible(page, "sign-in");
  await press(page, t("account.sign_in.submit"));
  await page.waitForURL(/\/account\/methods\?interrupt=register$/);
  await page.waitForLoadState("load");
}

/** The "added" page for `type` (axe-checked as `axe` when given), then its link back to the methods list. */
async function addedThenBack(
  page: Page,
  type: "sms" | "totp" | "questions" | "passkey",
  axe?: string,
): Promise<void> {
  expect(await heading(page)).toBe(
    t("account.methods.done.added", { type: t(`account.methods.type.${type}`) }),
  );
  if (axe) await accessible(page, axe);
  await page
    .getByRole("link", { name: t("account.methods.done.back") })
    .first()
    .click();
  await page.waitForLoadState("load");
}

/** From the methods page: "add <type>", through its pages, back to the list. Returns the TOTP time step used, if any. */
async function addMethod(
  page: Page,
  type: "totp" | "questions" | "passkey",
): Promise<{ totpSecret?: string; totpStep?: number }> {
  await press(page, t(`account.methods.add.${type}`));
  if (type === "totp") {
    expect(await heading(page)).toBe(t("account.methods.totp.title"));
    await accessible(page, "authenticator app set-up");
    expect(await page.locator(".qr-code svg path").count()).toBeGreaterThan(0);
    const secret = ((await page.locator("[data-totp-key]").textContent()) ?? "").replace(/\s+/g, "");
    const now = Date.now();
    await page.getByLabel(t("reset.totp.label"), { exact: true }).fill(totpNow(secret, now));
    await press(page, t("account.methods.code.submit"));
    await addedThenBack(page, "totp", "authenticator app saved");
    return { totpSecret: secret, totpStep: Math.floor(now / 30_000) };
  }
  if (type === "questions") {
    expect(await heading(page)).toBe(t("account.methods.questions.title"));
    await accessible(page, "questions");
    const picks = ["lk.first-pet", "lk.first-street", "lk.first-car"];
    for (const [i, id] of picks.entries()) {
      await page
        .getByLabel(t("account.methods.questions.question", { n: i + 1 }), { exact: true })
        .selectOption(id);
      await page
        .getByLabel(t("account.methods.questions.answer", { n: i + 1 }), { exact: true })
        .fill(`answer for ${id} ${i}`);
    }
    await press(page, t("account.methods.questions.submit"));
    await addedThenBack(page, "questions");
    return {};
  }
  expect(await heading(page)).toBe(t("account.methods.passkey.title"));
  await accessible(page, "passkey name");
  await page.getByLabel(t("account.methods.passkey.name.label"), { exact: true }).fill("Test laptop");
  await press(page, t("account.methods.passkey.continue"));
  expect(await heading(page)).toBe(t("account.methods.passkey.create.title"));
  await accessible(page, "passkey create");
  await press(page, t("account.methods.passkey.create"));
  await addedThenBack(page, "passkey");
  return {};
}

describe("my account: registration in Chromium", () => {
  it("a synced Samba AD user registers every method, then resets with passkey + authenticator app and binds", async () => {
    const ad = hybridDialects().find((d) => d.name === "ad");
    if (!ad) throw new Error("no AD dialect");
    const { server, phone, person, user, agent } = await startHybrid(ad, cleanup, spawnAgent);
    // Start from nothing registered: the harness's email and app are removed; the tenant offers passkeys.
    await server.store.db.deleteFrom("auth_methods").where("user_id", "=", user.id).execute();
    const settings = parseTenantSettings({ ...JSON.parse(server.tenant.settings_json), ...SETTINGS });
    await server.store.db
      .updateTable("tenants")
      .set({ settings_json: JSON.stringify(settings) })
      .where("id", "=", server.tenant.id)
      .execute();
    const base = server.baseUrl.replace("127.0.0.1", "localhost");
    const context = await browser().newContext({ locale: "en-GB", viewport: { width: 1280, height: 800 } });
    cleanup.push(() => context.close());
    const page = await context.newPage();
    await virtualAuthenticator(context, page);

    // Sign-in by pass-through; no methods yet, so the "register now" interrupt.
    await signIn(page, base, person.username, person.password);
    expect(await heading(page), agent.out.stdout.slice(-2000)).toBe(
      t("account.methods.interrupt.register.title"),
    );
    await accessible(page, "register interrupt");

    // The directory's email: one confirmation by code.
    const address = user.email ?? "";
    const since = Date.now();
    await page
      .getByRole("button", {
        name: `${t("account.methods.directory.confirm")} — ${t("account.methods.type.email")}: ${address.toLowerCase()}`,
      })
      .click();
    await page.waitForLoadState("load");
    expect(await heading(page)).toBe(t("account.methods.code.title"));
    await accessible(page, "email code");
    const mail = await readMail({ to: address, since, subject: "verification code" });
    const code = /\b(\d{6,8})\b/.exec(mail.text)?.[1] ?? "";
    await page.getByLabel(t("reset.code.label"), { exact: true }).fill(code);
    await press(page, t("account.methods.code.submit"));
    expect(await heading(page)).toBe(
      t("account.methods.done.added", { type: t("account.methods.type.email") }),
    );
    await accessible(page, "email confirmed");
    const notice = await readMail({ to: address, since, subject: "security information changed" });
    expect(notice.text).toContain("was confirmed for");
    await page
      .getByRole("link", { name: t("account.methods.done.back") })
      .first()
      .click();
    await page.waitForLoadState("load");
    await accessible(page, "methods list");

    // The directory's mobile phone: one confirmation, the code read from the SMS gateway.
    const mobile = user.mobile ?? "";
    expect(mobile).not.toBe("");
    const mobileShown = mobile.replace(/[^\d+]/g, "");
    const phoneSince = Date.now();
    await page
      .getByRole("button", {
        name: `${t("account.methods.directory.confirm")} — ${t("account.methods.type.sms")}: ${mobileShown}`,
      })
      .click();
    await page.waitForLoadState("load");
    expect(await heading(page)).toBe(t("account.methods.code.title"));
    await accessible(page, "SMS code");
    const sms = await phone.waitFor({ to: mobileShown, since: phoneSince, channel: "sms" });
    await page.getByLabel(t("reset.code.label"), { exact: true }).fill(sms.code);
    await press(page, t("account.methods.code.submit"));
    await addedThenBack(page, "sms");

    // The confirmed email counts as a proof in this session: the next additions need no other.
    const { totpSecret, totpStep } = await addMethod(page, "totp");
    await addMethod(page, "questions");
    await addMethod(page, "passkey");
    const rows = await server.store.db
      .selectFrom("auth_methods")
      .selectAll()
      .where("user_id", "=", user.id)
      .execute();
    expect(confirmedTypes(rows)).toEqual(["email", "passkey", "questions", "sms", "totp"]);

    // The reset, in the same tab (the virtual authenticator belongs to it): passkey, then the app.
    const reset = page;
    await reset.goto(`${base}/reset`);
    await reset.getByLabel(t("reset.identify.username.label")).fill(person.username);
    await captchaSolved(reset);
    await press(reset, t("reset.identify.submit"));
    await reset.getByLabel(t("reset.choose.method.passkey"), { exact: true }).check();
    await press(reset, t("reset.choose.submit"));
    expect(await heading(reset)).toBe(t("reset.passkey.title"));
    await accessible(reset, "reset: passkey");
    await press(reset, t("reset.passkey.start"));
    expect(await reset.locator(".caption").textContent()).toBe(t("reset.choose.gate", { gate: 2, gates: 2 }));
    await reset.getByLabel(t("reset.choose.method.totp"), { exact: true }).check();
    await press(reset, t("reset.choose.submit"));
    // The code that confirmed the app is spent: wait for the next time step.
    if (totpStep !== undefined)
      while (Math.floor(Date.now() / 30_000) <= totpStep) await reset.waitForTimeout(500);
    await reset.getByLabel(t("reset.code.label"), { exact: true }).fill(totpNow(totpSecret ?? ""));
    await press(reset, t("reset.code.submit"));
    expect(await heading(reset)).toBe(t("reset.password.title"));
    const next = "Saffron-Glacier-Pylon-71";
    await reset.getByLabel(t("reset.password.new.label"), { exact: true }).fill(next);
    await reset.getByLabel(t("reset.password.confirm.label"), { exact: true }).fill(next);
    await press(reset, t("reset.password.submit"));
    expect(await reset.locator("h1, h2").first().textContent(), agent.out.stdout.slice(-2000)).toContain(
      t("reset.done.title"),
    );
    expect(await ldapsBind(getTestEnv().ad.url, person.dn, next)).toBe("ok");
  });

  it("a cloud user registers email, mobile phone, authenticator app, questions and a passkey at 360 px", async () => {
    const harness = await startPortal({
      settings: SETTINGS,
      cookieSecure: false,
      users: [{ username: "carol", password: "Quartz-Lantern-Harbour-9" }],
    });
    cleanup.push(() => harness.close());
    const base = harness.baseUrl.replace("127.0.0.1", "localhost");
    const context = await browser().newContext({ locale: "en-GB", viewport: { width: 360, height: 740 } });
    cleanup.push(() => context.close());
    const page = await context.newPage();
    await virtualAuthenticator(context, page);
    await signIn(page, base, "carol", "Quartz-Lantern-Harbour-9");
    expect(await heading(page)).toBe(t("account.methods.interrupt.register.title"));
    await at360(page);

    // Email: a new address, confirmed by a code.
    const since = Date.now();
    await press(page, t("account.methods.add.email"));
    await page
      .getByLabel(t("account.methods.contact.email.title"), { exact: true })
      .fill("carol@contoso.test");
    await accessible(page, "email address");
    await press(page, t("account.methods.contact.submit"));
    const mail = await readMail({ to: "carol@contoso.test", since, subject: "verification code" });
    await page
      .getByLabel(t("reset.code.label"), { exact: true })
      .fill(/\b(\d{6,8})\b/.exec(mail.text)?.[1] ?? "");
    await press(page, t("account.methods.code.submit"));
    await page
      .getByRole("link", { name: t("account.methods.done.back") })
      .first()
      .click();
    await page.waitForLoadState("load");

    // Mobile phone: the code through the SMS gateway.
    const phoneSince = Date.now();
    await press(page, t("account.methods.add.sms"));
    await page.getByLabel(t("account.methods.contact.sms.title"), { exact: true }).fill("+44 7700 900123");
    await accessible(page, "phone number");
    await press(page, t("account.methods.contact.submit"));
    const sms = await harness.waitForPhone({ to: "+447700900123", since: phoneSince, channel: "sms" });
    await page.getByLabel(t("reset.code.label"), { exact: true }).fill(sms.code);
    await press(page, t("account.methods.code.submit"));
    await addedThenBack(page, "sms");

    await addMethod(page, "totp");
    await addMethod(page, "questions");
    await addMethod(page, "passkey");
    await at360(page);
    await accessible(page, "methods list (cloud)");
    const carol = await harness.user("carol");
    const rows = await harness.store.db
      .selectFrom("auth_methods")
      .selectAll()
      .where("user_id", "=", carol.id)
      .execute();
    expect(rows.map((r) => r.type).sort()).toEqual(["email", "passkey", "questions", "sms", "totp"]);
    expect(await harness.scan()).toEqual([]);
  });
});
