import { describe, expect, it } from "vitest";
import { translator } from "../packages/server/src/i18n/index.js";
import { readMail } from "../test-env/env.js";
import { agentProcessHooks, agentSpawner } from "./harness/agent-process.js";
import { hybridDialects, startHybrid } from "./harness/hybrid.js";
import {
  accessible,
  captchaSolved,
  heading,
  ldapsBind,
  press,
  totpNow,
  useBrowser,
} from "./helpers/index.js";

const t = translator("en");

const cleanup = agentProcessHooks();
const spawnAgent = agentSpawner(cleanup);

const browser = useBrowser();

const dialects = hybridDialects();

describe.each(dialects)("hybrid reset in Chromium through the real agent, $name", (d) => {
  it("a synced user resets with email code + TOTP; the new password binds over LDAPS, the old one fails", async () => {
    const { server, person, user, totpSecret, agent } = await startHybrid(d, cleanup, spawnAgent);

    const context = await browser().newContext({ locale: "en-GB", viewport: { width: 1280, height: 800 } });
    cleanup.push(() => context.close());
    const page = await context.newPage();

    // Identify: the captcha widget solves its challenge in the page.
    await page.goto(`${server.baseUrl}/reset`);
    expect(await heading(page)).toBe(t("reset.identify.title"));
    await page.getByLabel(t("reset.identify.username.label")).fill(person.username);
    await captchaSolved(page);
    await accessible(page, "identify");
    await press(page, t("reset.identify.submit"));

    // First gate: the email code, read from the SMTP sink.
    expect(await heading(page)).toBe(t("reset.choose.legend"));
    expect(await page.locator(".caption").textContent()).toBe(t("reset.choose.gate", { gate: 1, gates: 2 }));
    await accessible(page, "choose method");
    const since = Date.now();
    await page.getByLabel(/^Email a code/).check();
    await press(page, t("reset.choose.submit"));
    expect(await heading(page)).toBe(t("reset.code.title"));
    await accessible(page, "code entry (email)");
    const mail = await readMail({ to: user.email ?? "", since, subject: "verification code" });
    const code = /\b(\d{6,8})\b/.exec(mail.text)?.[1];
    if (!code) throw new Error(`no code in: ${mail.text}`);
    await page.getByLabel(t("reset.code.label"), { exact: true }).fill(code);
    await press(page, t("reset.code.submit"));

    // Second gate: TOTP.
    expect(await page.locator(".caption").textContent()).toBe(t("reset.choose.gate", { gate: 2, gates: 2 }));
    await accessible(page, "choose method: second gate");
    await page.getByLabel(t("reset.choose.method.totp"), { exact: true }).check();
    await press(page, t("reset.choose.submit"));
    expect(await heading(page)).toBe(t("reset.totp.title"));
    await accessible(page, "totp entry");
    const totp = totpNow(totpSecret);
    await page.getByLabel(t("reset.code.label"), { exact: true }).fill(totp);
    await press(page, t("reset.code.submit"));

    // The new password goes through the server and the agent to the directory.
    expect(await heading(page)).toBe(t("reset.password.title"));
    await accessible(page, "new password");
    const next = "Saffron-Glacier-Pylon-47";
    await page.getByLabel(t("reset.password.new.label"), { exact: true }).fill(next);
    await page.getByLabel(t("reset.password.confirm.label"), { exact: true }).fill(next);
    await press(page, t("reset.password.submit"));
    expect(await page.locator("h1, h2").first().textContent(), agent.out.stdout.slice(-2000)).toContain(
      t("reset.done.title"),
    );
    await accessible(page, "done");

    expect(await ldapsBind(d.ldapsUrl, person.dn, next)).toBe("ok");
    if (d.name === "openldap") {
      expect(await ldapsBind(d.ldapsUrl, person.dn, person.password)).toBe("invalid credentials");
    } else {
      // Samba keeps accepting the just-replaced password for simple binds for 60 minutes after an
      // admin reset (see e2e/writeback-hybrid.test.ts): a second reset shows the original one fails.
      const fresh = await server.store.db
        .selectFrom("users")
        .selectAll()
        .where("id", "=", user.id)
        .executeTakeFirstOrThrow();
      const out = await server.features.portal.writeback?.submit({
        tenantId: server.tenant.id,
        user: fresh,
        kind: "reset",
        secrets: { newPassword: "Saffron-Glacier-Pylon-48" },
      });
      expect(out?.status).toBe("applied");
      expect(await ldapsBind(d.ldapsUrl, person.dn, person.password)).toBe("invalid credentials");
    }
    const ops = await server.store.db
      .selectFrom("writeback_operations")
      .selectAll()
      .where("user_id", "=", user.id)
      .execute();
    expect(ops.every((o) => o.state === "succeeded" && o.sealed_payload === null)).toBe(true);
    // The agent's output never holds the passwords.
    for (const p of [next, person.password]) expect(agent.out.stdout + agent.out.stderr).not.toContain(p);
  });
});
