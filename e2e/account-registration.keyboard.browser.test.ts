/**
 * Registration of methods by keyboard only, in Chromium at 360 px: every control is reached with
 * Tab (e2e/helpers/keyboard.ts: never a click or .focus()) and worked with Enter, Space, arrows or
 * typing. A cloud user signs in, adds an email address (a wrong one first: the error page), then an
 * authenticator app (the key read from the page, as a person copies it), signs out, signs in again
 * with the email code as second factor, and answers the "are these still right?" interrupt. Each
 * page is checked for horizontal scrolling at 360 px (e2e/helpers/viewport.ts) and with axe.
 */
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { translator } from "../packages/server/src/i18n/index.js";
import { readMail } from "../test-env/env.js";
import { confirmedTypes } from "./harness/account.js";
import { agentProcessHooks } from "./harness/agent-process.js";
import { startPortal } from "./harness/portal.js";
import {
  at360,
  captchaSolved,
  checkA11y,
  describeFocus,
  formatViolations,
  heading,
  NARROW,
  tabAndEnter,
  tabAndType,
  tabTo,
  totpNow,
  useBrowser,
  watchCsp,
} from "./helpers/index.js";

const t = translator("en");
const cleanup = agentProcessHooks();
const DAY = 86_400_000;

const browser = useBrowser();

/** 360 px without sideways scrolling and no axe violation. */
async function checkPage(page: Page, what: string): Promise<void> {
  await at360(page);
  const v = await checkA11y(page);
  expect(v, `${what}: ${formatViolations(v)}`).toEqual([]);
}

/** Enter on a control that submits or navigates, waiting for the next page. */
async function enterOn(page: Page, target: ReturnType<Page["getByRole"]>): Promise<void> {
  const loaded = page.waitForEvent("load");
  await tabAndEnter(page, target);
  await loaded;
}

const button = (page: Page, name: string) => page.getByRole("button", { name, exact: true });

async function signIn(page: Page, base: string, username: string, password: string): Promise<void> {
  await page.goto(`${base}/account`);
  expect(await heading(page)).toBe(t("account.sign_in.title"));
  await checkPage(page, "sign-in");
  await tabAndType(page, page.getByLabel(t("account.sign_in.username.label"), { exact: true }), username);
  await tabAndType(page, page.getByLabel(t("account.sign_in.password.label"), { exact: true }), password);
  await captchaSolved(page);
  await enterOn(page, button(page, t("account.sign_in.submit")));
}

