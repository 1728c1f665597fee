/**
 * A passkey as the sign-in's second factor, in Chromium with its virtual authenticator (DevTools
 * protocol): a cloud user whose only method is a passkey (made through the registration pages)
 * signs out, signs in again with the password, is asked for the passkey, and the ceremony on the
 * second-factor page (static/passkey.js with the @simplewebauthn/browser bundle, same-origin under
 * the CSP) signs them in. The session records both proofs. axe on each page passed through.
 * The browser talks to http://localhost:<port>: a WebAuthn relying party must be a host name.
 */
import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { translator } from "../packages/server/src/i18n/index.js";
import { agentProcessHooks } from "./harness/agent-process.js";
import { startPortal } from "./harness/portal.js";
import {
  accessible,
  fillSignIn,
  heading,
  press,
  useBrowser,
  virtualAuthenticator,
  watchCsp,
} from "./helpers/index.js";

const t = translator("en");
const cleanup = agentProcessHooks();

const browser = useBrowser();

async function signInWithPassword(page: Page, base: string, username: string, password: string) {
  await fillSignIn(page, base, username, password);
  await press(page, t("account.sign_in.submit"));
}

describe("sign-in with a passkey as the second factor", () => {
  it("a user whose only method is a passkey signs in with it in Chromium", async () => {
    const password = "Tundra-Marble-Kestrel-52";
    const harness = await startPortal({
      settings: {
        reset: { disclosure: "guided", scope: "all", gates: 1, methods: ["email", "totp", "passkey"] },
        throttles: { perIpPerMinute: 1000 },
      },
      cookieSecure: false,
      users: [{ username: "petra", password }],
    });
    cleanup.push(() => harness.close());
    const base = harness.baseUrl.replace("127.0.0.1", "localhost");
    const context = await browser().newContext({ locale: "en-GB", viewport: { width: 1280, height: 800 } });
    cleanup.push(() => context.close());
    const page = await context.newPage();
    const csp = watchCsp(page);
    await virtualAuthenticator(context, page);

    // No method yet: the password alone signs in, and the register interrupt offers a passkey.
    await signInWithPassword(page, base, "petra", password);
    await page.waitForURL(/\/account\/methods\?interrupt=register$/);
    await press(page, t("account.methods.add.passkey"));
    await page.getByLabel(t("account.methods.passkey.name.label"), { exact: true }).fill("Work laptop");
    await press(page, t("account.methods.passkey.continue"));
    await press(page, t("account.methods.passkey.create"));
    expect(await heading(page)).toBe(
      t("account.methods.done.added", { type: t("account.methods.type.passkey") }),
    );
    const petra = await harness.user("petra");
    const methods = await harness.store.db
      .selectFrom("auth_methods")
      .selectAll()
      .where("user_id", "=", petra.id)
      .execute();
    expect(methods.map((m) => m.type)).toEqual(["passkey"]);
    const counterBefore = JSON.parse(methods[0]?.data_json ?? "{}").counter as number;

    // Sign out; the password is no longer enough.
    await page.goto(`${base}/account`);
    await press(page, t("account.nav.sign_out"));
    await signInWithPassword(page, base, "petra", password);
    await page.waitForURL(/\/account\/sign-in\/second-factor$/);
    expect(await heading(page)).toBe(t("account.sign_in.second_factor.legend"));
    await accessible(page, "second factor: choose");
    // The only second factor is chosen already.
    await expect
      .poll(() => page.getByLabel(t("reset.choose.method.passkey", { masked: "Passkey" })).isChecked())
      .toBe(true);
    await press(page, t("account.sign_in.second_factor.submit"));
    expect(await heading(page)).toBe(t("reset.passkey.title"));
    // The ceremony's button is shown by the script (hidden without it).
    const start = page.getByRole("button", { name: t("reset.passkey.start"), exact: true });
    await expect.poll(() => start.isVisible()).toBe(true);
    await accessible(page, "second factor: passkey");
    const landed = page.waitForURL(`${base}/account`);
    await start.click();
    await landed;
    await page.waitForLoadState("load");
    expect(await heading(page)).toBe(t("account.overview.title"));
    await accessible(page, "signed in with a passkey");

    // The session says how: password and passkey; the passkey's counter moved.
    const sessions = await harness.store.db
      .selectFrom("sessions")
      .selectAll()
      .where("user_id", "=", petra.id)
      .where("revoked_at", "is", null)
      .execute();
    expect(sessions.map((s) => JSON.parse(s.amr_json))).toEqual([["pwd", "passkey"]]);
    const after = await harness.store.db
      .selectFrom("auth_methods")
      .select(["data_json", "last_used_at"])
      .where("user_id", "=", petra.id)
      .executeTakeFirstOrThrow();
    expect(JSON.parse(after.data_json).counter).toBeGreaterThan(counterBefore);
    expect(after.last_used_at).not.toBeNull();
    expect(csp.violations).toEqual([]);
    expect(await harness.scan()).toEqual([]);
  });
});
