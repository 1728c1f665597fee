/**
 * The web foundation in a real browser: a sample form built only from renderPage and the components,
 * served by webPlugin under the page CSP, must pass axe (WCAG 2.2 AA tags), fit 360 px, be completed
 * by keyboard alone (including the captcha and the live password rules), and raise no CSP violation.
 * A page with inline script and style is the control that shows the CSP watch does catch violations.
 */
import { randomBytes } from "node:crypto";
import formbody from "@fastify/formbody";
import Fastify, { type FastifyInstance } from "fastify";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { systemClock } from "../../packages/server/src/core/clock.js";
import { translator } from "../../packages/server/src/i18n/index.js";
import { createCaptcha } from "../../packages/server/src/web/altcha.js";
import {
  button,
  CAPTCHA_ASSETS,
  CAPTCHA_FIELD,
  CSRF_FIELD,
  CSRF_HEADER,
  captchaWidget,
  errorSummary,
  type FieldError,
  form,
  oneTimeCodeInput,
  PASSWORD_RULES_SCRIPT,
  panel,
  passwordInput,
  passwordRules,
  radioGroup,
  usernameInput,
} from "../../packages/server/src/web/components.js";
import { html, raw } from "../../packages/server/src/web/html.js";
import { type Branding, renderPage } from "../../packages/server/src/web/layout.js";
import { webPlugin } from "../../packages/server/src/web/plugin.js";
import { CONTENT_SECURITY_POLICY, sendPage } from "../../packages/server/src/web/security-headers.js";
import { checkA11y, formatViolations } from "./a11y.js";
import { launchBrowser } from "./browser.js";
import { type CspWatch, watchCsp } from "./csp.js";
import { describeFocus, tabAndEnter, tabAndSpace, tabAndType, tabTo } from "./keyboard.js";
import { at360 } from "./viewport.js";

const t = translator("en");
const csrf = randomBytes(16).toString("base64url");
const branding: Branding = {
  organisationName: "Acme Widgets",
  helpdeskUrl: "https://help.example.com/",
  helpdeskText: "Contact the Acme IT helpdesk.",
  primaryColour: "#1f4e8c",
};

type Values = Record<string, string>;
type Rule = { id: string; ok: boolean; message: string };

/** A stand-in for the password policy: 12+ characters, 3 of 4 classes. */
function verdict(password: string): Rule[] {
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((re) => re.test(password)).length;
  return [
    {
      id: "length",
      ok: password.length >= 12 && password.length <= 256,
      message: t("password.rule.length", { min: 12, max: 256 }),
    },
    { id: "classes", ok: classes >= 3, message: t("password.rule.classes", { count: 3 }) },
  ];
}

function samplePage(values: Values = {}, errors: Record<string, string> = {}): string {
  const list: FieldError[] = Object.entries(errors).map(([field, text]) => ({ fieldId: field, text }));
  const body = html`${errorSummary({ errors: list, t })}
<h1>${t("reset.identify.title")}</h1>
<p>${t("reset.identify.lead")}</p>
${form({
  action: "/sample",
  csrf,
  data: { "check-url": "/sample/check" },
  body: html`${usernameInput({
    name: "username",
    label: t("reset.identify.username.label"),
    hint: t("reset.identify.username.hint"),
    value: values.username,
    error: errors.username,
    t,
  })}
${oneTimeCodeInput({ name: "code", label: t("reset.code.label"), hint: t("reset.code.hint", { digits: 6 }), value: values.code, error: errors.code, t })}
${radioGroup({
  name: "method",
  legend: t("reset.choose.legend"),
  hint: t("reset.choose.hint"),
  value: values.method,
  error: errors.method,
  options: [
    { value: "email", label: t("reset.choose.method.email", { masked: "j•••@a•••.com" }) },
    { value: "sms", label: t("reset.choose.method.sms", { masked: "••• ••• •123" }) },
  ],
  t,
})}
${passwordInput({ name: "password", label: t("reset.password.new.label"), autocomplete: "new-password", checkRulesId: "password-rules", error: errors.password, t })}
${passwordRules({ rules: verdict("").map((r) => ({ id: r.id, text: r.message })), t })}
${captchaWidget({ t, error: errors[CAPTCHA_FIELD] })}
${button({ text: t("common.continue") })}`,
})}`;
  return renderPage({
    title: t("reset.identify.title"),
    lang: "en",
    branding,
    body,
    csrf,
    hasErrors: list.length > 0,
    scripts: [PASSWORD_RULES_SCRIPT, ...CAPTCHA_ASSETS.scripts],
    stylesheets: [...CAPTCHA_ASSETS.stylesheets],
  });
}

