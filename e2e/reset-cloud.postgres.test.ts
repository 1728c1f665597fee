/**
 * The cloud reset on PostgreSQL (the store several instances share): the same server, driven over
 * HTTP through the pages without a browser, with the harness on a database from createTestDatabase.
 * A strict-mode reset by email code, the lockout after five wrong codes, an unknown name seeing the
 * same choice page, and the secrets scan over every table and the log.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyPassword } from "../packages/server/src/core/password-hash.js";
import { translator } from "../packages/server/src/i18n/index.js";
import { CAPTCHA_FIELD } from "../packages/server/src/web/components.js";
import { readMail } from "../test-env/env.js";
import { csrfOf, HttpClient, type HttpResult, solvedCaptcha } from "./harness/client.js";
import { type PortalHarness, startPortal } from "./harness/portal.js";

const t = translator("en");
let h: PortalHarness;

beforeAll(async () => {
  h = await startPortal({
    database: "postgres",
    settings: {
      reset: { disclosure: "strict", gates: 1, codeDigits: 8 },
      branding: { organisationName: "Contoso" },
      throttles: { perIpPerMinute: 1000 },
    },
    users: [
      { username: "pia", password: "Pia-Old-Passphrase-1!", email: "pia@contoso.test", totp: true },
      { username: "lou", password: "Lou-Old-Passphrase-1!", email: "lou@contoso.test" },
    ],
  });
});

afterAll(async () => {
  if (!h) return;
  const findings = await h.scan();
  await h.close();
  expect(findings).toEqual([]);
});

function main(r: HttpResult): string {
  return r.text.slice(r.text.indexOf("<main"), r.text.indexOf("</main>"));
}

async function identified(username: string): Promise<{ c: HttpClient; page: HttpResult }> {
  const c = new HttpClient(h.baseUrl);
  const first = await c.get("/reset");
  const page = await c.submit("/reset/identify", {
    _csrf: csrfOf(first.text),
    username,
    [CAPTCHA_FIELD]: await solvedCaptcha(h.portal.captcha),
  });
  return { c, page };
}

describe("cloud reset on PostgreSQL", () => {
  it("strict mode: email code to the typed address, then the new password is the one stored", async () => {
    expect(h.store.engine).toBe("postgres");
    const { c, page } = await identified("pia");
    expect(main(page)).toContain(t("reset.choose.strict_method.email"));
    const since = Date.now();
    const codePage = await c.submit("/reset/challenge", {
      _csrf: csrfOf(page.text),
      method: "email",
      contact: "PIA@contoso.test ",
    });
    expect(main(codePage)).toContain(t("reset.code.title"));
    const mail = await readMail({ to: "pia@contoso.test", since, subject: "verification code" });
    const code = /\b(\d{8})\b/.exec(mail.text)?.[1] ?? "";
    h.remember(code);
    const pwPage = await c.submit("/reset/verify", { _csrf: csrfOf(codePage.text), code });
    expect(main(pwPage)).toContain(t("reset.password.title"));
    const password = "Basalt-Heron-Violet-64";
    h.remember(password);
    const done = await c.submit("/reset/password", {
      _csrf: csrfOf(pwPage.text),
      password,
      confirm: password,
    });
    expect(main(done)).toContain(t("reset.done.title"));
    const stored = (await h.user("pia")).password_hash ?? "";
    expect(await verifyPassword(stored, password)).toBe(true);
    expect(await verifyPassword(stored, "Pia-Old-Passphrase-1!")).toBe(false);
  });

  it("an unknown name gets the same choice page as a real user", async () => {
    const real = await identified("lou");
    const unknown = await identified("nobody-at-all");
    const strip = (r: HttpResult) => main(r).replace(/value="[^"]{20,}"/g, 'value="<csrf>"');
    expect(strip(unknown.page)).toBe(strip(real.page));
  });

  it("five wrong codes lock self-service; the page says until when", async () => {
    const { c, page } = await identified("lou");
    let current = await c.submit("/reset/challenge", {
      _csrf: csrfOf(page.text),
      method: "email",
      contact: "lou@contoso.test",
    });
    for (let i = 0; i < 5; i++) {
      current = await c.submit("/reset/verify", { _csrf: csrfOf(current.text), code: `8765432${i}` });
    }
    expect(main(current)).toContain(t("reset.throttled.title"));
    expect(main(current)).toMatch(/try again after \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);
    const locked = await h.store.db
      .selectFrom("throttle_counters")
      .select(["key", "locked_until"])
      .where("locked_until", "is not", null)
      .where("key", "not like", "altcha:%")
      .execute();
    expect(locked.length).toBeGreaterThanOrEqual(1);
  });
});