describe("registration by keyboard only at 360 px", () => {
  it("adds an email address and an authenticator app, then answers the review interrupt", async () => {
    const password = "Amber-Quiver-Lagoon-85";
    const harness = await startPortal({
      settings: {
        reset: { disclosure: "guided", scope: "all", gates: 2, methods: ["email", "totp", "questions"] },
        account: { reconfirmDays: 30 },
        throttles: { perIpPerMinute: 1000 },
      },
      cookieSecure: false,
      users: [{ username: "kim", password }],
    });
    cleanup.push(() => harness.close());
    const base = harness.baseUrl;
    const context = await browser().newContext({ locale: "en-GB", viewport: NARROW });
    cleanup.push(() => context.close());
    const page = await context.newPage();
    const csp = watchCsp(page);

    // Nothing registered: the "register now" interrupt.
    await signIn(page, base, "kim", password);
    await page.waitForURL(/\/account\/methods\?interrupt=register$/);
    expect(await heading(page)).toBe(t("account.methods.interrupt.register.title"));
    await checkPage(page, "register interrupt");

    // Email: a wrong address first, then the right one, then the code.
    await enterOn(page, button(page, t("account.methods.add.email")));
    expect(await heading(page)).toBe(t("account.methods.contact.email.title"));
    await checkPage(page, "email address");
    const address = page.getByLabel(t("account.methods.contact.email.title"), { exact: true });
    await tabAndType(page, address, "kim-at-contoso");
    await enterOn(page, button(page, t("account.methods.contact.submit")));
    await expect
      .poll(() => page.getByText(t("account.methods.contact.error.invalid_email")).first().isVisible())
      .toBe(true);
    await checkPage(page, "email address refused");
    await tabTo(page, address);
    await page.keyboard.press("ControlOrMeta+A");
    const since = Date.now();
    await page.keyboard.type("kim@contoso.test");
    await enterOn(page, button(page, t("account.methods.contact.submit")));
    expect(await heading(page)).toBe(t("account.methods.code.title"));
    await checkPage(page, "email code");
    const mail = await readMail({ to: "kim@contoso.test", since, subject: "verification code" });
    const code = /\b(\d{6,8})\b/.exec(mail.text)?.[1] ?? "";
    harness.remember(code);
    await tabAndType(page, page.getByLabel(t("reset.code.label"), { exact: true }), code);
    await enterOn(page, button(page, t("account.methods.code.submit")));
    expect(await heading(page)).toBe(
      t("account.methods.done.added", { type: t("account.methods.type.email") }),
    );
    await checkPage(page, "email saved");
    await enterOn(page, page.getByRole("link", { name: t("account.methods.done.back") }).first());
    expect(await heading(page)).toBe(t("account.methods.title"));
    await checkPage(page, "methods list");

    // Authenticator app: the manual key from the page, one code.
    await enterOn(page, button(page, t("account.methods.add.totp")));
    expect(await heading(page)).toBe(t("account.methods.totp.title"));
    await checkPage(page, "authenticator app set-up");
    const secret = ((await page.locator("[data-totp-key]").textContent()) ?? "").replace(/\s+/g, "");
    harness.remember(secret);
    const totp = totpNow(secret);
    await tabAndType(page, page.getByLabel(t("reset.totp.label"), { exact: true }), totp);
    await enterOn(page, button(page, t("account.methods.code.submit")));
    expect(await heading(page)).toBe(
      t("account.methods.done.added", { type: t("account.methods.type.totp") }),
    );
    await checkPage(page, "authenticator app saved");
    await enterOn(page, page.getByRole("link", { name: t("account.methods.done.back") }).first());
    await checkPage(page, "methods list with two methods");
    const kim = await harness.user("kim");
    const rows = await harness.store.db
      .selectFrom("auth_methods")
      .selectAll()
      .where("user_id", "=", kim.id)
      .execute();
    expect(confirmedTypes(rows)).toEqual(["email", "totp"]);

    // A month later: sign out, sign in with the email code as second factor, the review interrupt.
    await harness.store.db
      .updateTable("users")
      .set({ methods_reviewed_at: Date.now() - 31 * DAY })
      .where("id", "=", kim.id)
      .execute();
    await enterOn(page, button(page, t("account.nav.sign_out")));
    await signIn(page, base, "kim", password);
    await page.waitForURL(/\/account\/sign-in\/second-factor$/);
    await checkPage(page, "second factor: choose");
    // A radio group is one Tab stop; the arrows move within it.
    const email = page.getByLabel(t("reset.choose.method.email", { masked: "k•••@c•••.test" }), {
      exact: true,
    });
    await tabTo(page, page.locator('input[name="method"]').first());
    for (let i = 0; i < 5 && !(await email.isChecked()); i++) await page.keyboard.press("ArrowDown");
    expect(await email.isChecked(), await describeFocus(page)).toBe(true);
    const since2 = Date.now();
    await enterOn(page, button(page, t("account.sign_in.second_factor.submit")));
    await checkPage(page, "second factor: code");
    const mail2 = await readMail({ to: "kim@contoso.test", since: since2, subject: "verification code" });
    const code2 = /\b(\d{6,8})\b/.exec(mail2.text)?.[1] ?? "";
    harness.remember(code2);
    await tabAndType(page, page.getByLabel(t("reset.code.label"), { exact: true }), code2);
    await enterOn(page, button(page, t("account.sign_in.second_factor.verify")));
    await page.waitForURL(/\/account\/methods\?interrupt=review$/);
    expect(await heading(page)).toBe(t("account.methods.interrupt.review.title"));
    await checkPage(page, "review interrupt");
    const before = Date.now();
    await enterOn(page, button(page, t("account.methods.review.confirm")));
    expect(new URL(page.url()).pathname).toBe("/account");
    expect(await heading(page)).toBe(t("account.overview.title"));
    await checkPage(page, "overview after the review");
    expect((await harness.user("kim")).methods_reviewed_at ?? 0).toBeGreaterThanOrEqual(before);
    expect(csp.violations).toEqual([]);
    expect(await harness.scan()).toEqual([]);
  });
});