async function startServer(): Promise<{ app: FastifyInstance; base: string }> {
  const captcha = createCaptcha({ hmacKey: randomBytes(32), clock: systemClock, maxNumber: 5000 });
  const app = Fastify();
  await app.register(formbody);
  await app.register(webPlugin, { demoMode: false, captcha, getBranding: async () => branding });
  app.get("/sample", (_req, reply) => sendPage(reply, samplePage()));
  app.post<{ Body: Values }>("/sample", async (req, reply) => {
    const b = req.body ?? {};
    if (b[CSRF_FIELD] !== csrf) return reply.code(403).send("csrf");
    const errors: Record<string, string> = {};
    if (!b.username?.trim()) errors.username = t("reset.identify.error.username_required");
    if (!/^\d{6}$/.test((b.code ?? "").replace(/\s/g, "")))
      errors.code = t("reset.code.error.format", { digits: 6 });
    if (b.method !== "email" && b.method !== "sms") errors.method = t("reset.choose.error.required");
    if (!b.password) errors.password = t("reset.password.error.required");
    else if (verdict(b.password).some((r) => !r.ok)) errors.password = t("error.password_rejected");
    if (!(await captcha.verify(b[CAPTCHA_FIELD] ?? "")))
      errors[CAPTCHA_FIELD] = t("reset.identify.error.captcha_required");
    if (Object.keys(errors).length) return sendPage(reply, samplePage(b, errors), 400);
    return reply.redirect("/sample/done", 303);
  });
  app.post<{ Body: { password?: unknown } }>("/sample/check", async (req, reply) => {
    if (req.headers[CSRF_HEADER] !== csrf) return reply.code(403).send({ error: "csrf" });
    const password = typeof req.body?.password === "string" ? req.body.password : "";
    return reply.header("cache-control", "no-store").send({ rules: verdict(password) });
  });
  app.get("/sample/done", (_req, reply) =>
    sendPage(
      reply,
      renderPage({
        title: t("reset.done.title"),
        lang: "en",
        branding,
        body: panel({ title: t("reset.done.title"), body: t("reset.done.body") }),
      }),
    ),
  );
  // The control: markup the CSP must refuse (trusted constant, on purpose).
  app.get("/inline", (_req, reply) =>
    sendPage(
      reply,
      renderPage({
        title: "Inline",
        lang: "en",
        branding,
        body: raw(`<h1 style="color:red">Inline</h1><script>document.title = "ran";</script>`),
      }),
    ),
  );
  // Controls for the helpers themselves: an unlabelled field and low contrast; a too-wide block.
  app.get("/bad-a11y", (_req, reply) =>
    sendPage(
      reply,
      renderPage({
        title: "Bad",
        lang: "en",
        branding,
        body: raw(`<h1>Bad</h1><form><input type="text" name="q"></form>`),
      }),
    ),
  );
  app.get("/too-wide", (_req, reply) =>
    sendPage(
      reply,
      renderPage({
        title: "Wide",
        lang: "en",
        branding,
        body: raw(`<h1>Wide</h1><pre class="wide">${"x".repeat(200)}</pre>`),
      }),
    ),
  );
  const base = await app.listen({ host: "127.0.0.1", port: 0 });
  return { app, base };
}

