/**
 * Issue 5's "unlock without a reset" in Chromium, end to end: a fresh Samba AD user is locked out by
 * failed LDAPS binds (the lab domain locks after 3, for 1 minute), the real `latchkey-agent`'s sync
 * marks them locked, and the person goes through the real pages (captcha, email code from the SMTP
 * sink, TOTP), is offered "Unlock only" on the new-password page and takes it. Afterwards the OLD,
 * unchanged password binds over LDAPS with strict TLS — and right before the unlock it still did
 * not (data 775), so the bind proves the unlock, not the lockout running out. axe runs on the new
 * pages. The setup is e2e/harness/hybrid.ts.
 */
import { PROTOCOL_VERSION } from "@latchkey/protocol";
import { Client, InvalidCredentialsError } from "ldapts";
import { describe, expect, it } from "vitest";
import { messageId } from "../packages/server/src/directory-link/testing/agent-client.js";
import { translator } from "../packages/server/src/i18n/index.js";
import type { User } from "../packages/server/src/store/schema.js";
import { readMail, strictTls } from "../test-env/env.js";
import { agentProcessHooks, agentSpawner, until } from "./harness/agent-process.js";
import { hybridDialects, startHybrid } from "./harness/hybrid.js";
import { accessible, captchaSolved, heading, press, totpNow, useBrowser } from "./helpers/index.js";

const t = translator("en");

const cleanup = agentProcessHooks();
const spawnAgent = agentSpawner(cleanup);

const browser = useBrowser();

const ad = hybridDialects().find((d) => d.name === "ad");
if (!ad) throw new Error("no AD dialect in the hybrid harness");

/**
 * "ok", "locked" (AD bind data 775), "invalid credentials" (data 52e), or the error: over LDAPS
 * with strict TLS.
 */
async function bindAs(url: string, dn: string, password: string): Promise<string> {
  expect(url.startsWith("ldaps://")).toBe(true);
  const c = new Client({ url, timeout: 15_000, tlsOptions: strictTls() });
  try {
    await c.bind(dn, password);
    return "ok";
  } catch (e) {
    if (e instanceof InvalidCredentialsError) {
      if (/data 775/.test(e.message)) return "locked";
      if (/data 52e/.test(e.message)) return "invalid credentials";
    }
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

describe("unlock only in Chromium through the real agent, Samba AD", () => {
  it("a user locked out by failed binds unlocks after email code + TOTP; the old password binds again", async () => {
    const { server, person, user, totpSecret, agent } = await startHybrid(ad, cleanup, spawnAgent);
    expect(user.locked).toBe(0);

    // Locked out: the domain's lockoutThreshold is 3 wrong passwords.
    for (let i = 0; i < 3; i++) {
      expect(await bindAs(ad.ldapsUrl, person.dn, `Wrong-Guess-${i}-x`)).toBe("invalid credentials");
    }
    expect(await bindAs(ad.ldapsUrl, person.dn, person.password)).toBe("locked");

    // The agent's next incremental pass sees it (asked now rather than in sync.intervalSeconds).
    const registry = server.link.registry;
    for (const a of registry.serving(server.tenant.id, ad.id)) {
      registry
        .link(a.agentId)
        ?.send({ v: PROTOCOL_VERSION, id: messageId(), type: "sync.request", full: false });
    }
    await until<User>(
      "the agent's sync marks the person locked",
      async () => {
        const row = await server.store.db
          .selectFrom("users")
          .selectAll()
          .where("id", "=", user.id)
          .executeTakeFirstOrThrow();
        return row.locked === 1 ? row : null;
      },
      20_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\nagent log: ${agent.out.stdout.slice(-3000)}`);
    });

    const context = await browser().newContext({ locale: "en-GB", viewport: { width: 1280, height: 800 } });
    cleanup.push(() => context.close());
    const page = await context.newPage();

    // Identify: nothing here says the account is locked (a phantom would see the same).
    await page.goto(`${server.baseUrl}/reset`);
    await page.getByLabel(t("reset.identify.username.label")).fill(person.username);
    await captchaSolved(page);
    await press(page, t("reset.identify.submit"));
    expect(await heading(page)).toBe(t("reset.choose.legend"));
    expect(await page.content()).not.toContain(t("reset.locked.title"));

    // First gate: the email code, read from the SMTP sink.
    const since = Date.now();
    await page.getByLabel(/^Email a code/).check();
    await press(page, t("reset.choose.submit"));
    const mail = await readMail({ to: user.email ?? "", since, subject: "verification code" });
    const code = /\b(\d{6,8})\b/.exec(mail.text)?.[1];
    if (!code) throw new Error(`no code in: ${mail.text}`);
    await page.getByLabel(t("reset.code.label"), { exact: true }).fill(code);
    await press(page, t("reset.code.submit"));

    // Second gate: TOTP.
    await page.getByLabel(t("reset.choose.method.totp"), { exact: true }).check();
    await press(page, t("reset.choose.submit"));
    const totp = totpNow(totpSecret);
    await page.getByLabel(t("reset.code.label"), { exact: true }).fill(totp);
    await press(page, t("reset.code.submit"));

    // Every gate passed: a locked account chooses between unlocking only and a new password.
    expect(await heading(page)).toBe(t("reset.locked.title"));
    expect(
      await page.getByRole("heading", { level: 2, name: t("reset.locked.unlock.heading") }).count(),
    ).toBe(1);
    expect(
      await page.getByRole("heading", { level: 2, name: t("reset.locked.password.heading") }).count(),
    ).toBe(1);
    expect(await page.getByLabel(t("reset.password.new.label"), { exact: true }).count()).toBe(1);
    await accessible(page, "locked: unlock only or a new password");

    // Still locked in the directory right before the unlock (so the bind below proves the unlock).
    expect(await bindAs(ad.ldapsUrl, person.dn, person.password)).toBe("locked");
    const unlockSince = Date.now();
    await press(page, t("reset.locked.unlock.submit"));
    expect(await heading(page), agent.out.stdout.slice(-2000)).toBe(t("reset.unlocked.title"));
    expect(await page.locator(".panel-body").textContent()).toContain(t("reset.unlocked.body"));
    await accessible(page, "unlocked");

    // The old, unchanged password works again.
    expect(await bindAs(ad.ldapsUrl, person.dn, person.password)).toBe("ok");

    const ops = await server.store.db
      .selectFrom("writeback_operations")
      .selectAll()
      .where("user_id", "=", user.id)
      .execute();
    expect(ops.map((o) => [o.type, o.state])).toEqual([["unlock", "succeeded"]]);
    const row = await server.store.db
      .selectFrom("users")
      .selectAll()
      .where("id", "=", user.id)
      .executeTakeFirstOrThrow();
    expect(row.locked).toBe(0);
    const unlocked = (await server.audit("account.unlocked")).filter((e) => e.target === user.id);
    expect(unlocked.map((e) => e.result)).toEqual(["success"]);
    expect((await server.audit("password.reset")).filter((e) => e.target === user.id)).toEqual([]);
    const notice = await readMail({
      to: user.email ?? "",
      since: unlockSince,
      subject: /account was unlocked/,
    });
    expect(notice.text).toContain("Your password was not changed");
    expect(agent.out.stdout + agent.out.stderr).not.toContain(person.password);
  });
});
