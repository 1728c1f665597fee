/**
 * Sign-in to "my account", independent of transport (pages and JSON API call it).
 *
 * The password: a cloud account's is verified against its argon2id hash; a synced account's goes to
 * the agent's pass-through check (`verify-password`, a bind as the person), and the directory's
 * answers become paths: expired (532) or must-change (773) → the forced change with the old password
 * already proven; locked (775) → the reset/unlock path; disabled (533) → contact your administrator.
 * An unknown user name verifies against a dummy argon2 hash and gets the same answer as a wrong
 * password, through the same throttle counters (keyed by an HMAC tag of the name).
 *
 * Abuse: a proof-of-work captcha on every attempt, a per-IP rate, and a per-account limit on wrong
 * passwords shared with password change (throttle.ts).
 *
 * The second step: when the person has a method usable as a gate (email, SMS, voice, authenticator
 * app, passkey; not security questions), a `sign-in` flow row holds the state between the
 * password and the code (states.ts, sign-in-flow.mmd). A session opened after it records the method
 * in its AMR, which counts as a fresh step-up.
 */
import type { Kysely } from "kysely";
import { type AccountFlow, AccountFlowStore } from "../../account/flow-store.js";
import { INTERRUPT_PATHS, type Interrupt, interruptFor } from "../../account/interrupts.js";
import type { AccountSession, SessionService } from "../../account/sessions.js";
import type { AuditSink } from "../../audit/emitter.js";
import { type MethodType, parseTenantSettings, type TenantSettings } from "../../config/tenant-settings.js";
import type { Clock } from "../../core/clock.js";
import { LatchkeyError } from "../../core/errors.js";
import { verifyPassword } from "../../core/password-hash.js";
import type { Random } from "../../core/random.js";
import { hmacHex, type ServerSecrets } from "../../core/secrets.js";
import type { ChallengePrompt, VerificationMethod } from "../../methods/types.js";
import type { AuthMethod, Database, Tenant, User } from "../../store/schema.js";
import type { WritebackService } from "../../writeback/service.js";
import { type ChangeService, dummyHash, type ForcedReason, type ForcedView } from "../change/service.js";
import type { CaptchaPort, RequestMeta, ThrottlePort } from "../reset/ports.js";
import { normaliseIdentifier } from "../reset/service.js";
import { SIGN_IN_FLOW, SIGN_IN_FLOW_LIFETIME_MS, type SignInState } from "./states.js";
import { countWrongPassword, failedPasswordLimits, signInThrottleKey } from "./throttle.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Methods that can be a second step at sign-in: security questions are too weak for it. */
export const SECOND_FACTOR_TYPES: readonly MethodType[] = ["totp", "passkey", "email", "sms", "voice"];

export interface SignInDeps {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  secrets: ServerSecrets;
  audit: AuditSink;
  throttle: ThrottlePort;
  captcha: CaptchaPort;
  methods: Partial<Record<MethodType, VerificationMethod>>;
  sessions: SessionService;
  change: ChangeService;
  /** Null without a directory link: synced users cannot sign in then (DIRECTORY_UNAVAILABLE). */
  writeback: WritebackService | null;
  /** How long the pass-through check may take before the person is told to try later. Default 15 s. */
  passThroughTimeoutMs?: number;
}

export interface SignInContext {
  /** Where to go after signing in (already checked by the caller, see account/guard.ts safeNext). */
  next: string;
  challenge?: { id: string; method: MethodType; prompt: ChallengePrompt };
}

export interface SecondFactorView {
  state: "second_factor";
  flowId: string;
  csrf: string;
  expiresAt: number;
  methods: Array<{ type: MethodType; hint: string | null }>;
  challenge: { method: MethodType; prompt: ChallengePrompt } | null;
}

export interface SignedInResult {
  kind: "signed_in";
  session: AccountSession;
  cookieValue: string;
  user: User;
  /** Where to send the person now: an interrupt's page, or where they were going. */
  next: string;
  interrupt: Interrupt | null;
}

export type SignInOutcome =
  | SignedInResult
  | { kind: "second_factor"; view: SecondFactorView; binding: string }
  | { kind: "change_required"; reason: ForcedReason; view: ForcedView; binding: string };

