/**
 * Test fixture for the reset service: the real service on a migrated SQLite store (the methods'
 * fixture), with a ManualClock, scripted randomness for codes, the real methods, throttle, outbox
 * and cloud password setter, a captcha port that accepts the payload "ok", and a strength estimator
 * that scores every password 4 (the policy engine has its own tests). Helpers walk a flow step by
 * step. Not used at run time.
 */
import { Secret, TOTP } from "otpauth";
import { StoreAudit } from "../../../audit/emitter.js";
import { parseTenantSettings, type TenantSettings } from "../../../config/tenant-settings.js";
import { hashPassword } from "../../../core/password-hash.js";
import { registerEmail } from "../../../methods/email-code/index.js";
import { registerQuestions } from "../../../methods/questions/index.js";
import { createMethods, type MethodRegistry } from "../../../methods/registry.js";
import { registerPhone } from "../../../methods/shared/phone.js";
import { createFixture, type Fixture } from "../../../methods/testing/fixtures.js";
import { registerTotp } from "../../../methods/totp/index.js";
import { createPasswordChecker } from "../../../password-policy/index.js";
import type { Tenant, User } from "../../../store/schema.js";
import { Throttle } from "../../../throttle/throttle.js";
import { CloudPasswordSetter, inCloudHistory, revokeAllSessions } from "../cloud-password-setter.js";
import type { PasswordSetter } from "../password-setter.js";
import type { RequestMeta } from "../ports.js";
import { ResetService, type ResetServiceDeps, type ResetView, type StepInput } from "../service.js";

export const TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
export const ANSWERS = [
  { questionId: "lk.first-pet", answer: "Rex" },
  { questionId: "lk.first-street", answer: "Elm Street" },
  { questionId: "lk.first-teacher", answer: "Hubbard" },
];
export const EMAIL = "alice@example.test";
export const PHONE = "+15005550100";

export interface ResetFixture extends Fixture {
  service: ResetService;
  throttle: Throttle;
  methodsRegistry: MethodRegistry;
  /** The tenant as the service sees it now (settings applied with `configure`). */
  tenantNow(): Tenant;
  /** Replaces the tenant settings the steps use (defaults fill the rest). */
  configure(settings: object): TenantSettings;
  /** A user with email, SMS, TOTP and questions registered (confirmed). */
  fullUser(username: string, opts?: { isAdmin?: boolean; password?: string }): Promise<User>;
  meta: RequestMeta;
  /** Starts a flow; returns a step handle bound to it. */
  begin(meta?: Partial<RequestMeta>): Promise<Walk>;
  /** The TOTP code for the fixture secret at the fixture clock (one step ahead with `offset`). */
  totp(offset?: number): string;
  /** Audit rows, oldest first. */
  auditEvents(): Promise<
    Array<{ event: string; result: string; reason: string | null; details_json: string }>
  >;
}

export interface Walk {
  step(): StepInput;
  view: ResetView;
  identify(username: string): Promise<ResetView>;
  challenge(method: string, contact?: string): Promise<ResetView>;
  /** Starts an email or SMS challenge with a code the test chose (scripted randomness). */
  challengeWithCode(method: "email" | "sms", code: string, contact?: string): Promise<ResetView>;
  verify(response: Record<string, unknown>): Promise<ResetView>;
  password(password: string): Promise<ResetView>;
}

/** Parts a test swaps in: setters besides the cloud one (e.g. a synced account's), how operations ended. */
export interface ResetFixtureParts {
  setters?: PasswordSetter[];
  operationEnd?: ResetServiceDeps["operationEnd"];
}

