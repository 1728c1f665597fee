/**
 * "My account" services on both stores (SQLite and PostgreSQL): sessions (hashed cookie values,
 * idle and absolute timeouts, revocation by a reset, step-up), sign-in of cloud accounts (unknown
 * names answered like wrong passwords, the per-account limit, the second factor, the interrupts)
 * and the password change (old password, policy and history, other sessions revoked, the email and
 * the audit record). The synced paths (pass-through, the agent's change) run against Samba AD in
 * e2e/account-change.browser.test.ts.
 */
import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../../../../test-env/env.js";
import { StoreAudit } from "../audit/emitter.js";
import { parseTenantSettings } from "../config/tenant-settings.js";
import { ManualClock } from "../core/clock.js";
import { isLatchkeyError, type LatchkeyError } from "../core/errors.js";
import { hashPassword, verifyPassword } from "../core/password-hash.js";
import { cryptoRandom, newId } from "../core/random.js";
import { randomSecrets } from "../core/secrets.js";
import { type SharedStore, sqliteDatabase, testStore } from "../directory-link/testing/server.js";
import { ChangeService } from "../flows/change/service.js";
import { CloudPasswordSetter, revokeAllSessions } from "../flows/reset/cloud-password-setter.js";
import { PasswordRejectedError } from "../flows/reset/service.js";
import { SignInService } from "../flows/sign-in/service.js";
import { createMethods } from "../methods/registry.js";
import { registerTotp } from "../methods/totp/index.js";
import { Outbox } from "../notify/outbox.js";
import { createPasswordChecker } from "../password-policy/index.js";
import type { Tenant, User } from "../store/schema.js";
import { Throttle } from "../throttle/throttle.js";
import { hashSessionToken, SessionService } from "./sessions.js";

const TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
const meta = { ip: "203.0.113.5", userAgent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/120", locale: "en" };

async function expectCode(p: Promise<unknown>, code: string): Promise<LatchkeyError> {
  try {
    await p;
  } catch (e) {
    if (isLatchkeyError(e)) {
      expect(e.code).toBe(code);
      return e;
    }
    throw e;
  }
  throw new Error(`expected ${code}, but it succeeded`);
}

describe.each(["sqlite", "postgres"] as const)("my account (%s)", (engine) => {
  let shared: SharedStore;
  let tenant: Tenant;
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 9));
  const secrets = randomSecrets();
  let sessions: SessionService;
  let signIn: SignInService;
  let change: ChangeService;
  let captchaOk = true;

  beforeAll(async () => {
    shared = await testStore(engine === "postgres" ? await createTestDatabase() : sqliteDatabase());
    const db = shared.store.db;
    const now = clock.now();
    const settings = parseTenantSettings({
      reset: { methods: ["email", "totp", "questions"], gates: 1 },
      account: {
        sessionIdleMinutes: 30,
        sessionAbsoluteHours: 12,
        reconfirmDays: 90,
        signInFailuresPer15Minutes: 4,
      },
      password: { minStrength: 0 },
    });
    tenant = {
      id: newId(),
      slug: `t-${newId().slice(0, 6).toLowerCase()}`,
      name: "Acme",
      settings_json: JSON.stringify(settings),
      created_at: now,
      updated_at: now,
    };
    await db.insertInto("tenants").values(tenant).execute();
    const audit = new StoreAudit(db, clock);
    const throttle = new Throttle(db, clock);
    const outbox = new Outbox({ db, clock, secrets });
    const methods = createMethods({
      db,
      clock,
      random: cryptoRandom,
      secrets,
      enqueue: async (m) => void (await outbox.enqueue(m)),
    });
    sessions = new SessionService({ db, clock });
    const passwords = createPasswordChecker({ strength: { score: async () => 4, close: async () => {} } });
    change = new ChangeService({
      db,
      clock,
      random: cryptoRandom,
      secrets,
      audit,
      throttle,
      passwords,
      sessions,
      outbox,
      cloud: new CloudPasswordSetter(db, clock),
      writeback: null,
    });
    signIn = new SignInService({
      db,
      clock,
      random: cryptoRandom,
      secrets,
      audit,
      throttle,
      captcha: { verify: async () => captchaOk },
      methods,
      sessions,
      change,
      writeback: null,
    });
  });
  afterAll(async () => {
    await shared?.dispose();
  });

  async function cloudUser(password: string, extra: Partial<User> = {}): Promise<User> {
    const now = clock.now();
    const username = `u${newId()
      .slice(0, 8)
      .toLowerCase()
      .replace(/[^a-z0-9]/g, "x")}`;
    const user: User = {
      id: newId(),
      tenant_id: tenant.id,
      kind: "cloud",
      username,
      upn: `${username}@example.test`,
      email: `${username}@example.test`,
      display_name: `User ${username}`,
      given_name: null,
      surname: null,
      mobile: null,
      office_phone: null,
      enabled: 1,
      locked: 0,
      is_admin: 0,
      in_scope: 1,
      source_anchor: null,
      directory_id: null,
      password_hash: await hashPassword(password),
      password_changed_at: now,
      created_at: now,
      updated_at: now,
      ...extra,
    };
    await shared.store.db.insertInto("users").values(user).execute();
    return user;
  }

  async function withTotp(user: User): Promise<void> {
    await registerTotp(shared.store.db, secrets, {
      tenantId: tenant.id,
      userId: user.id,
      issuer: "Acme",
      accountName: user.username,
      secretBase32: TOTP_SECRET,
      confirmed: true,
      clock,
    });
  }

  const totpNow = () =>
    TOTP.generate({
      secret: Secret.fromBase32(TOTP_SECRET),
      algorithm: "SHA1",
      digits: 6,
      period: 30,
      timestamp: clock.now(),
    });

  const signInAs = (username: string, password: string) =>
    signIn.signIn(tenant, { username, password, captcha: "x", next: "/account" }, meta);

  describe("sessions", () => {
    it("stores only the SHA-256 of a 256-bit cookie value and resolves it back", async () => {
      const user = await cloudUser("Correct-Horse-1");
      const { session, cookieValue } = await sessions.create(tenant, user, meta, ["pwd"]);
      expect(Buffer.from(cookieValue, "base64url")).toHaveLength(32);
      const row = await shared.store.db
        .selectFrom("sessions")
        .selectAll()
        .where("id", "=", session.id)
        .executeTakeFirstOrThrow();
      expect(row.token_hash).toBe(hashSessionToken(cookieValue));
      expect(JSON.stringify(row)).not.toContain(cookieValue);
      expect(row.csrf_token.length).toBeGreaterThanOrEqual(40);
      expect((await sessions.resolve(tenant, cookieValue))?.id).toBe(session.id);
      const last = cookieValue.endsWith("A") ? "B" : "A";
      expect(await sessions.resolve(tenant, `${cookieValue.slice(0, -1)}${last}`)).toBeNull();
    });

    it("ends after the idle timeout, and activity keeps it alive until the absolute one", async () => {
      const user = await cloudUser("Correct-Horse-1");
      const a = await sessions.create(tenant, user, meta, ["pwd"]);
      clock.advance(29 * 60_000);
      expect(await sessions.resolve(tenant, a.cookieValue)).not.toBeNull();
      clock.advance(29 * 60_000); // 29 min after the last request
      expect(await sessions.resolve(tenant, a.cookieValue)).not.toBeNull();
      clock.advance(30 * 60_000); // 30 min idle
      expect(await sessions.resolve(tenant, a.cookieValue)).toBeNull();
      // Ended sessions are revoked in the store, so the list no longer shows them.
      expect((await sessions.list(user)).map((s) => s.id)).not.toContain(a.session.id);

      const b = await sessions.create(tenant, user, meta, ["pwd"]);
      for (let i = 0; i < 12 * 3; i++) {
        expect(await sessions.resolve(tenant, b.cookieValue), `after ${i * 20} min`).not.toBeNull();
        clock.advance(20 * 60_000);
      }
      expect(await sessions.resolve(tenant, b.cookieValue)).toBeNull();
    });

    it("honours a reset's revocation, revokes one or all others, and only the owner's", async () => {
      const user = await cloudUser("Correct-Horse-1");
      const other = await cloudUser("Correct-Horse-1");
      const [a, b, c] = [
        await sessions.create(tenant, user, meta, ["pwd"]),
        await sessions.create(tenant, user, meta, ["pwd"]),
        await sessions.create(tenant, user, meta, ["pwd"]),
      ];
      const theirs = await sessions.create(tenant, other, meta, ["pwd"]);
      expect(await sessions.revoke(theirs.session.id, user)).toBe(false);
      expect(await sessions.resolve(tenant, theirs.cookieValue)).not.toBeNull();
      expect(await sessions.revoke(b.session.id, user)).toBe(true);
      expect(await sessions.resolve(tenant, b.cookieValue)).toBeNull();
      expect(await sessions.revokeAllFor(user, a.session.id)).toBe(1);
      expect(await sessions.resolve(tenant, c.cookieValue)).toBeNull();
      expect(await sessions.resolve(tenant, a.cookieValue)).not.toBeNull();
      // What a reset does (flows/reset/cloud-password-setter.ts).
      await revokeAllSessions(shared.store.db, clock, user);
      expect(await sessions.resolve(tenant, a.cookieValue)).toBeNull();
      expect(await sessions.list(user)).toEqual([]);
    });

    it("knows whether a step-up is fresh", async () => {
      const user = await cloudUser("Correct-Horse-1");
      const { session, cookieValue } = await sessions.create(tenant, user, meta, ["pwd"]);
      expect(sessions.stepUpFresh(session, 10 * 60_000)).toBe(false);
      await sessions.markStepUp(session.id, "totp");
      const fresh = await sessions.resolve(tenant, cookieValue);
      expect(fresh?.step_up_method).toBe("totp");
      expect(fresh && sessions.stepUpFresh(fresh, 10 * 60_000)).toBe(true);
      clock.advance(11 * 60_000);
      expect(fresh && sessions.stepUpFresh(fresh, 10 * 60_000)).toBe(false);
    });
  });

  describe("sign-in (cloud accounts)", () => {
    it("answers an unknown name like a wrong password, and limits both the same way", async () => {
      const user = await cloudUser("Correct-Horse-1");
      await expectCode(signInAs(user.username, "wrong-password"), "SIGN_IN_FAILED");
      await expectCode(signInAs("nobody-here", "wrong-password"), "SIGN_IN_FAILED");
      // The limit is 4 per 15 minutes: the 4th failure locks, for the known and the unknown name alike.
      for (const name of [user.username, "nobody-here"]) {
        await expectCode(signInAs(name, "wrong-password"), "SIGN_IN_FAILED");
        await expectCode(signInAs(name, "wrong-password"), "SIGN_IN_FAILED");
        await expectCode(signInAs(name, "wrong-password"), "THROTTLED");
        // Locked: even the right password waits.
        await expectCode(signInAs(name, "Correct-Horse-1"), "THROTTLED");
      }
      clock.advance(16 * 60_000);
      const ok = await signInAs(user.username, "Correct-Horse-1");
      expect(ok.kind).toBe("signed_in");
    });

    it("refuses a failed captcha before looking at the password", async () => {
      const user = await cloudUser("Correct-Horse-1");
      captchaOk = false;
      try {
        await expectCode(signInAs(user.username, "Correct-Horse-1"), "CAPTCHA_FAILED");
      } finally {
        captchaOk = true;
      }
    });

    it("tells a disabled account so only to someone who knows its password", async () => {
      const user = await cloudUser("Correct-Horse-1", { enabled: 0 });
      await expectCode(signInAs(user.username, "nope-nope-nope"), "SIGN_IN_FAILED");
      await expectCode(signInAs(user.username, "Correct-Horse-1"), "ACCOUNT_DISABLED");
    });

    it("signs in by UPN or email too; asks to register when there are not enough methods", async () => {
      const user = await cloudUser("Correct-Horse-1");
      const out = await signInAs(user.upn ?? "", "Correct-Horse-1");
      if (out.kind !== "signed_in") throw new Error(out.kind);
      expect(out.interrupt).toBe("register");
      expect(out.next).toBe("/account/methods?interrupt=register");
      expect(out.session.amr).toEqual(["pwd"]);
    });

    it("asks for the second factor, then opens a session with it in the AMR (a fresh step-up)", async () => {
      const user = await cloudUser("Correct-Horse-1");
      await withTotp(user);
      const out = await signInAs(user.email ?? "", "Correct-Horse-1");
      if (out.kind !== "second_factor") throw new Error(out.kind);
      expect(out.view.methods.map((m) => m.type)).toEqual(["totp"]);
      const step = { tenant, flowId: out.view.flowId, binding: out.binding, csrf: out.view.csrf, meta };
      // The flow is bound to its browser and its CSRF token.
      await expectCode(signIn.startChallenge({ ...step, binding: "other" }, "totp"), "FLOW_NOT_FOUND");
      await expectCode(signIn.startChallenge({ ...step, csrf: "x" }, "totp"), "CSRF_MISMATCH");
      await expectCode(signIn.startChallenge(step, "questions"), "METHOD_NOT_AVAILABLE");
      const view = await signIn.startChallenge(step, "totp");
      expect(view.challenge?.prompt.kind).toBe("totp");
      await expectCode(
        signIn.verifyChallenge(step, { code: "000000" === totpNow() ? "111111" : "000000" }),
        "VERIFICATION_FAILED",
      );
      const done = await signIn.verifyChallenge(step, { code: totpNow() });
      expect(done.session.amr).toEqual(["pwd", "totp"]);
      expect(sessions.stepUpFresh(done.session, 60_000)).toBe(true);
      // One method registered with one gate required: registered enough; confirmed just now: no review.
      expect(done.interrupt).toBeNull();
      // The flow is gone: the same step cannot open a second session.
      await expectCode(signIn.verifyChallenge(step, { code: totpNow() }), "FLOW_NOT_FOUND");
    });

    it("asks whether the methods are still right every reconfirmDays days", async () => {
      const user = await cloudUser("Correct-Horse-1");
      await withTotp(user);
      clock.advance(91 * 86_400_000);
      expect(await signIn.interruptFor(tenant, user)).toBe("review");
      await shared.store.db
        .updateTable("users")
        .set({ methods_reviewed_at: clock.now() })
        .where("id", "=", user.id)
        .execute();
      const fresh = await shared.store.db
        .selectFrom("users")
        .selectAll()
        .where("id", "=", user.id)
        .executeTakeFirstOrThrow();
      expect(await signIn.interruptFor(tenant, fresh)).toBeNull();
    });
  });

  describe("password change (cloud accounts)", () => {
    it("needs the right old password; a wrong one counts against the sign-in limit", async () => {
      const user = await cloudUser("Correct-Horse-1");
      const input = {
        tenant,
        user,
        newPassword: "Brand-New-Pass-42",
        confirm: "Brand-New-Pass-42",
        meta,
        keepSessionId: null,
      };
      await expectCode(change.change({ ...input, oldPassword: "not-it" }), "OLD_PASSWORD_WRONG");
      await expectCode(change.change({ ...input, oldPassword: "not-it" }), "OLD_PASSWORD_WRONG");
      await expectCode(change.change({ ...input, oldPassword: "not-it" }), "OLD_PASSWORD_WRONG");
      await expectCode(change.change({ ...input, oldPassword: "not-it" }), "THROTTLED");
      await expectCode(signInAs(user.username, "Correct-Horse-1"), "THROTTLED");
      clock.advance(16 * 60_000);
    });

    it("applies the policy and the history, then changes, keeps this session and ends the others", async () => {
      const user = await cloudUser("First-Password-11");
      const here = await sessions.create(tenant, user, meta, ["pwd"]);
      const elsewhere = await sessions.create(tenant, user, meta, ["pwd"]);
      const run = (oldPassword: string, newPassword: string, u = user) =>
        change.change({
          tenant,
          user: u,
          oldPassword,
          newPassword,
          confirm: newPassword,
          meta,
          keepSessionId: here.session.id,
        });
      await expectCode(
        change.change({
          tenant,
          user,
          oldPassword: "First-Password-11",
          newPassword: "Abc-12345-xyz",
          confirm: "Abc-12345-xyZ",
          meta,
          keepSessionId: null,
        }),
        "VALIDATION_FAILED",
      );
      const rejected = await expectCode(run("First-Password-11", "First-Password-11"), "PASSWORD_REJECTED");
      expect(rejected).toBeInstanceOf(PasswordRejectedError);
      expect((rejected as PasswordRejectedError).verdict.rules.find((r) => r.id === "history")?.ok).toBe(
        false,
      );

      await run("First-Password-11", "Second-Password-22");
      const after = await shared.store.db
        .selectFrom("users")
        .selectAll()
        .where("id", "=", user.id)
        .executeTakeFirstOrThrow();
      expect(await verifyPassword(after.password_hash ?? "", "Second-Password-22")).toBe(true);
      const history = await shared.store.db
        .selectFrom("password_history")
        .selectAll()
        .where("user_id", "=", user.id)
        .execute();
      expect(history).toHaveLength(1);
      expect(await sessions.resolve(tenant, here.cookieValue)).not.toBeNull();
      expect(await sessions.resolve(tenant, elsewhere.cookieValue)).toBeNull();

      // Back to the first password: in the history now.
      const back = await expectCode(
        run("Second-Password-22", "First-Password-11", after),
        "PASSWORD_REJECTED",
      );
      expect((back as PasswordRejectedError).verdict.rules.find((r) => r.id === "history")?.ok).toBe(false);

      const events = await shared.store.db
        .selectFrom("audit_events")
        .select(["event", "result", "details_json"])
        .where("target", "=", user.id)
        .orderBy("occurred_at")
        .execute();
      expect(events.filter((e) => e.event === "password.changed")).toHaveLength(1);
      for (const e of events) {
        expect(e.details_json).not.toContain("Password-");
      }
      const mail = await shared.store.db
        .selectFrom("outbox")
        .selectAll()
        .where("template", "=", "password.changed")
        .execute();
      expect(mail.length).toBeGreaterThanOrEqual(1);
      expect(JSON.stringify(mail)).not.toContain("Second-Password-22");
    });

    it("holds a forced change's old password only sealed, and only until it is used", async () => {
      const user = await cloudUser("Old-Expired-Pass-9");
      const { view, binding } = await change.startForced({
        tenant,
        user,
        oldPassword: "Old-Expired-Pass-9",
        reason: "expired",
        next: "/account",
      });
      const row = await shared.store.db
        .selectFrom("flows")
        .selectAll()
        .where("id", "=", view.flowId)
        .executeTakeFirstOrThrow();
      expect(row.type).toBe("change");
      expect(JSON.stringify(row)).not.toContain("Old-Expired-Pass-9");
      const step = { flowId: view.flowId, binding, csrf: view.csrf };
      await change.completeForced(
        tenant,
        step,
        { newPassword: "New-Forced-Pass-8", confirm: "New-Forced-Pass-8" },
        meta,
      );
      expect(
        await shared.store.db
          .selectFrom("flows")
          .selectAll()
          .where("id", "=", view.flowId)
          .executeTakeFirst(),
      ).toBeUndefined();
      expect((await signInAs(user.username, "New-Forced-Pass-8")).kind).toBe("signed_in");

      // An expired one is deleted when a step meets it.
      const late = await change.startForced({
        tenant,
        user,
        oldPassword: "New-Forced-Pass-8",
        reason: "must_change",
        next: "/account",
      });
      clock.advance(6 * 60_000);
      await expectCode(
        change.completeForced(
          tenant,
          { flowId: late.view.flowId, binding: late.binding, csrf: late.view.csrf },
          { newPassword: "Another-Pass-77", confirm: "Another-Pass-77" },
          meta,
        ),
        "FLOW_EXPIRED",
      );
      expect(
        await shared.store.db
          .selectFrom("flows")
          .selectAll()
          .where("id", "=", late.view.flowId)
          .executeTakeFirst(),
      ).toBeUndefined();
    });
  });
});
