/**
 * Writeback end to end against the real directories: the real Latchkey server (startLinkServer:
 * buildApp + portal + directory link as `serve` composes them), and on the agent's side the agent's
 * own OperationHandler and DirectoryOperator (packages/agent/src/operations) behind a `ws` link,
 * writing to the test environment's slapd (ppolicy) and Samba AD DC. (The agent program itself
 * does not route op.request to its handler yet; when it does, e2e/writeback-hybrid.test.ts runs the
 * same through the real process.)
 *
 * A slapd user resets through the reset pages (email code from the SMTP sink) and afterwards binds
 * with the new password while the old one fails; a Samba AD user the same through the service; an
 * AD complexity refusal comes back to the page as its plain sentence and the person tries again.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OperationHandler } from "../packages/agent/src/operations/handler.js";
import { anchorOf, testOperators, tryBind } from "../packages/agent/src/testing/operations.js";
import {
  syncedUser,
  type TestAgentLink,
} from "../packages/server/src/directory-link/testing/agent-client.js";
import { type LinkServer, startLinkServer } from "../packages/server/src/directory-link/testing/server.js";
import { t } from "../packages/server/src/i18n/index.js";
import { registerEmail } from "../packages/server/src/methods/email-code/index.js";
import type { User } from "../packages/server/src/store/schema.js";
import type { CaptchaChallenge } from "../packages/server/src/web/altcha.js";
import { CAPTCHA_FIELD } from "../packages/server/src/web/components.js";
import { type CreatedUser, createAdUser, createOpenLdapUser, getTestEnv, readMail } from "../test-env/env.js";
import { answerOperations } from "./harness/agent-link.js";
import { csrfOf, HttpClient, solveCaptchaChallengeFast } from "./harness/client.js";

const env = getTestEnv();

describe("writeback to slapd and Samba AD through the agent's operation handler", () => {
  let s: LinkServer;
  let link: TestAgentLink;
  const created: CreatedUser[] = [];
  let seq = 0;

  beforeAll(async () => {
    s = await startLinkServer({
      smtpPort: env.smtp.port,
      outboxPollMs: 50,
      settings: {
        reset: { disclosure: "guided", scope: "all", gates: 1, methods: ["email"] },
        throttles: { perIpPerMinute: 1000 },
      },
    });
    const agent = await s.enrollAgent();
    // The handler opens seals with the X25519 key the agent enrolled with.
    const handler = new OperationHandler({
      sealingKey: agent.keys.x25519Private,
      directories: testOperators(env),
    });
    ({ link } = await s.connectAgent({
      agent,
      directories: [
        { id: "corp-ol", dialect: "openldap", description: "slapd" },
        { id: "corp-ad", dialect: "ad", description: "Samba AD" },
      ],
    }));
    answerOperations(link, handler);
  });

  afterAll(async () => {
    link?.close();
    await s?.close();
    for (const u of created) await u.remove().catch(() => {});
  });

  async function synced(dialect: "ad" | "openldap", u: CreatedUser): Promise<User> {
    const directoryId = dialect === "ad" ? "corp-ad" : "corp-ol";
    const anchor = await anchorOf(env, dialect, u.dn);
    seq += 1;
    const ack = await link.sync({
      directoryId,
      syncId: `wb-e2e-${seq}`,
      full: false,
      seq: 0,
      final: true,
      users: [syncedUser(anchor, u.username, { dn: u.dn, mail: u.mail })],
    });
    if (ack.type !== "sync.ack") throw new Error(JSON.stringify(ack));
    return s.store.db
      .selectFrom("users")
      .selectAll()
      .where("source_anchor", "=", anchor)
      .executeTakeFirstOrThrow();
  }

  /** Walks the reset pages to the new-password page (email code from the SMTP sink). */
  async function toPasswordPage(user: User): Promise<{ c: HttpClient; text: string }> {
    await registerEmail(s.store.db, {
      tenantId: s.tenant.id,
      userId: user.id,
      address: user.email ?? "",
      confirmed: true,
      clock: s.clock,
    });
    const c = new HttpClient(s.baseUrl);
    const first = await c.get("/reset");
    const challenge = JSON.parse((await c.get("/api/v1/captcha/challenge")).text) as CaptchaChallenge;
    const choose = await c.submit("/reset/identify", {
      _csrf: csrfOf(first.text),
      username: user.username,
      [CAPTCHA_FIELD]: solveCaptchaChallengeFast(challenge),
    });
    const since = Date.now();
    const codePage = await c.submit("/reset/challenge", { _csrf: csrfOf(choose.text), method: "email" });
    const mail = await readMail({ to: user.email ?? "", since, subject: "verification code" });
    const code = /\b(\d{6,8})\b/.exec(mail.text)?.[1] ?? "";
    const page = await c.submit("/reset/verify", { _csrf: csrfOf(codePage.text), code });
    expect(page.text).toContain(t("en", "reset.password.title"));
    return { c, text: page.text };
  }

  it("slapd: a synced user resets through the pages; the new password binds, the old one does not", async () => {
    const u = await createOpenLdapUser();
    created.push(u);
    const user = await synced("openldap", u);
    const { c, text } = await toPasswordPage(user);
    const next = "Juniper-Harbor-Quartz-58";
    const done = await c.submit("/reset/password", { _csrf: csrfOf(text), password: next, confirm: next });
    expect(done.text).toContain(t("en", "reset.done.title"));
    expect(await tryBind(env, "openldap", u.dn, next)).toBe("ok");
    expect(await tryBind(env, "openldap", u.dn, u.password)).not.toBe("ok");
    const op = await s.store.db
      .selectFrom("writeback_operations")
      .selectAll()
      .where("user_id", "=", user.id)
      .executeTakeFirstOrThrow();
    expect(op).toMatchObject({ state: "succeeded", sealed_payload: null, type: "reset" });
  });

  it("Samba AD: a complexity refusal shows its sentence on the page; another password works and binds", async () => {
    const u = await createAdUser();
    created.push(u);
    const user = await synced("ad", u);
    const { c, text } = await toPasswordPage(user);
    // Long and strong enough for Latchkey, but one character class only: AD complexity refuses it.
    const weak = "quietly-marching-lanterns-over-frozen-meadows".replace(/-/g, "");
    const refused = await c.submit("/reset/password", { _csrf: csrfOf(text), password: weak, confirm: weak });
    if (refused.text.includes(t("en", "reset.done.title")))
      throw new Error("AD accepted a one-class password");
    const sentence = t("en", "directory.password_complexity").replace(/'/g, "&#39;");
    expect(refused.text).toContain(sentence);
    expect(refused.text).not.toContain("0000052D");
    const next = "Juniper-Harbor-Quartz-59";
    const done = await c.submit("/reset/password", {
      _csrf: csrfOf(refused.text),
      password: next,
      confirm: next,
    });
    expect(done.text).toContain(t("en", "reset.done.title"));
    expect(await tryBind(env, "ad", u.dn, next)).toBe("ok");
    // Measured here: after an admin reset, Samba still accepts the PREVIOUS password for simple
    // binds (like Windows' OldPasswordAllowedPeriod, but for LDAP too); the one before it fails. So a
    // second reset (through the service) shows the original password no longer works.
    const wb = s.features.portal.writeback;
    if (!wb) throw new Error("no writeback");
    const third = "Juniper-Harbor-Quartz-60";
    const fresh = await s.store.db
      .selectFrom("users")
      .selectAll()
      .where("id", "=", user.id)
      .executeTakeFirstOrThrow();
    const out = await wb.submit({
      tenantId: s.tenant.id,
      user: fresh,
      kind: "reset",
      secrets: { newPassword: third },
    });
    expect(out.status).toBe("applied");
    expect(await tryBind(env, "ad", u.dn, third)).toBe("ok");
    expect(await tryBind(env, "ad", u.dn, u.password)).not.toBe("ok");
    const refusedEvents = (await s.audit("writeback.refused")).filter((e) => e.target === user.id);
    expect(refusedEvents[0]?.reason).toBe("PASSWORD_COMPLEXITY");
  });
});