export interface SecondFactorStep {
  tenant: Tenant;
  flowId: string;
  binding: string | undefined;
  csrf: string;
  meta: RequestMeta;
}

export class SignInService {
  readonly flows: AccountFlowStore<SignInState, SignInContext>;

  constructor(private readonly deps: SignInDeps) {
    this.flows = new AccountFlowStore(deps.db, deps.clock, deps.random, SIGN_IN_FLOW);
  }

  /** Step 1: user name, password and captcha. */
  async signIn(
    tenant: Tenant,
    input: { username: string; password: string; captcha: string; next: string },
    meta: RequestMeta,
  ): Promise<SignInOutcome> {
    const settings = parseTenantSettings(tenant.settings_json);
    const ip = await this.deps.throttle.hit(tenant.id, `ip:${meta.ip ?? "unknown"}:sign-in`, {
      limit: settings.throttles.perIpPerMinute,
      windowMs: MINUTE,
      lockMs: MINUTE,
    });
    if (!ip.allowed) {
      await this.audit(tenant, "sign_in.failed", "failure", null, meta, "ip_throttled");
      throw new LatchkeyError("THROTTLED", undefined, {
        until: ip.lockedUntil ?? this.deps.clock.now() + MINUTE,
      });
    }
    if (!(await this.deps.captcha.verify(input.captcha))) {
      await this.audit(tenant, "sign_in.failed", "failure", null, meta, "captcha_failed");
      throw new LatchkeyError("CAPTCHA_FAILED");
    }
    const identifier = normaliseIdentifier(input.username);
    const user = await this.findUser(tenant.id, settings, identifier);
    const key = signInThrottleKey(user, hmacHex(this.deps.secrets, "sign-in.identifier", identifier));
    const limits = failedPasswordLimits(settings);
    const lock = await this.deps.throttle.peek(tenant.id, key);
    if (lock?.lockedUntil && lock.lockedUntil > this.deps.clock.now()) {
      await this.audit(tenant, "sign_in.failed", "failure", user, meta, "throttled");
      throw new LatchkeyError("THROTTLED", undefined, { until: lock.lockedUntil });
    }

    const verdict = await this.checkPassword(user, input.password);
    if (verdict === "wrong") {
      const until = await countWrongPassword(
        this.deps.throttle,
        tenant.id,
        key,
        limits,
        this.deps.clock.now(),
      );
      await this.audit(tenant, "sign_in.failed", "failure", user, meta, "password_wrong");
      if (until !== null) throw new LatchkeyError("THROTTLED", undefined, { until });
      throw new LatchkeyError("SIGN_IN_FAILED");
    }
    // From here on the account exists and the password was right (or the directory said it is
    // expired / must change, which it says only for the right password).
    if (!user) throw new LatchkeyError("INTERNAL", "verdict without a user");
    if (verdict === "unavailable") {
      await this.audit(tenant, "sign_in.failed", "failure", user, meta, "directory_unavailable");
      throw new LatchkeyError("DIRECTORY_UNAVAILABLE");
    }
    if (verdict === "locked" || verdict === "disabled") {
      await this.audit(tenant, "sign_in.failed", "failure", user, meta, `account_${verdict}`);
      throw new LatchkeyError(verdict === "locked" ? "ACCOUNT_LOCKED" : "ACCOUNT_DISABLED");
    }
    await this.deps.throttle.resetPrefix(tenant.id, key);
    if (verdict === "expired" || verdict === "must_change") {
      await this.audit(tenant, "sign_in.failed", "info", user, meta, `password_${verdict}`);
      const forced = await this.deps.change.startForced({
        tenant,
        user,
        oldPassword: input.password,
        reason: verdict,
        next: input.next,
      });
      return { kind: "change_required", reason: verdict, ...forced };
    }

    const methods = await this.methodsOf(user);
    const factors = this.secondFactors(settings, methods);
    if (factors.length > 0) {
      const { flow, binding } = await this.flows.create({
        tenantId: tenant.id,
        userId: user.id,
        state: "second_factor",
        lifetimeMs: SIGN_IN_FLOW_LIFETIME_MS,
        context: { next: input.next },
      });
      await this.audit(tenant, "sign_in.password_verified", "info", user, meta, null, flow.id);
      return { kind: "second_factor", view: this.viewOf(flow, methods, settings), binding };
    }
    return this.open(tenant, settings, user, methods, ["pwd"], meta, input.next, null);
  }

