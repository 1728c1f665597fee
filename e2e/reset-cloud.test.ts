/**
 * Issue 3, "Self-service reset for cloud accounts", end to end: Chromium through the real pages of
 * the real server (e2e/harness/portal.ts), codes read where a person would read them (the SMTP
 * sink, the SMS gateway, an authenticator app computing TOTP from the registered secret).
 *
 * (a) guided mode, two gates: email code + TOTP, then the store holds the new password only;
 * (b) strict mode, two gates: SMS to the number the person types + security questions;
 * (c) an administrator: two gates, never security questions (guided: not offered; strict: the right
 *     answers do not pass);
 * (d) banned, breached and too-weak passwords refused with their messages on the page;
 * one full reset by keyboard alone; axe and the 360 px check on every page of the flow (a test at the
 * end checks that every kind of page was seen); no CSP violation anywhere; and last, a scan of the
 * database, the audit rows and the server log for every password, code and answer used.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Secret, TOTP } from "otpauth";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { verifyPassword } from "../packages/server/src/core/password-hash.js";
import { translator } from "../packages/server/src/i18n/index.js";
import { buildOfflineFilterFile } from "../packages/server/src/password-policy/index.js";
import { readMail } from "../test-env/env.js";
import { type HarnessUserSpec, type PortalHarness, startPortal } from "./harness/portal.js";
import {
  at360,
  type CspWatch,
  checkA11y,
  formatViolations,
  launchBrowser,
  tabAndEnter,
  tabAndType,
  tabTo,
  watchCsp,
} from "./helpers/index.js";

const t = translator("en");
const BREACHED = "Quartz-Violin-Meadow-42";
const QUESTIONS = [
  { questionId: "lk.first-pet", answer: "Biscuit the Hamster" },
  { questionId: "lk.first-street", answer: "Acacia Avenue" },
  { questionId: "lk.first-teacher", answer: "Mrs Pennywhistle" },
];

function full(username: string, phone: string, extra: Partial<HarnessUserSpec> = {}): HarnessUserSpec {
  return {
    username,
    password: `Old-${username}-Passphrase-${phone.slice(-2)}!`,
    displayName: `${username[0]?.toUpperCase()}${username.slice(1)} Example`,
    email: `${username}@contoso.test`,
    sms: phone,
    totp: true,
    questions: QUESTIONS.map((q) => ({ ...q, answer: `${q.answer} ${username}` })),
    ...extra,
  };
}

const USERS: HarnessUserSpec[] = [
  full("amy", "+15005550101"),
  full("ben", "+15005550102"),
  full("cara", "+15005550103", { isAdmin: true }),
  full("dan", "+15005550104"),
  full("kim", "+15005550105"),
  full("tom", "+15005550106"),
  { username: "noah", password: "Noah-Has-No-Methods-1!" },
];

/** Kinds of page that must each pass axe and the 360 px check at least once in this file. */
const REQUIRED_PAGES = [
  "identify",
  "identify: error",
  "choose method (guided)",
  "choose method (strict)",
  "choose method: error",
  "choose method: strict contact missing",
  "choose method: second gate",
  "code entry (email)",
  "code entry (sms, strict)",
  "code entry: wrong code",
  "totp entry",
  "questions",
  "questions: wrong answers",
  "new password",
  "new password: rejected",
  "new password: mismatch",
  "done",
  "contact your administrator",
  "contact your administrator: notified",
  "throttled",
  "flow expired",
] as const;
type PageKind = (typeof REQUIRED_PAGES)[number];

let h: PortalHarness;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let csp: CspWatch;
let filterDir: string;
const seen = new Set<PageKind>();

beforeAll(async () => {
  filterDir = mkdtempSync(join(tmpdir(), "lk-breached-"));
  const list = join(filterDir, "hashes.txt");
  const sha1 = (s: string) => createHash("sha1").update(s).digest("hex").toUpperCase();
  writeFileSync(
    list,
    [BREACHED, "another-breached-1", "hunter2-but-longer"].map((p) => `${sha1(p)}:42`).join("\n"),
  );
  await buildOfflineFilterFile(list, join(filterDir, "breached.lkbf"));
  [h, browser] = await Promise.all([
    startPortal({
      breachedFile: join(filterDir, "breached.lkbf"),
      settings: {
        reset: { disclosure: "guided", gates: 1, codeDigits: 8 },
        password: { breached: { offline: true } },
        branding: { organisationName: "Contoso" },
        throttles: { perIpPerMinute: 1000 },
      },
      users: USERS,
    }),
    launchBrowser(),
  ]);
});

