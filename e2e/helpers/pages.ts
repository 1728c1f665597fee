/**
 * Steps the Chromium tests share: one browser per test file, reading and submitting the server-rendered
 * pages, axe on a page, the captcha, the account sign-in form, LDAPS binds that prove a password, and
 * the authenticators a person would hold (TOTP app, Chromium's virtual passkey authenticator).
 */
import { Client, InvalidCredentialsError } from "ldapts";
import { Secret, TOTP } from "otpauth";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, expect } from "vitest";
import { translator } from "../../packages/server/src/i18n/index.js";
import { strictTls } from "../../test-env/env.js";
import { checkA11y, formatViolations } from "./a11y.js";
import { launchBrowser } from "./browser.js";

const t = translator("en");

/** Launches Chromium before the file's tests and closes it after; call at the top of a test file. */
export function useBrowser(): () => Browser {
  let browser: Browser | undefined;
  beforeAll(async () => {
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return () => {
    if (!browser) throw new Error("the browser is launched in beforeAll");
    return browser;
  };
}

/** The page's first h1, trimmed. */
export async function heading(page: Page): Promise<string> {
  return ((await page.locator("h1").first().textContent()) ?? "").trim();
}

/** Clicks a button that submits a form and waits for the page it leads to. */
export async function press(page: Page, name: string): Promise<void> {
  const loaded = page.waitForEvent("load");
  await page.getByRole("button", { name, exact: true }).click();
  await loaded;
}

/** No axe violation on the page; `what` names the page in the failure. */
export async function accessible(page: Page, what: string): Promise<void> {
  const v = await checkA11y(page);
  expect(v, `${what}: ${formatViolations(v)}`).toEqual([]);
}

/** Waits until the captcha widget has solved its challenge in the page (its hidden field is set). */
export async function captchaSolved(page: Page): Promise<void> {
  await page.waitForFunction(
    () => (document.querySelector('input[name="altcha"]') as HTMLInputElement | null)?.value,
  );
}

/** The error summary's text with white space folded. */
export async function errorSummary(page: Page): Promise<string> {
  return ((await page.locator(".error-summary").textContent()) ?? "").replace(/\s+/g, " ").trim();
}

/**
 * Opens /account (which shows the sign-in page), fills the username and password and waits for the
 * captcha; the caller submits, so that it can check the page first or submit by keyboard.
 */
export async function fillSignIn(
  page: Page,
  base: string,
  username: string,
  password: string,
): Promise<void> {
  await page.goto(`${base}/account`);
  expect(await heading(page)).toBe(t("account.sign_in.title"));
  await page.getByLabel(t("account.sign_in.username.label"), { exact: true }).fill(username);
  await page.getByLabel(t("account.sign_in.password.label"), { exact: true }).fill(password);
  await captchaSolved(page);
}

/** "ok" when `dn` binds with `password` over LDAPS (strict TLS), "invalid credentials" when the directory refuses the password, otherwise the error. */
export async function ldapsBind(url: string, dn: string, password: string): Promise<string> {
  expect(url.startsWith("ldaps://")).toBe(true);
  const c = new Client({ url, timeout: 15_000, tlsOptions: strictTls() });
  try {
    await c.bind(dn, password);
    return "ok";
  } catch (e) {
    if (e instanceof InvalidCredentialsError) return "invalid credentials";
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

/** The code an authenticator app shows for `secret` (base32) at `at`. */
export function totpNow(secret: string, at = Date.now()): string {
  return TOTP.generate({
    secret: Secret.fromBase32(secret),
    algorithm: "SHA1",
    digits: 6,
    period: 30,
    timestamp: at,
  });
}

/** Chromium's virtual authenticator (CTAP2, resident keys, user verification) for this page. */
export async function virtualAuthenticator(context: BrowserContext, page: Page): Promise<void> {
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable", { enableUI: false });
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
}