  /** The second step's current view. */
  async view(tenant: Tenant, flowId: string, binding: string | undefined): Promise<SecondFactorView> {
    const settings = parseTenantSettings(tenant.settings_json);
    const flow = await this.flows.load(tenant.id, flowId, { binding, allowed: ["second_factor"] });
    const user = await this.userRow(tenant.id, flow.userId);
    return this.viewOf(flow, await this.methodsOf(user), settings);
  }

  /** Step 2a: the person picks a method; its challenge starts (a code is sent where it has one). */
  async startChallenge(step: SecondFactorStep, method: string): Promise<SecondFactorView> {
    const { tenant, meta } = step;
    const settings = parseTenantSettings(tenant.settings_json);
    const flow = await this.load(step);
    const user = await this.userRow(tenant.id, flow.userId);
    const methods = await this.methodsOf(user);
    const type = this.secondFactors(settings, methods).find((m) => m === method);
    const impl = type ? this.deps.methods[type] : undefined;
    if (!type || !impl) throw new LatchkeyError("METHOD_NOT_AVAILABLE");
    await this.ensureNotLocked(tenant, user);
    if (type === "email") {
      // The reset's counter: codes by email are limited per person whichever flow asks for them.
      const emails = await this.deps.throttle.hit(tenant.id, `email:u:${user.id}`, {
        limit: settings.throttles.emailsPer10Minutes,
        windowMs: 10 * MINUTE,
        lockMs: settings.throttles.lockoutMinutes * MINUTE,
      });
      if (!emails.allowed)
        throw new LatchkeyError("THROTTLED", undefined, {
          until: emails.lockedUntil ?? this.deps.clock.now() + 10 * MINUTE,
        });
    }
    const started = await impl.start(
      { tenant, settings, flowId: flow.id, user, methods, locale: meta.locale },
      {},
    );
    const saved = await this.flows.save(
      {
        ...flow,
        context: {
          ...flow.context,
          challenge: { id: started.challengeId, method: type, prompt: started.prompt },
        },
      },
      "second_factor",
    );
    await this.audit(tenant, "verification.sent", "info", user, meta, null, flow.id, { method: type });
    return this.viewOf(saved, methods, settings);
  }

  /** Step 2b: the person answers; on success the flow ends and a session opens. */
  async verifyChallenge(step: SecondFactorStep, response: Record<string, unknown>): Promise<SignedInResult> {
    const { tenant, meta } = step;
    const settings = parseTenantSettings(tenant.settings_json);
    const flow = await this.load(step);
    const challenge = flow.context.challenge;
    if (!challenge) throw new LatchkeyError("FLOW_WRONG_STATE", "no challenge started");
    const impl = this.deps.methods[challenge.method];
    if (!impl) throw new LatchkeyError("METHOD_NOT_AVAILABLE");
    const user = await this.userRow(tenant.id, flow.userId);
    const methods = await this.methodsOf(user);
    await this.ensureNotLocked(tenant, user);
    // The reset's attempt counter for this method and person: the two flows share the budget.
    const attemptKey = `verify:u:${user.id}:${challenge.method}`;
    const attempt = await this.deps.throttle.hit(tenant.id, attemptKey, {
      limit: settings.throttles.verifyAttemptsPerMethodPerHour,
      windowMs: HOUR,
      lockMs: settings.throttles.lockoutMinutes * MINUTE,
    });
    if (!attempt.allowed) {
      await this.flows.delete(flow.id);
      throw new LatchkeyError("THROTTLED", undefined, {
        until: attempt.lockedUntil ?? this.deps.clock.now() + HOUR,
      });
    }
    const result = await impl.verify(
      { tenant, settings, flowId: flow.id, user, methods, locale: meta.locale },
      { challengeId: challenge.id, response },
    );
    if (!result.ok) {
      await this.audit(tenant, "verification.failed", "failure", user, meta, result.reason, flow.id, {
        method: challenge.method,
        flow: "sign-in",
      });
      await this.flows.save({ ...flow, attempts: flow.attempts + 1 }, "second_factor");
      throw new LatchkeyError("VERIFICATION_FAILED", undefined, { method: challenge.method });
    }
    await this.flows.delete(flow.id);
    await this.deps.throttle.resetPrefix(tenant.id, attemptKey);
    await this.audit(tenant, "verification.passed", "success", user, meta, null, flow.id, {
      method: challenge.method,
      flow: "sign-in",
    });
    return this.open(
      tenant,
      settings,
      user,
      methods,
      ["pwd", challenge.method],
      meta,
      flow.context.next,
      flow.id,
    );
  }

