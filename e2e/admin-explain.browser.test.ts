/**
 * The explainer's admin pages in Chromium: an administrator signs in (password, then the
 * authenticator app as everyone does), opens the explanation of the reset with its sequence diagram
 * (an <img> of the server's SVG, which must load), the recent flows and the timeline of a real cloud
 * reset run through the reset API, and the "why can't this user reset?" page. Every page passes axe,
 * fits 360 px without sideways scrolling, and raises no CSP violation or script error.
 */
import { Secret, TOTP } from "otpauth";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { translator } from "../packages/server/src/i18n/index.js";
import { HttpClient, solvedCaptcha } from "./harness/client.js";
import { type PortalHarness, startPortal } from "./harness/portal.js";
import { at360, checkA11y, formatViolations, launchBrowser, watchCsp } from "./helpers/index.js";

const t = translator("en");
const PASSWORDS = { ada: "Admin-Ada-Beacon-Thistle-29", amy: "Reset-Amy-Copper-Willow-64" };

let h: PortalHarness;
let browser: Browser;
let resetFlowId = "";

function totpNow(username: string): string {
  const secret = h.users[username]?.totpSecret;
  if (!secret) throw new Error(`${username} has no TOTP secret`);
  const code = TOTP.generate({ secret: Secret.fromBase32(secret), algorithm: "SHA1", digits: 6, period: 30 });
  h.remember(code);
  return code;
}

/** A real cloud reset through the reset API (amy, one gate: the authenticator app). */
async function cloudReset(): Promise<string> {
  const c = new HttpClient(h.baseUrl);
  const created = await c.post("/api/v1/reset/flows", { json: {} });
  const flow = (JSON.parse(created.text) as { flow: { flowId: string; csrf: string } }).flow;
  const call = async (path: string, json: unknown) => {
    const r = await c.post(`/api/v1/reset/flows/${flow.flowId}${path}`, {
      json,
      headers: { "x-csrf-token": flow.csrf },
    });
    return JSON.parse(r.text) as { flow: { state: string } };
  };
  await call("/identify", { username: "amy", captcha: await solvedCaptcha(h.portal.captcha) });
  await call("/challenge", { method: "totp" });
  expect((await call("/verify", { code: totpNow("amy") })).flow.state).toBe("new_password");
  const next = "Fresh-Amy-Harbour-Lantern-18";
  h.remember(next);
  expect((await call("/password", { password: next, confirm: next })).flow.state).toBe("completed");
  return flow.flowId;
}

beforeAll(async () => {
  h = await startPortal({
    settings: { reset: { gates: 1, methods: ["email", "totp"] } },
    users: [
      { username: "ada", password: PASSWORDS.ada, email: "ada@contoso.test", totp: true, isAdmin: true },
      { username: "amy", password: PASSWORDS.amy, email: "amy@contoso.test", totp: true },
    ],
  });
  browser = await launchBrowser();
  resetFlowId = await cloudReset();
});
afterAll(async () => {
  await browser?.close();
  await h?.close();
});

async function heading(page: Page): Promise<string> {
  return ((await page.locator("h1").first().textContent()) ?? "").replace(/\s+/g, " ").trim();
}

async function press(page: Page, name: string): Promise<void> {
  const loaded = page.waitForEvent("load");
  await page.getByRole("button", { name, exact: true }).click();
  await loaded;
}

/** axe at desktop width, then the 360 px check (which leaves the viewport narrow: reset it after). */
async function checked(page: Page, what: string): Promise<void> {
  const v = await checkA11y(page);
  expect(v, `${what}: ${formatViolations(v)}`).toEqual([]);
  await at360(page);
  const narrow = await checkA11y(page);
  expect(narrow, `${what} at 360 px: ${formatViolations(narrow)}`).toEqual([]);
  await page.setViewportSize({ width: 1280, height: 800 });
}