export async function createResetFixture(
  settings: object = {},
  parts: ResetFixtureParts = {},
): Promise<ResetFixture> {
  const fx = await createFixture({ settings });
  const audit = new StoreAudit(fx.store.db, fx.clock);
  const throttle = new Throttle(fx.store.db, fx.clock);
  const methodsRegistry = createMethods(fx.services);
  const passwords = createPasswordChecker({
    strength: { score: async () => 4, close: async () => {} },
  });
  const service = new ResetService({
    db: fx.store.db,
    secrets: fx.services.secrets,
    clock: fx.clock,
    random: fx.random,
    audit,
    methods: methodsRegistry,
    throttle,
    captcha: { verify: async (p) => p === "ok" },
    passwords,
    setters: [new CloudPasswordSetter(fx.store.db, fx.clock), ...(parts.setters ?? [])],
    outbox: fx.outbox,
    inHistory: (user, password, depth) => inCloudHistory(fx.store.db, user, password, depth),
    revokeSessions: (user) => revokeAllSessions(fx.store.db, fx.clock, user),
    ...(parts.operationEnd ? { operationEnd: parts.operationEnd } : {}),
  });
  let tenant: Tenant = fx.tenant;
  const meta: RequestMeta = { ip: "192.0.2.10", userAgent: "test", locale: "en" };

  const rf: ResetFixture = {
    ...fx,
    service,
    throttle,
    methodsRegistry,
    meta,
    tenantNow: () => tenant,
    configure(next) {
      const parsed = parseTenantSettings(next);
      tenant = { ...tenant, settings_json: JSON.stringify(parsed) };
      return parsed;
    },
    async fullUser(username, opts = {}) {
      const user = await fx.addUser(username);
      await fx.store.db
        .updateTable("users")
        .set({
          is_admin: opts.isAdmin ? 1 : 0,
          email: EMAIL,
          password_hash: await hashPassword(opts.password ?? "Old-Password-1!"),
        })
        .where("id", "=", user.id)
        .execute();
      const base = { tenantId: tenant.id, userId: user.id, confirmed: true, clock: fx.clock };
      await registerEmail(fx.store.db, { ...base, address: EMAIL });
      await registerPhone(fx.store.db, { ...base, number: PHONE, channel: "sms" });
      await registerTotp(fx.store.db, fx.secrets, {
        ...base,
        issuer: "Test",
        accountName: username,
        secretBase32: TOTP_SECRET,
      });
      await registerQuestions(fx.store.db, {
        ...base,
        answers: ANSWERS,
        settings: parseTenantSettings(tenant.settings_json).questions,
      });
      return fx.store.db.selectFrom("users").selectAll().where("id", "=", user.id).executeTakeFirstOrThrow();
    },
    totp(offset = 0) {
      return TOTP.generate({
        secret: Secret.fromBase32(TOTP_SECRET),
        algorithm: "SHA1",
        digits: 6,
        period: 30,
        timestamp: fx.clock.now() + offset * 30_000,
      });
    },
    async auditEvents() {
      return fx.store.db
        .selectFrom("audit_events")
        .select(["event", "result", "reason", "details_json"])
        .orderBy("occurred_at")
        .execute();
    },
    async begin(over = {}) {
      const m = { ...meta, ...over };
      const started = await service.start(tenant, m);
      const binding = started.binding;
      const walk: Walk = {
        view: started.view,
        step: () => ({ tenant, flowId: walk.view.flowId, binding, csrf: walk.view.csrf, meta: m }),
        async identify(username) {
          walk.view = await service.identify(walk.step(), { username, captcha: "ok" });
          return walk.view;
        },
        async challenge(method, contact) {
          walk.view = await service.startChallenge(walk.step(), {
            method,
            ...(contact !== undefined ? { contact } : {}),
          });
          return walk.view;
        },
        async challengeWithCode(method, code, contact) {
          fx.random.script(...[...code].map(Number));
          return walk.challenge(method, contact);
        },
        async verify(response) {
          walk.view = await service.verifyChallenge(walk.step(), { response });
          return walk.view;
        },
        async password(password) {
          walk.view = await service.setPassword(walk.step(), { password, confirm: password });
          return walk.view;
        },
      };
      return walk;
    },
  };
  return rf;
}