  /** "Choose another way": drops the challenge in progress. */
  async clearChallenge(step: SecondFactorStep): Promise<SecondFactorView> {
    const settings = parseTenantSettings(step.tenant.settings_json);
    const flow = await this.load(step);
    const { challenge: _dropped, ...rest } = flow.context;
    const saved = await this.flows.save({ ...flow, context: rest }, "second_factor");
    const user = await this.userRow(step.tenant.id, flow.userId);
    return this.viewOf(saved, await this.methodsOf(user), settings);
  }

  /** The interrupt due for a signed-in person now (the overview shows it again if they skipped it). */
  async interruptFor(tenant: Tenant, user: User): Promise<Interrupt | null> {
    return interruptFor({
      settings: parseTenantSettings(tenant.settings_json),
      user,
      methods: await this.methodsOf(user),
      registry: this.deps.methods,
      now: this.deps.clock.now(),
    });
  }

  // ——— internals ———

  private async open(
    tenant: Tenant,
    settings: TenantSettings,
    user: User,
    methods: AuthMethod[],
    amr: string[],
    meta: RequestMeta,
    next: string,
    flowId: string | null,
  ): Promise<SignedInResult> {
    const { session, cookieValue } = await this.deps.sessions.create(tenant, user, meta, amr);
    await this.audit(tenant, "sign_in.succeeded", "success", user, meta, null, flowId, {
      amr,
      sessionId: session.id,
    });
    const interrupt = interruptFor({
      settings,
      user,
      methods,
      registry: this.deps.methods,
      now: this.deps.clock.now(),
    });
    return {
      kind: "signed_in",
      session,
      cookieValue,
      user,
      interrupt,
      next: interrupt ? INTERRUPT_PATHS[interrupt] : next,
    };
  }

  private async load(step: SecondFactorStep): Promise<AccountFlow<SignInState, SignInContext>> {
    return this.flows.load(step.tenant.id, step.flowId, {
      binding: step.binding,
      allowed: ["second_factor"],
      csrf: step.csrf,
    });
  }

  /**
   * What the password says. "wrong" for an unknown name, a wrong password, and a disabled or
   * locked cloud account whose password was wrong (a disabled account is told so only to someone
   * who knows its password).
   */
  private async checkPassword(
    user: User | null,
    password: string,
  ): Promise<"ok" | "wrong" | "expired" | "must_change" | "locked" | "disabled" | "unavailable"> {
    if (user === null || user.kind === "cloud") {
      const ok = await verifyPassword(user?.password_hash ?? (await dummyHash()), password);
      if (!ok || !user || user.password_hash === null) return "wrong";
      if (user.enabled !== 1) return "disabled";
      if (user.locked === 1) return "locked";
      return "ok";
    }
    if (password === "") return "wrong";
    if (!this.deps.writeback?.canServe(user)) return "unavailable";
    const outcome = await this.deps.writeback.submit({
      tenantId: user.tenant_id,
      user,
      kind: "verify-password",
      secrets: { password },
      actor: user.id,
      timeoutMs: this.deps.passThroughTimeoutMs ?? 15_000,
    });
    if (outcome.status === "applied") return user.enabled === 1 ? "ok" : "disabled";
    if (outcome.status === "pending") return "unavailable";
    switch (outcome.code) {
      case "INVALID_CREDENTIALS":
      case "OLD_PASSWORD_WRONG":
      case "NO_SUCH_OBJECT":
        return "wrong";
      case "PASSWORD_EXPIRED":
        return "expired";
      case "PASSWORD_MUST_CHANGE":
        return "must_change";
      case "ACCOUNT_LOCKED":
        return "locked";
      case "ACCOUNT_DISABLED":
        return "disabled";
      default:
        return "unavailable";
    }
  }