let server: { app: FastifyInstance; base: string };
let browser: Browser;
let context: BrowserContext;
let page: Page;
let csp: CspWatch;

beforeAll(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await server?.app.close();
});

beforeEach(async () => {
  await context?.close();
  context = await browser.newContext();
  page = await context.newPage();
  csp = watchCsp(page);
});

async function expectNoViolations(p: Page): Promise<void> {
  const violations = await checkA11y(p);
  expect(violations, formatViolations(violations)).toEqual([]);
}

describe("sample portal page in Chromium", () => {
  it("is sent with the page CSP and passes axe at desktop width and at 360 px", async () => {
    const response = await page.goto(`${server.base}/sample`);
    expect(response?.headers()["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
    await page.waitForFunction(() => customElements.get("altcha-widget") !== undefined);
    await expectNoViolations(page);
    await at360(page);
    await expectNoViolations(page);
    expect(csp.violations).toEqual([]);
    expect(csp.errors).toEqual([]);
  });

  it("can be completed by keyboard alone: skip link, fields, radios, show password, live rules, captcha, submit", async () => {
    const workerLoads: string[] = [];
    page.on("request", (r) => {
      if (r.url().endsWith("/static/vendor/worker.js")) workerLoads.push(r.url());
    });
    await page.goto(`${server.base}/sample`);
    await at360(page);

    // The first Tab reaches the skip link, and Enter moves focus to <main>.
    await page.keyboard.press("Tab");
    expect(await describeFocus(page)).toContain("Skip to main content");
    await page.keyboard.press("Enter");
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("main");

    await tabAndType(page, page.getByLabel(t("reset.identify.username.label")), "jsmith");
    await tabAndType(page, page.getByLabel(t("reset.code.label"), { exact: true }), "123456");
    await tabTo(page, page.getByLabel(/^Email a code/));
    // Arrow keys move within a radio group and select.
    await page.keyboard.press("ArrowDown");
    expect(await page.getByLabel(/^Text a code/).isChecked()).toBe(true);

    const password = page.getByLabel(t("reset.password.new.label"), { exact: true });
    await tabAndType(page, password, "short");
    const length = page.locator("#password-rules-length");
    await expect.poll(() => length.getAttribute("data-state")).toBe("fail");
    await expect
      .poll(() => page.locator("#password-rules-status").textContent())
      .toBe("2 rules are not met yet.");
    expect(await length.locator(".rule-state").textContent()).toBe(t("password.rules.state.fail"));

    await page.keyboard.type("-Horse-Battery-9");
    await expect.poll(() => length.getAttribute("data-state")).toBe("ok");
    await expect.poll(() => page.locator("#password-rules-classes").getAttribute("data-state")).toBe("ok");
    await expect
      .poll(() => page.locator("#password-rules-status").textContent())
      .toBe(t("password.rules.summary.ok"));

    const toggle = page.getByRole("button", { name: t("common.show_password") });
    await tabAndSpace(page, toggle);
    expect(await password.getAttribute("type")).toBe("text");
    expect(
      await page.getByRole("button", { name: t("common.hide_password") }).getAttribute("aria-pressed"),
    ).toBe("true");
    await page.keyboard.press("Space");
    expect(await password.getAttribute("type")).toBe("password");

    // The proof of work runs by itself (auto=onload) in a worker served from our origin.
    await page.waitForFunction(
      (name) => (document.querySelector(`input[name="${name}"]`) as HTMLInputElement | null)?.value,
      CAPTCHA_FIELD,
    );
    expect(workerLoads.length).toBeGreaterThan(0);
    await expectNoViolations(page);

    await Promise.all([
      page.waitForURL(`${server.base}/sample/done`),
      tabAndEnter(page, page.getByRole("button", { name: t("common.continue") })),
    ]);
    expect(await page.locator("h1").textContent()).toBe(t("reset.done.title"));
    await expectNoViolations(page);
    await at360(page);
    expect(csp.violations).toEqual([]);
    expect(csp.errors).toEqual([]);
  });

  it("shows an error summary that has focus and links to the fields, and the error page passes axe", async () => {
    await page.goto(`${server.base}/sample`);
    await page.waitForFunction(
      (name) => (document.querySelector(`input[name="${name}"]`) as HTMLInputElement | null)?.value,
      CAPTCHA_FIELD,
    );
    await tabAndEnter(page, page.getByRole("button", { name: t("common.continue") }));
    await page.locator(".error-summary").waitFor();
    expect(await page.title()).toMatch(/^Error: /);
    expect(await page.evaluate(() => document.activeElement?.classList.contains("error-summary"))).toBe(true);
    const summaryLinks = page.locator(".error-summary a");
    expect(await summaryLinks.allTextContents()).toEqual([
      t("reset.identify.error.username_required"),
      t("reset.code.error.format", { digits: 6 }),
      t("reset.choose.error.required"),
      t("reset.password.error.required"),
    ]);
    // Following a summary link by keyboard puts focus in the field itself.
    await tabAndEnter(page, summaryLinks.nth(2));
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("method");
    expect(await page.getByLabel(t("reset.identify.username.label")).getAttribute("aria-invalid")).toBe(
      "true",
    );
    await expectNoViolations(page);
    await at360(page);
    expect(csp.violations).toEqual([]);
  });

  it("without JavaScript: the form still posts and is validated, and the page says why the check needs JavaScript", async () => {
    const noJs = await browser.newContext({ javaScriptEnabled: false });
    try {
      const p = await noJs.newPage();
      await p.goto(`${server.base}/sample`);
      // Playwright's getByText skips <noscript>, so the paragraph is found by CSS.
      const why = p.locator(".captcha noscript p");
      expect(await why.textContent()).toBe(t("captcha.js_required"));
      expect(await why.isVisible()).toBe(true);
      // (axe cannot run here: with scripting off, the page evaluates nothing, axe included.)
      // The show-password button needs JavaScript, so it stays hidden.
      expect(await p.getByRole("button", { name: t("common.show_password") }).count()).toBe(0);
      await tabAndType(p, p.getByLabel(t("reset.identify.username.label")), "jsmith");
      await p.keyboard.press("Enter"); // implicit submission from a text field
      await p.locator(".error-summary").waitFor();
      const summary = await p.locator(".error-summary a").allTextContents();
      expect(summary).toContain(t("reset.identify.error.captcha_required"));
      expect(summary).not.toContain(t("reset.identify.error.username_required"));
      expect(await p.getByLabel(t("reset.identify.username.label")).inputValue()).toBe("jsmith");
    } finally {
      await noJs.close();
    }
  });

  it("control: inline script and inline style are refused by the CSP, and the watch reports it", async () => {
    const response = await page.goto(`${server.base}/inline`);
    expect(response?.headers()["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
    await expect.poll(() => csp.violations.length).toBeGreaterThanOrEqual(2);
    expect(await page.title()).not.toBe("ran");
    expect(await page.locator("h1").evaluate((el) => getComputedStyle(el).color)).not.toBe("rgb(255, 0, 0)");
    expect(csp.violations.some((v) => /script/i.test(v))).toBe(true);
    expect(csp.violations.some((v) => /style/i.test(v))).toBe(true);
  });

  it("control: checkA11y reports an unlabelled field, and at360 reports a page wider than 360 px", async () => {
    await page.goto(`${server.base}/bad-a11y`);
    const violations = await checkA11y(page);
    expect(violations.map((v) => v.id)).toContain("label");
    expect(formatViolations(violations)).toMatch(/^label \(critical\)/m);
    await page.goto(`${server.base}/too-wide`);
    await expect(at360(page)).rejects.toThrow(/page is \d+px wide at 360px: .*pre\.wide/);
  });
});