afterAll(async () => {
  await browser?.close();
  if (h) {
    const findings = await h.scan();
    await h.close();
    expect(findings, "secrets found in the database, audit rows or log").toEqual([]);
  }
  rmSync(filterDir, { recursive: true, force: true });
});

beforeEach(async () => {
  context = await browser.newContext({ locale: "en-GB", viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  csp = watchCsp(page);
});

afterEach(async () => {
  expect(csp.violations, "CSP violations").toEqual([]);
  // A form sent back with its errors comes with a 4xx status, which Chromium logs as a failed load.
  const errors = csp.errors.filter((e) => !/^Failed to load resource: .* status of 4\d\d /.test(e));
  expect(errors, "console errors").toEqual([]);
  await context.close();
});

// ——— helpers ———

/** axe at desktop width and at 360 px (no sideways scrolling), then back to desktop width. */
async function checkPage(kind: PageKind): Promise<void> {
  const desktop = await checkA11y(page);
  expect(desktop, `${kind}: ${formatViolations(desktop)}`).toEqual([]);
  await at360(page);
  const narrow = await checkA11y(page);
  expect(narrow, `${kind} at 360 px: ${formatViolations(narrow)}`).toEqual([]);
  await page.setViewportSize({ width: 1280, height: 800 });
  seen.add(kind);
}

async function heading(): Promise<string> {
  return ((await page.locator("h1").first().textContent()) ?? "").trim();
}

/** Runs an action that submits a form and waits for the page it leads to. */
async function navigate(action: () => Promise<void>): Promise<void> {
  const loaded = page.waitForEvent("load");
  await action();
  await loaded;
}

async function press(name: string): Promise<void> {
  await navigate(() => page.getByRole("button", { name, exact: true }).click());
}

async function captchaSolved(): Promise<void> {
  await page.waitForFunction(
    () => (document.querySelector('input[name="altcha"]') as HTMLInputElement | null)?.value,
  );
}

async function identify(username: string): Promise<void> {
  // /reset/new: a new flow even when the cookie still names one.
  await page.goto(`${h.baseUrl}/reset/new`);
  expect(await heading()).toBe(t("reset.identify.title"));
  await page.getByLabel(t("reset.identify.username.label")).fill(username);
  await captchaSolved();
  await press(t("reset.identify.submit"));
}

async function choose(label: string | RegExp, contact?: string): Promise<void> {
  await page.getByLabel(label, typeof label === "string" ? { exact: true } : {}).check();
  if (contact !== undefined) await page.getByLabel(t("reset.strict.contact.label")).fill(contact);
  await press(t("reset.choose.submit"));
}

async function enterCode(code: string): Promise<void> {
  await page.getByLabel(t("reset.code.label"), { exact: true }).fill(code);
  await press(t("reset.code.submit"));
}

async function emailCode(to: string, since: number): Promise<string> {
  const mail = await readMail({ to, since, subject: "verification code" });
  const code = /\b(\d{8})\b/.exec(mail.text)?.[1];
  if (!code) throw new Error(`no code in: ${mail.text}`);
  h.remember(code);
  return code;
}

function totpNow(username: string): string {
  const secret = h.users[username]?.totpSecret;
  if (!secret) throw new Error(`${username} has no TOTP`);
  const code = TOTP.generate({ secret: Secret.fromBase32(secret), algorithm: "SHA1", digits: 6, period: 30 });
  h.remember(code);
  return code;
}

/** Fills the questions on the page with the user's answers (or `wrong`). */
async function answerQuestions(username: string, wrong = false): Promise<void> {
  const spec = USERS.find((u) => u.username === username);
  const inputs = page.locator('input[name^="answer."]');
  const n = await inputs.count();
  expect(n).toBe(2);
  for (let i = 0; i < n; i++) {
    const input = inputs.nth(i);
    const id = ((await input.getAttribute("name")) ?? "").slice("answer.".length);
    const answer = wrong
      ? "not the answer"
      : (spec?.questions?.find((q) => q.questionId === id)?.answer ?? "");
    if (!wrong) h.remember(answer);
    await input.fill(answer);
  }
  await press(t("reset.code.submit"));
}

async function newPassword(password: string, confirm = password): Promise<void> {
  h.remember(password, confirm);
  await page.getByLabel(t("reset.password.new.label"), { exact: true }).fill(password);
  await page.getByLabel(t("reset.password.confirm.label"), { exact: true }).fill(confirm);
  await press(t("reset.password.submit"));
}

async function summaryTexts(): Promise<string[]> {
  return (await page.locator(".error-summary li").allTextContents()).map((s) => s.trim());
}

async function storedPasswordIs(username: string, password: string): Promise<boolean> {
  return verifyPassword((await h.user(username)).password_hash ?? "", password);
}

// ——— tests ———

describe("(a) guided mode, two gates: email code and authenticator app", () => {
  it("resets amy's password; the store then accepts the new password and refuses the old", async () => {
    await h.setSettings({ reset: { disclosure: "guided", gates: 2 } });
    await page.goto(`${h.baseUrl}/reset`);
    await captchaSolved();
    await checkPage("identify");

    // The identify page's own error: no user name.
    await press(t("reset.identify.submit"));
    expect(await summaryTexts()).toEqual([t("reset.identify.error.username_required")]);
    await checkPage("identify: error");

    await identify("amy");
    expect(await heading()).toBe(t("reset.choose.legend"));
    expect(await page.locator(".caption").textContent()).toBe(t("reset.choose.gate", { gate: 1, gates: 2 }));
    // Guided: the registered methods, masked.
    const labels = (await page.locator(".radio-label").allTextContents()).map((s) => s.trim());
    expect(labels).toEqual([
      t("reset.choose.method.email", { masked: "a•••@c•••.test" }),
      t("reset.choose.method.sms", { masked: "•••• •••• 01" }),
      t("reset.choose.method.totp"),
      t("reset.choose.method.questions"),
    ]);
    await checkPage("choose method (guided)");

    await press(t("reset.choose.submit"));
    expect(await summaryTexts()).toEqual([t("reset.choose.error.required")]);
    await checkPage("choose method: error");

    const since = Date.now();
    await choose(/^Email a code/);
    expect(await heading()).toBe(t("reset.code.title"));
    expect(await page.getByText("a•••@c•••.test").count()).toBe(1);
    await checkPage("code entry (email)");

    await enterCode("00000000");
    expect(await summaryTexts()).toEqual([t("reset.code.error.wrong")]);
    await checkPage("code entry: wrong code");

    await enterCode(await emailCode("amy@contoso.test", since));
    // Second gate: the email method is used up.
    expect(await page.locator(".caption").textContent()).toBe(t("reset.choose.gate", { gate: 2, gates: 2 }));
    expect(await page.getByText(t("reset.choose.second_gate")).count()).toBe(1);
    expect(await page.getByLabel(/^Email a code/).count()).toBe(0);
    await checkPage("choose method: second gate");

    await choose(t("reset.choose.method.totp"));
    expect(await heading()).toBe(t("reset.totp.title"));
    await checkPage("totp entry");
    await enterCode(totpNow("amy"));

    expect(await heading()).toBe(t("reset.password.title"));
    await checkPage("new password");
    await newPassword("Granite-Otter-Lantern-58");
    expect(await page.locator("h1, h2").first().textContent()).toContain(t("reset.done.title"));
    await checkPage("done");

    expect(await storedPasswordIs("amy", "Granite-Otter-Lantern-58")).toBe(true);
    expect(await storedPasswordIs("amy", USERS[0]?.password ?? "")).toBe(false);
    // The confirmation reaches the user's mailbox.
    const notice = await readMail({ to: "amy@contoso.test", since, subject: "your password was reset" });
    expect(notice.text).toContain("amy");
  });
});

describe("(b) strict mode, two gates: SMS code to the number typed, then security questions", () => {
  it("resets ben's password", async () => {
    await h.setSettings({ reset: { disclosure: "strict", gates: 2 } });
    await identify("ben");
    // Strict: the tenant's methods, nothing about ben, and a field for the contact.
    const labels = (await page.locator(".radio-label").allTextContents()).map((s) => s.trim());
    expect(labels).toEqual(
      ["email", "sms", "totp", "questions"].map((m) => t(`reset.choose.strict_method.${m}`)),
    );
    expect(await page.locator(".caption").count()).toBe(0);
    expect(await page.content()).not.toContain("•••");
    await checkPage("choose method (strict)");

    await choose(t("reset.choose.strict_method.sms"));
    expect(await summaryTexts()).toEqual([t("reset.strict.error.contact_required")]);
    await checkPage("choose method: strict contact missing");

    const since = Date.now();
    await choose(t("reset.choose.strict_method.sms"), "+1 500 555 0102");
    expect(await heading()).toBe(t("reset.code.title"));
    expect(await page.getByText(t("reset.code.sent.strict", { digits: 8 })).count()).toBe(1);
    await checkPage("code entry (sms, strict)");
    const sms = await h.waitForPhone({ to: "+15005550102", since, channel: "sms" });
    h.remember(sms.code);
    expect(sms.code).toMatch(/^\d{8}$/);
    expect(sms.text).toContain(sms.code);
    await enterCode(sms.code);

    expect(await page.locator(".caption").textContent()).toBe(t("reset.choose.gate", { gate: 2, gates: 2 }));
    await choose(t("reset.choose.strict_method.questions"));
    expect(await heading()).toBe(t("reset.questions.title"));
    await checkPage("questions");
    await answerQuestions("ben", true);
    expect(await summaryTexts()).toEqual([t("reset.questions.error.wrong")]);
    await checkPage("questions: wrong answers");
    // A wrong answer spends the challenge: choose the questions again (a new draw) and answer.
    await press(t("reset.choose_another"));
    await choose(t("reset.choose.strict_method.questions"));
    await answerQuestions("ben");
    expect(await heading()).toBe(t("reset.password.title"));
    await newPassword("Tuesday-Pebble-Fox-93");
    expect(await page.getByText(t("reset.done.body")).count()).toBe(1);
    expect(await storedPasswordIs("ben", "Tuesday-Pebble-Fox-93")).toBe(true);
  });
});

describe("(c) an administrator: two gates, never security questions", () => {
  it("guided: questions are not offered, and one gate is not enough", async () => {
    await h.setSettings({ reset: { disclosure: "guided", gates: 1 } });
    await identify("cara");
    const labels = (await page.locator(".radio-label").allTextContents()).join("\n");
    expect(labels).not.toContain(t("reset.choose.method.questions"));
    expect(labels).toContain("Email a code");
    expect(await page.locator(".caption").textContent()).toBe(t("reset.choose.gate", { gate: 1, gates: 2 }));
    await choose(t("reset.choose.method.totp"));
    await enterCode(totpNow("cara"));
    expect(await heading()).toBe(t("reset.choose.legend"));
    expect(await page.locator(".caption").textContent()).toBe(t("reset.choose.gate", { gate: 2, gates: 2 }));
    const since = Date.now();
    await choose(/^Email a code/);
    await enterCode(await emailCode("cara@contoso.test", since));
    expect(await heading()).toBe(t("reset.password.title"));
  });

  it("strict: questions are listed as for everybody, but cara's right answers never pass", async () => {
    await h.setSettings({ reset: { disclosure: "strict", gates: 1 } });
    await identify("cara");
    for (let i = 0; i < 2; i++) {
      await choose(t("reset.choose.strict_method.questions"));
      expect(await heading()).toBe(t("reset.questions.title"));
      await answerQuestions("cara");
      expect(await summaryTexts()).toEqual([t("reset.questions.error.wrong")]);
      await press(t("reset.choose_another"));
    }
    // The answers were right: the same ones let a regular user through (b), and cara is told no.
    expect(await heading()).toBe(t("reset.choose.legend"));
  });
});

describe("(d) the password policy on the page", () => {
  it("refuses banned, breached and too weak passwords with their messages, and a mismatch", async () => {
    await h.setSettings({ reset: { disclosure: "guided", gates: 1 } });
    await identify("dan");
    const since = Date.now();
    await choose(/^Email a code/);
    await enterCode(await emailCode("dan@contoso.test", since));
    expect(await heading()).toBe(t("reset.password.title"));

    const cases: Array<[string, string[]]> = [
      ["Football-Sunshine1", ["banned"]],
      ["Contoso-Spring-2024", ["personal"]],
      [BREACHED, ["breached"]],
      ["zzzzzzzzzz", ["strength"]],
    ];
    for (const [password, rules] of cases) {
      await newPassword(password);
      expect(await heading()).toBe(t("reset.password.title"));
      expect(await summaryTexts(), password).toEqual(rules.map((r) => t(`reset.password.rule_failed.${r}`)));
      // The checklist marks the failing rule.
      for (const r of rules) {
        expect(await page.locator(`#password-rules-${r}`).getAttribute("data-state")).toBe("fail");
      }
      expect(await page.locator("#password-error").textContent()).toContain(t("error.password_rejected"));
      // Nothing else is marked failed: a rule skipped after a failure is shown as not checked.
      const failed = await page
        .locator('.password-rule[data-state="fail"]')
        .evaluateAll((els) => els.map((e) => (e as HTMLElement).dataset.rule));
      expect(failed, password).toEqual(rules);
    }
    // The organisation's name counts as personal, and the checklist says so where it fails.
    await newPassword("Contoso-Spring-2024");
    expect(await page.locator("#password-rules-personal .rule-text").textContent()).toContain("organisation");
    await checkPage("new password: rejected");

    await newPassword("Harbour-Tulip-Kestrel-31", "Harbour-Tulip-Kestrel-13");
    expect(await summaryTexts()).toEqual([t("reset.password.error.mismatch")]);
    await checkPage("new password: mismatch");

    expect(await storedPasswordIs("dan", USERS[3]?.password ?? "")).toBe(true);
    await newPassword("Harbour-Tulip-Kestrel-31");
    expect(await page.getByText(t("reset.done.body")).count()).toBe(1);
    expect(await storedPasswordIs("dan", "Harbour-Tulip-Kestrel-31")).toBe(true);
  });
});

describe("keyboard only", () => {
  it("kim resets her password with the keyboard alone: no clicks, no fill", async () => {
    await h.setSettings({ reset: { disclosure: "guided", gates: 1 } });
    const byKeys = async (target: Locator, action: (l: Locator) => Promise<void>) =>
      navigate(() => action(target));
    await page.goto(`${h.baseUrl}/reset`);
    await tabAndType(page, page.getByLabel(t("reset.identify.username.label")), "kim");
    await captchaSolved();
    await byKeys(page.getByRole("button", { name: t("reset.identify.submit") }), (b) => tabAndEnter(page, b));

    // Radios: Tab reaches the group, the arrow keys move and select.
    await tabTo(page, page.getByLabel(/^Email a code/));
    await page.keyboard.press("Space");
    expect(await page.getByLabel(/^Email a code/).isChecked()).toBe(true);
    await page.keyboard.press("ArrowDown");
    expect(await page.getByLabel(/^Text a code/).isChecked()).toBe(true);
    await page.keyboard.press("ArrowUp");
    const since = Date.now();
    await byKeys(page.getByRole("button", { name: t("reset.choose.submit") }), (b) => tabAndEnter(page, b));

    const code = await emailCode("kim@contoso.test", since);
    await tabAndType(page, page.getByLabel(t("reset.code.label"), { exact: true }), code);
    await byKeys(page.getByRole("button", { name: t("reset.code.submit") }), (b) => tabAndEnter(page, b));

    expect(await heading()).toBe(t("reset.password.title"));
    const password = "Lantern-Meadow-Otter-77";
    h.remember(password);
    await tabAndType(page, page.getByLabel(t("reset.password.new.label"), { exact: true }), password);
    // The live check (debounced, zxcvbn in a worker) may take a while on a busy machine.
    await expect
      .poll(() => page.locator("#password-rules-status").textContent(), { timeout: 15_000 })
      .toBe(t("password.rules.summary.ok"));
    await tabAndType(page, page.getByLabel(t("reset.password.confirm.label"), { exact: true }), password);
    await byKeys(page.getByRole("button", { name: t("reset.password.submit") }), (b) => tabAndEnter(page, b));
    expect(await page.getByText(t("reset.done.body")).count()).toBe(1);
    expect(await storedPasswordIs("kim", password)).toBe(true);
  });
});

describe("the pages where a reset stops", () => {
  it("contact your administrator: a user without methods is told so and can notify the administrators", async () => {
    await h.setSettings({ reset: { disclosure: "guided", gates: 1 } });
    const since = Date.now();
    await identify("noah");
    expect(await heading()).toBe(t("reset.ineligible.title"));
    await checkPage("contact your administrator");
    await press(t("reset.ineligible.notify_button"));
    expect(await page.getByText(t("reset.ineligible.notified")).count()).toBe(1);
    await checkPage("contact your administrator: notified");
    const mail = await readMail({ to: "cara@contoso.test", since, subject: "Password help requested" });
    expect(mail.text).toContain("noah");
  });

  it("throttled: the fifth wrong code locks self-service and the page says until when", async () => {
    await h.setSettings({ reset: { disclosure: "guided", gates: 1 } });
    await identify("tom");
    await choose(/^Text a code/);
    for (let i = 0; i < 4; i++) {
      await enterCode(`1234567${i}`);
      expect(await summaryTexts()).toEqual([t("reset.code.error.wrong")]);
    }
    const before = Date.now();
    await enterCode("12345679");
    expect(await heading()).toBe(t("reset.throttled.title"));
    const text = (await page.locator("main p").first().textContent()) ?? "";
    const until = /after (\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC/.exec(text)?.[1];
    expect(until, text).toBeDefined();
    const untilMs = Date.parse(`${until?.replace(" ", "T")}:00Z`);
    expect(untilMs).toBeGreaterThan(before + 24 * 3600_000 - 120_000);
    expect(untilMs).toBeLessThan(before + 24 * 3600_000 + 120_000);
    await checkPage("throttled");
    // "Start again" starts a new flow, and for tom it says the same at once.
    await navigate(() => page.getByRole("link", { name: t("reset.start_again") }).click());
    expect(await heading()).toBe(t("reset.identify.title"));
    await page.getByLabel(t("reset.identify.username.label")).fill("tom");
    await captchaSolved();
    await press(t("reset.identify.submit"));
    expect(await heading()).toBe(t("reset.throttled.title"));
  });

  it("an expired flow starts again with a notice", async () => {
    await h.setSettings({ reset: { disclosure: "guided", gates: 1 } });
    await identify("amy");
    expect(await heading()).toBe(t("reset.choose.legend"));
    const cookie = (await context.cookies()).find((c) => c.name === "lk_reset");
    const flowId = decodeURIComponent(cookie?.value ?? "").split(".")[0] ?? "";
    expect(cookie?.secure).toBe(true);
    expect(cookie?.httpOnly).toBe(true);
    await h.store.db
      .updateTable("flows")
      .set({ expires_at: Date.now() - 1 })
      .where("id", "=", flowId)
      .execute();
    await page.goto(`${h.baseUrl}/reset`);
    expect(await heading()).toBe(t("reset.identify.title"));
    expect(await page.getByText(t("error.flow_expired")).count()).toBe(1);
    await captchaSolved();
    await checkPage("flow expired");
  });
});

describe("coverage and the secrets scan", () => {
  it("every kind of page was checked with axe and at 360 px", () => {
    expect([...REQUIRED_PAGES].filter((k) => !seen.has(k))).toEqual([]);
  });

  it("control: the scan finds a value that is in the log and the audit rows", async () => {
    const marker = `planted-${Date.now().toString(36)}`;
    h.logger.info({ note: marker }, "control line");
    await h.store.db
      .insertInto("audit_events")
      .values({
        id: `ctl-${marker}`,
        tenant_id: h.tenant.id,
        occurred_at: Date.now(),
        event: "reset_flow.created",
        actor: null,
        target: null,
        ip: null,
        user_agent: null,
        result: "info",
        reason: null,
        flow_id: null,
        details_json: JSON.stringify({ note: marker }),
      })
      .execute();
    const where = (await h.scan([marker])).map((f) => f.where);
    expect(where).toContain("log");
    expect(where).toContain("audit_events");
    expect(where.some((w) => w.startsWith("file "))).toBe(true);
    await h.store.db.deleteFrom("audit_events").where("id", "=", `ctl-${marker}`).execute();
    // The secrets used so far are many, and known to the scan that runs after the last test.
    expect(h.secrets.size).toBeGreaterThan(20);
  });
});