  private secondFactors(settings: TenantSettings, methods: AuthMethod[]): MethodType[] {
    return SECOND_FACTOR_TYPES.filter(
      (t) => settings.reset.methods.includes(t) && this.deps.methods[t]?.isRegistered(methods),
    );
  }

  private viewOf(
    flow: AccountFlow<SignInState, SignInContext>,
    methods: AuthMethod[],
    settings: TenantSettings,
  ): SecondFactorView {
    const c = flow.context.challenge;
    return {
      state: "second_factor",
      flowId: flow.id,
      csrf: flow.csrfToken,
      expiresAt: flow.expiresAt,
      methods: this.secondFactors(settings, methods).map((type) => ({
        type,
        hint: this.deps.methods[type]?.maskedHint(methods) ?? null,
      })),
      challenge: c ? { method: c.method, prompt: c.prompt } : null,
    };
  }

  private async ensureNotLocked(tenant: Tenant, user: User): Promise<void> {
    const now = this.deps.clock.now();
    const keys = [`proof:u:${user.id}`, ...SECOND_FACTOR_TYPES.map((m) => `verify:u:${user.id}:${m}`)];
    for (const k of keys) {
      const r = await this.deps.throttle.peek(tenant.id, k);
      if (r?.lockedUntil && r.lockedUntil > now)
        throw new LatchkeyError("THROTTLED", undefined, { until: r.lockedUntil });
    }
  }

  private async findUser(
    tenantId: string,
    settings: TenantSettings,
    identifier: string,
  ): Promise<User | null> {
    const by = settings.reset.identifyBy;
    const matches = await this.deps.db
      .selectFrom("users")
      .selectAll()
      .where("tenant_id", "=", tenantId)
      .where("deleted_at", "is", null)
      .where((eb) =>
        eb.or([
          ...(by.includes("username") ? [eb("username", "=", identifier)] : []),
          ...(by.includes("upn") ? [eb(eb.fn("lower", ["upn"]), "=", identifier)] : []),
          ...(by.includes("email") ? [eb(eb.fn("lower", ["email"]), "=", identifier)] : []),
        ]),
      )
      .limit(2)
      .execute();
    // Two accounts matching one identifier is ambiguous: unknown rather than a guess.
    return matches.length === 1 ? (matches[0] ?? null) : null;
  }

  private async userRow(tenantId: string, userId: string): Promise<User> {
    const user = await this.deps.db
      .selectFrom("users")
      .selectAll()
      .where("tenant_id", "=", tenantId)
      .where("id", "=", userId)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    if (!user) throw new LatchkeyError("FLOW_NOT_FOUND");
    return user;
  }

  private async methodsOf(user: User): Promise<AuthMethod[]> {
    return this.deps.db
      .selectFrom("auth_methods")
      .selectAll()
      .where("tenant_id", "=", user.tenant_id)
      .where("user_id", "=", user.id)
      .orderBy("created_at")
      .execute();
  }

  private async audit(
    tenant: Tenant,
    event:
      | "sign_in.failed"
      | "sign_in.succeeded"
      | "sign_in.password_verified"
      | "verification.sent"
      | "verification.failed"
      | "verification.passed",
    result: "success" | "failure" | "info",
    user: User | null,
    meta: RequestMeta,
    reason: string | null,
    flowId: string | null = null,
    details?: Record<string, unknown>,
  ): Promise<void> {
    await this.deps.audit.emit({
      tenantId: tenant.id,
      event,
      result,
      reason,
      actor: user?.id ?? null,
      target: user?.id ?? null,
      flowId,
      ip: meta.ip,
      userAgent: meta.userAgent,
      ...(details ? { details } : {}),
    });
  }
}