describe("admin explain pages in Chromium", () => {
  it("an administrator signs in, reads the reset's explanation and diagram, and a real reset's timeline", async () => {
    const context = await browser.newContext({ locale: "en-GB", viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const csp = watchCsp(page);
    try {
      await page.goto(`${h.baseUrl}/admin/explain?flow=reset&kind=cloud&admin=0`);
      expect(new URL(page.url()).pathname).toBe("/account/sign-in");
      await page.getByLabel(t("account.sign_in.username.label"), { exact: true }).fill("ada");
      await page.getByLabel(t("account.sign_in.password.label"), { exact: true }).fill(PASSWORDS.ada);
      await page.waitForFunction(
        () => (document.querySelector('input[name="altcha"]') as HTMLInputElement | null)?.value,
      );
      await press(page, t("account.sign_in.submit"));
      expect(await heading(page)).toBe(t("account.sign_in.second_factor.legend"));
      await page.getByLabel(t("reset.choose.method.totp"), { exact: true }).check();
      await press(page, t("account.sign_in.second_factor.submit"));
      await page.getByLabel(t("reset.code.label"), { exact: true }).fill(totpNow("ada"));
      await press(page, t("account.sign_in.second_factor.verify"));

      // Signing in leads back to the page asked for: the explanation (counts, numbered steps, the
      // diagram loaded as an image, the downloads).
      expect(new URL(page.url()).pathname + new URL(page.url()).search).toBe(
        "/admin/explain?flow=reset&kind=cloud&admin=0",
      );
      expect(await heading(page)).toMatch(/Contoso/);
      expect(await page.locator(".explain-counts li").count()).toBe(3);
      expect(await page.locator("ol.explain-steps > li").count()).toBeGreaterThan(5);
      const img = page.locator("img.explain-diagram-img");
      await img.scrollIntoViewIfNeeded();
      await page.waitForFunction(() => {
        const i = document.querySelector("img.explain-diagram-img") as HTMLImageElement | null;
        return i?.complete === true;
      });
      expect(await img.evaluate((i) => (i as HTMLImageElement).naturalWidth)).toBeGreaterThan(100);
      for (const label of ["Markdown", "Mermaid", "JSON", "SVG", "PowerPoint (PPTX)"])
        expect(await page.getByRole("link", { name: label, exact: true }).count(), label).toBe(1);
      await checked(page, "explain");

      // Another flow through the chooser (a GET form).
      await page.getByLabel(t("admin.explain.flow"), { exact: true }).selectOption("unlock");
      await press(page, t("admin.explain.show"));
      expect(new URL(page.url()).searchParams.get("flow")).toBe("unlock");
      await checked(page, "explain unlock");

      // The recent flows, newest first: the reset is the first row; its timeline.
      await page.getByRole("link", { name: t("admin.nav.flows"), exact: true }).click();
      await page.waitForLoadState("load");
      expect(await heading(page)).toBe(t("admin.flows.title"));
      await checked(page, "flows");
      await page.getByRole("link", { name: resetFlowId, exact: true }).click();
      await page.waitForLoadState("load");
      expect(await heading(page)).toBe(t("admin.timeline.title", { type: "reset" }));
      const chart = page.getByRole("img", { name: t("admin.timeline.chart_title", { id: resetFlowId }) });
      expect(await chart.count()).toBe(1);
      const bars = await page.locator("svg.tl-chart rect.tl-bar").count();
      expect(bars).toBeGreaterThan(3);
      expect(await page.locator("table.admin-table tbody tr").count()).toBe(bars);
      // Bars are drawn by the stylesheet's classes: a visible step's fill differs from a background one's.
      const fills = await page.evaluate(() => {
        const fill = (sel: string) => {
          const el = document.querySelector(sel);
          return el ? getComputedStyle(el).fill : null;
        };
        return { visible: fill("svg.tl-chart .tl-visible"), background: fill("svg.tl-chart .tl-background") };
      });
      expect(fills.visible).not.toBeNull();
      expect(fills.background).not.toBeNull();
      expect(fills.visible).not.toBe(fills.background);
      await checked(page, "timeline");

      // Why can't this user reset?
      await page.goto(`${h.baseUrl}/admin/users/amy/explain`);
      expect(await page.locator("tr.check-pass").count()).toBeGreaterThan(0);
      await checked(page, "explain-user");

      expect(csp.violations).toEqual([]);
      expect(csp.errors).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("left no password, code or answer in the store, the audit rows or the log", async () => {
    expect(await h.scan()).toEqual([]);
  });
});
