/**
 * The reset flow's steps, independent of transport: the JSON API and the server-rendered pages
 * both call this service and render what it returns. Each step loads the flow through
 * ResetFlowRepository.load (binding, expiry, state, CSRF), does its work, records audit events and
 * saves the flow through the state machine.
 *
 * Enumeration: an unknown user name produces a phantom flow that runs the same queries, throttles,
 * audit writes and method work as a real one and gets the same view back; only sending and passing
 * are impossible for it.
 */
import { type Kysely, sql } from "kysely";
import type { ReasonCode } from "../../audit/catalogue.js";
import type { AuditRecord, AuditSink } from "../../audit/emitter.js";
import { type MethodType, parseTenantSettings, type TenantSettings } from "../../config/tenant-settings.js";
import type { Clock } from "../../core/clock.js";
import { LatchkeyError } from "../../core/errors.js";
import type { Random } from "../../core/random.js";
import { hmacHex, type ServerSecrets } from "../../core/secrets.js";
import type { ChallengePrompt, VerificationMethod } from "../../methods/types.js";
import type { AuthMethod, Database, Tenant, User } from "../../store/schema.js";
import { checkEligibility, methodsAllowedFor } from "./eligibility.js";
import { type ResetContext, type ResetFlow, ResetFlowRepository } from "./flow-repository.js";
import type { PasswordSetter } from "./password-setter.js";
import {
  type CaptchaPort,
  type EnqueuePort,
  type PasswordCheckPort,
  type PasswordVerdictPort,
  passwordCheckInput,
  type RequestMeta,
  type ThrottlePort,
} from "./ports.js";
import { RESET_STATES, type ResetState } from "./states.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export interface ResetServiceDeps {
  db: Kysely<Database>;
  /** The HMAC key turns the typed user name into an opaque tag before it is stored. */
  secrets: ServerSecrets;
  clock: Clock;
  random: Random;
  audit: AuditSink;
  methods: Partial<Record<MethodType, VerificationMethod>>;
  throttle: ThrottlePort;
  captcha: CaptchaPort;
  passwords: PasswordCheckPort;
  setters: PasswordSetter[];
  outbox: EnqueuePort;
  /** Checks a candidate against the user's password history (cloud accounts); false when not in it. */
  inHistory(user: User, password: string, depth: number): Promise<boolean>;
  /** Revokes every session of the user; returns how many. */
  revokeSessions(user: User): Promise<number>;
  /**
   * How a directory operation ended, or null while it runs (synced accounts; see writeback/notify.ts).
   * Asked once right after a flow goes `pending`, for an operation that ended in between.
   */
  operationEnd?(operationId: string): Promise<OperationEnd | null>;
  /**
   * The identify step answers no sooner than this after it began (default 6 ms). Its work differs
   * slightly between an unknown name and a known account (an index hit, the account's method rows:
   * tens of microseconds, measured by e2e/enumeration.test.ts); waiting out a floor above the work's
   * usual duration makes the two indistinguishable at the cost of a few idle milliseconds.
   */
  identifyFloorMs?: number;
}

const DEFAULT_IDENTIFY_FLOOR_MS = 6;

/** Resolves once `startedAt + floorMs` (performance.now() time) has passed; at once if it has. */
async function waitUntilFloor(startedAt: number, floorMs: number): Promise<void> {
  const left = startedAt + floorMs - performance.now();
  if (left > 0) await new Promise<void>((resolve) => setTimeout(resolve, left));
}

/** How a directory operation the person was told is pending finally ended. */
export type OperationEnd =
  | { status: "applied" }
  | { status: "refused" | "failed"; code: string; messageId: string };

/** A method as the page offers it. `hint` is null in strict mode (nothing about the user is shown). */
export interface OfferedMethod {
  type: MethodType;
  hint: string | null;
  needsContact: boolean;
}

export type ResetView =
  | { state: "identify"; flowId: string; csrf: string; expiresAt: number }
  | {
      state: "verify";
      flowId: string;
      csrf: string;
      expiresAt: number;
      disclosure: "strict" | "guided";
      gatesPassed: number;
      /** Shown once a gate is passed (before that, in strict mode, it would tell an admin apart). */
      gatesRequired: number | null;
      methods: OfferedMethod[];
      challenge: { method: MethodType; prompt: ChallengePrompt } | null;
    }
  | {
      state: "new_password";
      flowId: string;
      csrf: string;
      expiresAt: number;
      /** The account is locked and the tenant allows "unlock only" (shown only after every gate). */
      unlockOffered: boolean;
      /** Whether setting a new password also unlocks (reset.unlock.alsoOnReset). */
      resetUnlocks: boolean;
    }
  | {
      state: "pending";
      flowId: string;
      csrf: string;
      expiresAt: number;
      /** What is still running; the person is emailed its result. */
      kind: "reset" | "unlock";
    }
  | {
      state: "completed";
      flowId: string;
      csrf: string;
      expiresAt: number;
      /** The reset also unlocked a locked account. */
      unlocked: boolean;
    }
  | { state: "unlocked"; flowId: string; csrf: string; expiresAt: number }
  | {
      state: "failed";
      flowId: string;
      csrf: string;
      expiresAt: number;
      kind: "reset" | "unlock";
      /** The directory's sentence for why it failed. */
      messageId: string;
    }
  | {
      state: "blocked";
      flowId: string;
      csrf: string;
      expiresAt: number;
      reason: "contact_admin" | "throttled";
      lockedUntil: number | null;
      adminContacted: boolean;
    };

export interface StepInput {
  tenant: Tenant;
  flowId: string;
  binding: string | undefined;
  csrf: string | undefined;
  meta: RequestMeta;
}

const CONTACT_METHODS: readonly MethodType[] = ["email", "sms", "voice"];

/** Rows every registration read materialises and parses (see registeredMethods). */
const METHOD_ROWS = 8;
/** The stand-in rows: email registrations of an address that cannot exist. */
const STAND_IN_VALUES = sql.join(
  Array.from({ length: METHOD_ROWS }, () => sql`(${JSON.stringify({ address: "nobody@example.invalid" })})`),
);

export class ResetService {
  readonly flows: ResetFlowRepository;
  /** Per tenant, the id of the account whose row a phantom reads (see userRow). */
  private readonly standIns = new Map<string, string>();

  constructor(private readonly deps: ResetServiceDeps) {
    this.flows = new ResetFlowRepository(deps.db, deps.clock, deps.random);
  }

  private implemented(): MethodType[] {
    return Object.keys(this.deps.methods) as MethodType[];
  }

  /** Step 0: a new flow bound to a new cookie. */
  async start(tenant: Tenant, meta: RequestMeta): Promise<{ view: ResetView; binding: string }> {
    const settings = parseTenantSettings(tenant.settings_json);
    const ipLimit = await this.deps.throttle.hit(tenant.id, `ip:${meta.ip ?? "unknown"}:start`, {
      limit: settings.throttles.perIpPerMinute,
      windowMs: MINUTE,
      lockMs: MINUTE,
    });
    if (!ipLimit.allowed) {
      await this.deps.audit.emit({
        tenantId: tenant.id,
        event: "reset_flow.blocked",
        result: "failure",
        reason: "ip_throttled",
        ip: meta.ip,
        userAgent: meta.userAgent,
      });
      throw new LatchkeyError("THROTTLED", undefined, {
        until: ipLimit.lockedUntil ?? this.deps.clock.now() + MINUTE,
      });
    }
    const { flow, binding } = await this.flows.create(tenant.id, settings.reset.flowLifetimeMinutes * MINUTE);
    await this.flowAudit(tenant, flow, meta, {
      event: "reset_flow.created",
      result: "info",
    });
    return { view: await this.viewOf(tenant, settings, flow), binding };
  }

  /** Reads the current view (GET). */
  async view(tenant: Tenant, flowId: string, binding: string | undefined): Promise<ResetView> {
    // Every state has a page.
    const flow = await this.flows.load(tenant.id, flowId, { binding, allowed: RESET_STATES });
    return this.viewOf(tenant, parseTenantSettings(tenant.settings_json), flow);
  }

  /** Step 1: user name and captcha. */
  async identify(step: StepInput, input: { username: string; captcha: string }): Promise<ResetView> {
    const startedAt = performance.now();
    const view = await this.identifyNow(step, input);
    await waitUntilFloor(startedAt, this.deps.identifyFloorMs ?? DEFAULT_IDENTIFY_FLOOR_MS);
    return view;
  }

  private async identifyNow(
    step: StepInput,
    input: { username: string; captcha: string },
  ): Promise<ResetView> {
    const { tenant, meta } = step;
    const settings = parseTenantSettings(tenant.settings_json);
    const flow = await this.load(step, ["identify"]);
    if (!(await this.deps.captcha.verify(input.captcha))) {
      await this.flowAudit(tenant, flow, meta, {
        event: "reset_flow.identified",
        result: "failure",
        reason: "captcha_failed",
      });
      throw new LatchkeyError("CAPTCHA_FAILED");
    }
    const identifier = normaliseIdentifier(input.username);
    const user = await this.findUser(tenant.id, settings, identifier);
    // What was typed is kept only as an HMAC tag (for throttle keys and phantom stand-ins): a person
    // who types their password into the user name field must not find it stored.
    const identifierTag = hmacHex(this.deps.secrets, "reset.identifier", identifier);
    // The same queries run for a phantom: methods of a user id that cannot exist.
    const methods = await this.registeredMethods(tenant.id, user?.id ?? "");
    const lockedUntil = await this.lockedUntil(tenant.id, userKey(user, identifierTag));
    const setter = user ? this.deps.setters.find((s) => s.serves(user)) : undefined;
    const eligibility = checkEligibility({
      settings,
      user,
      registered: this.registeredTypes(methods),
      implemented: this.implemented(),
      lockedUntil,
      now: this.deps.clock.now(),
      canSetPassword: setter !== undefined,
    });

    const context: ResetContext = {
      identifier: identifierTag,
      requiredGates: eligibility.requiredGates,
      disclosure: settings.reset.disclosure,
    };
    let next: ResetState;
    if (!eligibility.eligible && eligibility.reason === "throttled") {
      context.blockedReason = "throttled";
      context.lockedUntil = lockedUntil ?? undefined;
      next = settings.reset.disclosure === "strict" ? "verify" : "blocked";
    } else if (settings.reset.disclosure === "strict") {
      next = "verify";
    } else {
      next = eligibility.eligible ? "verify" : "blocked";
      if (!eligibility.eligible) context.blockedReason = "contact_admin";
    }
    // In strict mode an ineligible user becomes a phantom: same path, can never pass.
    const phantom = !eligibility.eligible;
    const saved = await this.flows.save(
      { ...flow, userId: user?.id ?? null, phantom, context: { ...flow.context, ...context } },
      next,
    );
    await this.flowAudit(tenant, flow, meta, {
      event: "reset_flow.identified",
      result: eligibility.eligible ? "success" : "failure",
      reason: eligibility.reason,
      target: user?.id ?? null,
      details: { checks: eligibility.checks.map((c) => `${c.id}:${c.ok ? "pass" : "fail"}`) },
    });
    if (next === "blocked") {
      await this.flowAudit(tenant, flow, meta, {
        event: "reset_flow.blocked",
        result: "failure",
        reason: eligibility.reason,
        target: user?.id ?? null,
      });
    }
    return this.viewOf(tenant, settings, saved, { user, methods });
  }

  /** Records an event of this flow's request: the tenant, the flow and who asked are filled in. */
  private flowAudit(
    tenant: Tenant,
    flow: { id: string },
    meta: RequestMeta,
    record: Omit<AuditRecord, "tenantId" | "flowId" | "ip" | "userAgent">,
  ): Promise<void> {
    return this.deps.audit.emit({
      ...record,
      tenantId: tenant.id,
      flowId: flow.id,
      ip: meta.ip,
      userAgent: meta.userAgent,
    });
  }

  /** Step 2a: pick a method and start its challenge (sends a code where the method has one). */
  async startChallenge(step: StepInput, input: { method: string; contact?: string }): Promise<ResetView> {
    const { tenant, meta } = step;
    const settings = parseTenantSettings(tenant.settings_json);
    const flow = await this.load(step, ["verify"]);
    const { user, methods } = await this.flowUser(flow);
    const method = this.offeredMethodTypes(settings, flow, user, methods).find((m) => m === input.method);
    if (!method || flow.gatesPassed.includes(method)) throw new LatchkeyError("METHOD_NOT_AVAILABLE");
    const impl = this.deps.methods[method];
    if (!impl) throw new LatchkeyError("METHOD_NOT_AVAILABLE");
    const key = userKey(user, flow.context.identifier ?? "");

    await this.ensureNotLocked(tenant, flow, key);
    if (method === "email") {
      const emails = await this.deps.throttle.hit(tenant.id, `email:${key}`, {
        limit: settings.throttles.emailsPer10Minutes,
        windowMs: 10 * MINUTE,
        lockMs: settings.throttles.lockoutMinutes * MINUTE,
      });
      if (!emails.allowed) return this.block(tenant, settings, flow, user, meta, emails.lockedUntil);
    }
    const contact =
      CONTACT_METHODS.includes(method) && flow.context.disclosure === "strict" ? input.contact : undefined;
    if (CONTACT_METHODS.includes(method) && flow.context.disclosure === "strict" && !contact) {
      throw new LatchkeyError("VALIDATION_FAILED", "contact required", { field: "contact" });
    }
    // A phantom flow gets a null user: the method does the same work and sends nothing.
    const ctxUser = this.challengeUser(settings, flow, user, method);
    const started = await impl.start(
      {
        tenant,
        settings,
        flowId: flow.id,
        user: ctxUser,
        methods: ctxUser ? methods : [],
        locale: meta.locale,
        phantomSeed: flow.context.identifier ?? flow.id,
      },
      contact !== undefined ? { claimedContact: contact } : {},
    );
    const saved = await this.flows.save(
      {
        ...flow,
        context: {
          ...flow.context,
          challenge: { id: started.challengeId, method, prompt: started.prompt } as never,
        },
      },
      "verify",
    );
    await this.flowAudit(tenant, flow, meta, {
      event: "verification.sent",
      result: "info",
      target: user?.id ?? null,
      details: { method },
    });
    return this.viewOf(tenant, settings, saved, { user, methods });
  }

  /** Step 2b: the person answers the challenge. */
  async verifyChallenge(step: StepInput, input: { response: Record<string, unknown> }): Promise<ResetView> {
    const { tenant, meta } = step;
    const settings = parseTenantSettings(tenant.settings_json);
    const flow = await this.load(step, ["verify"]);
    const challenge = flow.context.challenge;
    if (!challenge) throw new LatchkeyError("FLOW_WRONG_STATE", "no challenge started");
    const method = challenge.method as MethodType;
    const impl = this.deps.methods[method];
    if (!impl) throw new LatchkeyError("METHOD_NOT_AVAILABLE");
    const { user, methods } = await this.flowUser(flow);
    const key = userKey(user, flow.context.identifier ?? "");
    await this.ensureNotLocked(tenant, flow, key);

    // Attempts are counted before the check, atomically, so parallel tries cannot outrun the limit.
    const attemptKey = `verify:${key}:${method}`;
    const attemptLimits = {
      limit: settings.throttles.verifyAttemptsPerMethodPerHour,
      windowMs: HOUR,
      lockMs: settings.throttles.lockoutMinutes * MINUTE,
    };
    const attempt = await this.deps.throttle.hit(tenant.id, attemptKey, attemptLimits);
    if (!attempt.allowed) return this.block(tenant, settings, flow, user, meta, attempt.lockedUntil);

    const ctxUser = this.challengeUser(settings, flow, user, method);
    const result = await impl.verify(
      {
        tenant,
        settings,
        flowId: flow.id,
        user: ctxUser,
        methods: ctxUser ? methods : [],
        locale: meta.locale,
        phantomSeed: flow.context.identifier ?? flow.id,
      },
      { challengeId: challenge.id, response: input.response },
    );
    if (!result.ok || ctxUser === null) {
      // The limit-th failure locks at once (Entra: 5 wrong codes, or 5 failed identity proofs, then a
      // 24 h lockout), not the try after it: the person sees the lockout now, a new flow sees it at
      // identify, and no further proof is checked, whichever method it uses.
      const methodUntil =
        attempt.remaining === 0 ? await this.lockNow(tenant.id, attemptKey, attemptLimits) : null;
      const proofUntil = await this.countFailure(tenant.id, `proof:${key}`, {
        limit: settings.throttles.failedIdentityProofsPer24h,
        windowMs: 24 * HOUR,
        lockMs: settings.throttles.lockoutMinutes * MINUTE,
      });
      const reason: ReasonCode = result.ok ? "code_wrong" : result.reason;
      await this.flowAudit(tenant, flow, meta, {
        event: "verification.failed",
        result: "failure",
        reason,
        target: user?.id ?? null,
        details: { method },
      });
      if (methodUntil !== null || proofUntil !== null) {
        const until = Math.max(methodUntil ?? 0, proofUntil ?? 0);
        return this.block(tenant, settings, flow, user, meta, until);
      }
      await this.flows.save({ ...flow, attempts: flow.attempts + 1 }, "verify");
      throw new LatchkeyError("VERIFICATION_FAILED", undefined, { method });
    }
    const gatesPassed = [...flow.gatesPassed, method];
    const required = flow.context.requiredGates ?? 2;
    const next: ResetState = gatesPassed.length >= required ? "new_password" : "verify";
    const { challenge: _done, ...rest } = flow.context;
    const saved = await this.flows.save({ ...flow, gatesPassed, context: rest }, next);
    await this.flowAudit(tenant, flow, meta, {
      event: "verification.passed",
      result: "success",
      target: user?.id ?? null,
      details: { method, gatesPassed: gatesPassed.length, gatesRequired: required },
    });
    return this.viewOf(tenant, settings, saved, { user, methods });
  }

  /** "Choose another way": drops the challenge in progress (its code stays unusable once expired). */
  async clearChallenge(step: StepInput): Promise<ResetView> {
    const settings = parseTenantSettings(step.tenant.settings_json);
    const flow = await this.load(step, ["verify"]);
    const { challenge: _dropped, ...rest } = flow.context;
    return this.viewOf(step.tenant, settings, await this.flows.save({ ...flow, context: rest }, "verify"));
  }

  /** Live rule verdicts for a candidate password (no side effect but the audit-free check). */
  async checkPassword(step: StepInput, password: string): Promise<PasswordVerdictPort> {
    const settings = parseTenantSettings(step.tenant.settings_json);
    const flow = await this.load(step, ["new_password"]);
    const { user } = await this.flowUser(flow);
    if (!user) throw new LatchkeyError("FLOW_WRONG_STATE");
    return this.verdict(settings, user, password, false);
  }

  /** Step 3: the new password. */
  async setPassword(step: StepInput, input: { password: string; confirm: string }): Promise<ResetView> {
    const { tenant, meta } = step;
    const settings = parseTenantSettings(tenant.settings_json);
    const flow = await this.load(step, ["new_password"]);
    const { user } = await this.flowUser(flow);
    if (!user || flow.phantom) throw new LatchkeyError("FLOW_WRONG_STATE");
    if (input.password !== input.confirm) {
      throw new LatchkeyError("VALIDATION_FAILED", "passwords differ", { field: "confirm" });
    }
    const verdict = await this.verdict(settings, user, input.password, true);
    if (!verdict.ok) {
      const failed = verdict.rules.filter((r) => !r.ok && !r.skipped).map((r) => r.id);
      await this.flowAudit(tenant, flow, meta, {
        event: "password.rejected",
        result: "failure",
        reason: "policy_violation",
        target: user.id,
        details: { ruleIds: failed },
      });
      throw new PasswordRejectedError(verdict);
    }
    const setter = this.deps.setters.find((s) => s.serves(user));
    if (!setter) throw new LatchkeyError("PASSWORD_SET_FAILED", "no setter for user");
    // An AD reset does not unlock by itself: the setter is asked to, unless the tenant says otherwise.
    const alsoUnlock = settings.reset.unlock.alsoOnReset;
    const result = await setter.setPassword(user, input.password, { flowId: flow.id, unlock: alsoUnlock });
    const unlocks = alsoUnlock && user.locked === 1;
    if (result.ok === "pending") {
      return this.toPending(step, settings, flow, {
        operationId: result.operationId,
        kind: "reset",
        unlocks,
      });
    }
    if (result.ok === false) {
      await this.flowAudit(tenant, flow, meta, {
        event: "password.rejected",
        result: "failure",
        reason: result.code,
        target: user.id,
      });
      throw new LatchkeyError("PASSWORD_SET_FAILED", undefined, { messageId: result.messageId });
    }
    const saved = await this.finishReset(tenant, settings, flow, user, meta, unlocks);
    return this.viewOf(tenant, settings, saved);
  }

  /**
   * "Unlock only": a locked account, once every gate is passed, is unlocked without a new password.
   * Offered only where the tenant allows it and the account is locked; the same setter that would set
   * the password unlocks it (cloud: the flag; synced: the agent's unlock operation).
   */
  async unlock(step: StepInput): Promise<ResetView> {
    const { tenant, meta } = step;
    const settings = parseTenantSettings(tenant.settings_json);
    const flow = await this.load(step, ["new_password"]);
    const { user } = await this.flowUser(flow);
    if (!user || flow.phantom) throw new LatchkeyError("FLOW_WRONG_STATE");
    if (!unlockOffered(settings, user)) throw new LatchkeyError("FLOW_WRONG_STATE", "unlock not offered");
    const setter = this.deps.setters.find((s) => s.serves(user));
    if (!setter) throw new LatchkeyError("UNLOCK_FAILED", "no setter for user");
    const result = await setter.unlock(user, { flowId: flow.id });
    if (result.ok === "pending") {
      return this.toPending(step, settings, flow, {
        operationId: result.operationId,
        kind: "unlock",
        unlocks: true,
      });
    }
    if (result.ok === false) {
      await this.flowAudit(tenant, flow, meta, {
        event: "account.unlocked",
        result: "failure",
        reason: result.code,
        target: user.id,
      });
      throw new LatchkeyError("UNLOCK_FAILED", undefined, { messageId: result.messageId });
    }
    const saved = await this.finishUnlock(tenant, settings, flow, user, meta);
    return this.viewOf(tenant, settings, saved);
  }

  /**
   * A directory operation that a flow is `pending` on ended: the flow's own completion runs now
   * (reset: sessions revoked, notices, audit; unlock: notice, audit) or the flow ends `failed`.
   * Runs at most once per flow: the move out of `pending` is a conditional update, and whoever loses
   * it (the person's own request noticing the end, or a second report) does nothing.
   * Returns whether a reset flow went pending on this operation (waiting still, or ended already).
   */
  async completePending(p: {
    tenantId: string;
    userId: string;
    operationId: string;
    end: OperationEnd;
  }): Promise<boolean> {
    const flow = await this.flows.findByOperation(p.tenantId, p.userId, p.operationId);
    if (!flow) return false;
    if (flow.state !== "pending") return true; // an earlier report (or the person's request) ended it
    try {
      await this.settle(flow, p.end);
    } catch (e) {
      if (!(e instanceof LatchkeyError && e.code === "FLOW_WRONG_STATE")) throw e;
    }
    return true;
  }

  /** "Contact your administrator": notifies the tenant's admins, rate-limited per user and tenant. */
  async contactAdmin(step: StepInput): Promise<ResetView> {
    const { tenant, meta } = step;
    const settings = parseTenantSettings(tenant.settings_json);
    const flow = await this.load(step, ["blocked"]);
    if (flow.context.blockedReason !== "contact_admin") throw new LatchkeyError("FLOW_WRONG_STATE");
    const { user } = await this.flowUser(flow);
    const key = userKey(user, flow.context.identifier ?? "");
    const perUser = await this.deps.throttle.hit(tenant.id, `contact:${key}`, {
      limit: settings.notifications.contactAdminPerUserPerDay,
      windowMs: 24 * HOUR,
      lockMs: 24 * HOUR,
    });
    const perTenant = await this.deps.throttle.hit(tenant.id, "contact:tenant", {
      limit: settings.notifications.contactAdminPerTenantPerHour,
      windowMs: HOUR,
      lockMs: HOUR,
    });
    const admins = await this.adminAddresses(tenant.id, settings, null);
    const send = user !== null && perUser.allowed && perTenant.allowed;
    if (send) {
      const when = new Date(this.deps.clock.now()).toISOString();
      const messages = admins.map((to) => ({
        tenantId: tenant.id,
        channel: "email" as const,
        template: "admin.contact_requested",
        to,
        subject: `Password help requested by ${user.display_name ?? user.username}`,
        text:
          `${user.display_name ?? user.username} (${user.upn ?? user.username}) could not reset their password ` +
          `through self-service and asks for help.\n\nWhen: ${when}\nFrom: ${meta.ip ?? "unknown address"}\n` +
          `Reason code: ${flow.context.blockedReason}.`,
      }));
      // Queued after the answer: an unknown name queues nothing, so waiting for the inserts would let
      // the response time tell a real account from a phantom.
      setImmediate(() => {
        Promise.all(messages.map((m) => this.deps.outbox.enqueue(m))).catch(() =>
          this.deps.audit
            .emit({
              tenantId: tenant.id,
              event: "notification.failed",
              result: "failure",
              target: user.id,
              flowId: flow.id,
              details: { template: "admin.contact_requested" },
            })
            .catch(() => {}),
        );
      });
    }
    await this.flowAudit(tenant, flow, meta, {
      event: "admin_contact.requested",
      result: send ? "success" : "failure",
      reason: user ? (send ? null : "throttled") : "user_not_found",
      target: user?.id ?? null,
      details: { notified: send ? admins.length : 0 },
    });
    const saved = { ...flow, context: { ...flow.context, lockedUntil: undefined } };
    const view = await this.viewOf(tenant, settings, saved);
    return view.state === "blocked" ? { ...view, adminContacted: true } : view;
  }

  // ——— internals ———

  private async load(step: StepInput, allowed: readonly ResetState[]): Promise<ResetFlow> {
    try {
      return await this.flows.load(step.tenant.id, step.flowId, {
        binding: step.binding,
        allowed,
        csrf: step.csrf ?? "",
      });
    } catch (e) {
      if (e instanceof LatchkeyError && e.code === "FLOW_EXPIRED") {
        await this.deps.audit.emit({
          tenantId: step.tenant.id,
          event: "reset_flow.expired",
          result: "failure",
          flowId: step.flowId,
          ip: step.meta.ip,
          userAgent: step.meta.userAgent,
        });
      }
      throw e;
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
      .select("id")
      // A user deleted from its directory is unknown (the row stays for the audit trail).
      .where("deleted_at", "is", null)
      // The tenant is repeated in each arm so that each arm matches one index (migration 006):
      // with it factored out, SQLite serves the tenant alone and filters its users.
      .where((eb) =>
        eb.or([
          ...(by.includes("username")
            ? [eb.and([eb("tenant_id", "=", tenantId), eb("username", "=", identifier)])]
            : []),
          ...(by.includes("upn")
            ? [eb.and([eb("tenant_id", "=", tenantId), eb(eb.fn("lower", ["upn"]), "=", identifier)])]
            : []),
          ...(by.includes("email")
            ? [eb.and([eb("tenant_id", "=", tenantId), eb(eb.fn("lower", ["email"]), "=", identifier)])]
            : []),
        ]),
      )
      .limit(2)
      .execute();
    // Two accounts matching one identifier is ambiguous: treat as unknown rather than guess.
    const id = matches.length === 1 ? (matches[0]?.id ?? null) : null;
    return this.userRow(tenantId, id);
  }

  /**
   * The user's row; for no user (an unknown name, a phantom flow) a stand-in row of the tenant is
   * read by the same statement and dropped, so both cost one primary-key lookup that returns one
   * row. The enumeration test's timings told an unknown name from an ineligible account when only
   * the known one read its row (and again when the stand-in was read by another statement).
   */
  private async userRow(tenantId: string, userId: string | null): Promise<User | null> {
    let id = userId ?? this.standIns.get(tenantId);
    if (id === undefined) {
      // Once per tenant and process: which account stands in does not matter, only that one does.
      const any = await this.deps.db
        .selectFrom("users")
        .select("id")
        .where("tenant_id", "=", tenantId)
        .limit(1)
        .executeTakeFirst();
      id = any?.id ?? "";
      this.standIns.set(tenantId, id);
    }
    const row = await this.deps.db
      .selectFrom("users")
      .selectAll()
      .where("tenant_id", "=", tenantId)
      .where("id", "=", id)
      .executeTakeFirst();
    if (userId !== null) return row ?? null;
    if (!row && id !== "") this.standIns.delete(tenantId); // the stand-in was deleted: pick another
    return null;
  }

  /**
   * The user's registrations. Every read materialises and parses METHOD_ROWS rows: the user's, then
   * stand-ins from a VALUES list, which are parsed like registrations and dropped. The time of
   * identify otherwise grew with the number of registrations: an account with five methods took
   * ~40 µs longer than an unknown name, which a KS test over a few thousand timings could tell.
   */
  private async registeredMethods(tenantId: string, userId: string): Promise<AuthMethod[]> {
    const rows = await sql<AuthMethod & { pad: number }>`
      select * from (
        select id, tenant_id, user_id, type, label, data_json, confirmed_at, last_used_at, created_at, 0 as pad
          from auth_methods where tenant_id = ${tenantId} and user_id = ${userId}
        union all
        select '', '', '', 'email', null, column1, 0, null, 0, 1 from (values ${STAND_IN_VALUES}) as v
      ) t order by pad, created_at limit ${METHOD_ROWS}`.execute(this.deps.db);
    const real: AuthMethod[] = [];
    const standIns: AuthMethod[] = [];
    for (const { pad, ...row } of rows.rows) {
      const method = { ...row, confirmed_at: row.confirmed_at === null ? null : Number(row.confirmed_at) };
      (Number(pad) === 0 ? real : standIns).push(method as AuthMethod);
    }
    this.registeredTypes(standIns);
    if (real.length < METHOD_ROWS) return real;
    // More registrations than the padded read holds (rare): read them all.
    return this.deps.db
      .selectFrom("auth_methods")
      .selectAll()
      .where("tenant_id", "=", tenantId)
      .where("user_id", "=", userId)
      .orderBy("created_at")
      .execute();
  }

  private registeredTypes(methods: AuthMethod[]): MethodType[] {
    return this.implemented().filter((t) => this.deps.methods[t]?.isRegistered(methods));
  }

  private async flowUser(flow: ResetFlow): Promise<{ user: User | null; methods: AuthMethod[] }> {
    const user = await this.userRow(flow.tenantId, flow.userId);
    const methods = await this.registeredMethods(flow.tenantId, user?.id ?? "");
    return { user, methods };
  }

  private offeredMethodTypes(
    settings: TenantSettings,
    flow: ResetFlow,
    user: User | null,
    methods: AuthMethod[],
  ): MethodType[] {
    if (flow.context.disclosure === "strict") {
      // Strict: the tenant's methods, the same list for everybody (admins are told in the page that
      // questions do not count for them; for them that method can never pass).
      return settings.reset.methods.filter((m) => this.implemented().includes(m));
    }
    const allowed = methodsAllowedFor(settings, user, this.implemented());
    return allowed.filter((m) => this.deps.methods[m]?.isRegistered(methods));
  }

  /**
   * The user a method's challenge runs for: null (a phantom challenge: the same work, never passes)
   * for a phantom flow, and for a method this user may not use. Strict mode offers every tenant
   * method to everybody, so an administrator can pick security questions there; they must not count.
   */
  private challengeUser(
    settings: TenantSettings,
    flow: ResetFlow,
    user: User | null,
    method: MethodType,
  ): User | null {
    if (flow.phantom || user === null) return null;
    return methodsAllowedFor(settings, user, this.implemented()).includes(method) ? user : null;
  }

  /** Counts one failure on `key`; the limit-th locks at once. Returns when the lock ends, or null. */
  private async countFailure(
    tenantId: string,
    key: string,
    limits: { limit: number; windowMs: number; lockMs: number },
  ): Promise<number | null> {
    const r = await this.deps.throttle.hit(tenantId, key, limits);
    if (!r.allowed) return r.lockedUntil ?? this.deps.clock.now() + limits.lockMs;
    return r.remaining === 0 ? this.lockNow(tenantId, key, limits) : null;
  }

  /**
   * Locks a key whose count has reached its limit: one more hit takes it past the limit, which is
   * what the throttle locks on. Returns when the lock ends.
   */
  private async lockNow(
    tenantId: string,
    key: string,
    limits: { limit: number; windowMs: number; lockMs: number },
  ): Promise<number> {
    const r = await this.deps.throttle.hit(tenantId, key, limits);
    return r.lockedUntil ?? this.deps.clock.now() + limits.lockMs;
  }

  private async lockedUntil(tenantId: string, key: string): Promise<number | null> {
    const now = this.deps.clock.now();
    let until: number | null = null;
    for (const k of [
      `proof:${key}`,
      `email:${key}`,
      ...this.implemented().map((m) => `verify:${key}:${m}`),
    ]) {
      const r = await this.deps.throttle.peek(tenantId, k);
      if (r?.lockedUntil && r.lockedUntil > now) until = Math.max(until ?? 0, r.lockedUntil);
    }
    return until;
  }

  private async ensureNotLocked(tenant: Tenant, flow: ResetFlow, key: string) {
    const until = await this.lockedUntil(tenant.id, key);
    if (until !== null) {
      await this.flows.save(
        { ...flow, context: { ...flow.context, blockedReason: "throttled", lockedUntil: until } },
        "blocked",
      );
      throw new LatchkeyError("THROTTLED", undefined, { until });
    }
  }

  private async block(
    tenant: Tenant,
    settings: TenantSettings,
    flow: ResetFlow,
    user: User | null,
    meta: RequestMeta,
    lockedUntil: number | null,
  ): Promise<ResetView> {
    const saved = await this.flows.save(
      {
        ...flow,
        context: { ...flow.context, blockedReason: "throttled", lockedUntil: lockedUntil ?? undefined },
      },
      "blocked",
    );
    await this.flowAudit(tenant, flow, meta, {
      event: "throttle.locked",
      result: "failure",
      reason: "throttled",
      target: user?.id ?? null,
      details: { lockedUntil },
    });
    return this.viewOf(tenant, settings, saved);
  }

  private async verdict(
    settings: TenantSettings,
    user: User,
    password: string,
    withHistory: boolean,
  ): Promise<PasswordVerdictPort> {
    const inHistory = (u: User, pw: string, depth: number) => this.deps.inHistory(u, pw, depth);
    return this.deps.passwords.check(
      passwordCheckInput(settings, user, password, withHistory ? inHistory : null),
    );
  }

  /**
   * The person was told "pending": the flow waits in `pending` for the operation. If the operation
   * ended while the flow was being saved (its end found no pending flow), this request settles it.
   */
  private async toPending(
    step: StepInput,
    settings: TenantSettings,
    flow: ResetFlow,
    op: { operationId: string; kind: "reset" | "unlock"; unlocks: boolean },
  ): Promise<ResetView> {
    const { meta } = step;
    let saved = await this.flows.save(
      {
        ...flow,
        context: {
          ...flow.context,
          pending: { ...op, ip: meta.ip, userAgent: meta.userAgent, locale: meta.locale },
        },
      },
      "pending",
    );
    const end = (await this.deps.operationEnd?.(op.operationId)) ?? null;
    if (end) {
      try {
        saved = await this.settle(saved, end);
      } catch (e) {
        if (!(e instanceof LatchkeyError && e.code === "FLOW_WRONG_STATE")) throw e;
        // The operation's own report settled it first: show what it came to.
        saved = await this.flows.load(step.tenant.id, flow.id, {
          binding: step.binding,
          allowed: ["completed", "unlocked", "failed"],
        });
      }
    }
    return this.viewOf(step.tenant, settings, saved);
  }

  /** Ends a `pending` flow with its operation's end. Throws FLOW_WRONG_STATE when it already ended. */
  private async settle(flow: ResetFlow, end: OperationEnd): Promise<ResetFlow> {
    const pending = flow.context.pending;
    if (!pending || flow.state !== "pending") throw new LatchkeyError("FLOW_WRONG_STATE");
    const tenant = await this.deps.db
      .selectFrom("tenants")
      .selectAll()
      .where("id", "=", flow.tenantId)
      .executeTakeFirstOrThrow();
    const settings = parseTenantSettings(tenant.settings_json);
    const user = await this.userRow(flow.tenantId, flow.userId);
    if (!user) throw new LatchkeyError("FLOW_WRONG_STATE", "the flow's user is gone");
    const meta: RequestMeta = { ip: pending.ip, userAgent: pending.userAgent, locale: pending.locale };
    if (end.status === "applied") {
      return pending.kind === "unlock"
        ? this.finishUnlock(tenant, settings, flow, user, meta)
        : this.finishReset(tenant, settings, flow, user, meta, pending.unlocks);
    }
    const saved = await this.flows.save(
      {
        ...flow,
        context: {
          ...flow.context,
          failure: { kind: pending.kind, code: end.code, messageId: end.messageId },
        },
      },
      "failed",
    );
    await this.flowAudit(tenant, flow, meta, {
      event: "reset_flow.failed",
      result: "failure",
      reason: end.code,
      target: user.id,
      details: { kind: pending.kind, operationId: pending.operationId },
    });
    return saved;
  }

  /**
   * The steps after a password was set, whether at once or after "pending": the flow closes first
   * (a conditional update, so they run once), then counters, sessions, notices and audit.
   */
  private async finishReset(
    tenant: Tenant,
    settings: TenantSettings,
    flow: ResetFlow,
    user: User,
    meta: RequestMeta,
    unlocked: boolean,
  ): Promise<ResetFlow> {
    const saved = await this.flows.save(
      { ...flow, context: { ...flow.context, ...(unlocked ? { unlocked: true } : {}) } },
      "completed",
    );
    if (unlocked) await this.markUnlocked(user);
    await this.resetCounters(tenant, user);
    const revoked = await this.deps.revokeSessions(user);
    await this.flowAudit(tenant, flow, meta, {
      event: "password.reset",
      result: "success",
      actor: user.id,
      target: user.id,
      details: { gates: flow.gatesPassed, kind: user.kind, unlocked, afterPending: flow.state === "pending" },
    });
    await this.deps.audit.emit({
      tenantId: tenant.id,
      event: "sessions.revoked",
      result: "info",
      target: user.id,
      flowId: flow.id,
      details: { count: revoked },
    });
    await this.notifyReset(tenant, settings, user, meta);
    await this.flowAudit(tenant, flow, meta, {
      event: "reset_flow.completed",
      result: "success",
      target: user.id,
      details: { outcome: "reset" },
    });
    return saved;
  }

  /**
   * The steps after "unlock only" applied. Sessions stay: the password did not change, and a locked
   * account's sessions were not the lock's cause.
   */
  private async finishUnlock(
    tenant: Tenant,
    settings: TenantSettings,
    flow: ResetFlow,
    user: User,
    meta: RequestMeta,
  ): Promise<ResetFlow> {
    const saved = await this.flows.save(flow, "unlocked");
    await this.markUnlocked(user);
    await this.resetCounters(tenant, user);
    await this.flowAudit(tenant, flow, meta, {
      event: "account.unlocked",
      result: "success",
      actor: user.id,
      target: user.id,
      details: { gates: flow.gatesPassed, kind: user.kind, afterPending: flow.state === "pending" },
    });
    await this.notifyUnlock(tenant, settings, user, meta);
    await this.flowAudit(tenant, flow, meta, {
      event: "reset_flow.completed",
      result: "success",
      target: user.id,
      details: { outcome: "unlocked" },
    });
    return saved;
  }

  /**
   * The store follows the directory at once (the next sync agrees), so a new flow does not offer
   * "unlock only" to an account that is no longer locked.
   */
  private async markUnlocked(user: User): Promise<void> {
    await this.deps.db
      .updateTable("users")
      .set({ locked: 0, updated_at: this.deps.clock.now() })
      .where("id", "=", user.id)
      .where("tenant_id", "=", user.tenant_id)
      .execute();
  }

  /**
   * Entra: after a successful reset the throttle counters start again (a lock cannot be in force
   * here: every step before this one refused to run under it). The same after an unlock.
   */
  private async resetCounters(tenant: Tenant, user: User): Promise<void> {
    const key = userKey(user, "");
    for (const prefix of [`verify:${key}:`, `proof:${key}`, `email:${key}`]) {
      await this.deps.throttle.resetPrefix(tenant.id, prefix);
    }
  }

  private async adminAddresses(
    tenantId: string,
    settings: TenantSettings,
    except: string | null,
  ): Promise<string[]> {
    const admins = await this.deps.db
      .selectFrom("users")
      .select(["id", "email"])
      .where("tenant_id", "=", tenantId)
      .where("is_admin", "=", 1)
      .where("enabled", "=", 1)
      .execute();
    const set = new Set(settings.notifications.adminEmails.map((e) => e.toLowerCase()));
    for (const a of admins) if (a.email && a.id !== except) set.add(a.email.toLowerCase());
    return [...set];
  }

  private async userEmails(user: User): Promise<string[]> {
    const methods = await this.registeredMethods(user.tenant_id, user.id);
    const set = new Set<string>();
    for (const m of methods) {
      if (m.type !== "email" || m.confirmed_at === null) continue;
      const address = (JSON.parse(m.data_json) as { address?: string }).address;
      if (address) set.add(address.toLowerCase());
    }
    if (user.email) set.add(user.email.toLowerCase());
    return [...set];
  }

  private async notifyReset(tenant: Tenant, settings: TenantSettings, user: User, meta: RequestMeta) {
    const when = new Date(this.deps.clock.now()).toISOString().replace("T", " ").slice(0, 16);
    const from = meta.ip ?? "an unknown address";
    const name = user.display_name ?? user.username;
    for (const to of await this.userEmails(user)) {
      await this.deps.outbox.enqueue({
        tenantId: tenant.id,
        channel: "email",
        template: "password.reset",
        to,
        subject: `${settings.branding.organisationName}: your password was reset`,
        text:
          `Hello ${name},\n\nThe password of your account ${user.upn ?? user.username} was reset through ` +
          `self-service at ${when} UTC from ${from}.\n\nIf this wasn't you, contact your helpdesk now: ` +
          `${settings.branding.helpdeskUrl ?? settings.branding.helpdeskText}\n`,
      });
    }
    if (user.is_admin === 1 && settings.reset.notifyAdminsOnAdminReset) {
      for (const to of await this.adminAddresses(tenant.id, settings, user.id)) {
        await this.deps.outbox.enqueue({
          tenantId: tenant.id,
          channel: "email",
          template: "admin.password_reset",
          to,
          subject: `${settings.branding.organisationName}: an administrator reset their password`,
          text:
            `The administrator ${name} (${user.upn ?? user.username}) reset their password through self-service ` +
            `at ${when} UTC from ${from}.\n\nIf this is unexpected, investigate now.\n`,
        });
      }
    }
  }

  private async notifyUnlock(tenant: Tenant, settings: TenantSettings, user: User, meta: RequestMeta) {
    const when = new Date(this.deps.clock.now()).toISOString().replace("T", " ").slice(0, 16);
    const from = meta.ip ?? "an unknown address";
    const name = user.display_name ?? user.username;
    for (const to of await this.userEmails(user)) {
      await this.deps.outbox.enqueue({
        tenantId: tenant.id,
        channel: "email",
        template: "account.unlocked",
        to,
        subject: `${settings.branding.organisationName}: your account was unlocked`,
        text:
          `Hello ${name},\n\nYour account ${user.upn ?? user.username} was unlocked through self-service at ` +
          `${when} UTC from ${from}. Your password was not changed.\n\nIf this wasn't you, contact your ` +
          `helpdesk now: ${settings.branding.helpdeskUrl ?? settings.branding.helpdeskText}\n`,
      });
    }
    if (user.is_admin === 1 && settings.reset.notifyAdminsOnAdminReset) {
      for (const to of await this.adminAddresses(tenant.id, settings, user.id)) {
        await this.deps.outbox.enqueue({
          tenantId: tenant.id,
          channel: "email",
          template: "admin.account_unlocked",
          to,
          subject: `${settings.branding.organisationName}: an administrator unlocked their account`,
          text:
            `The administrator ${name} (${user.upn ?? user.username}) unlocked their account through ` +
            `self-service at ${when} UTC from ${from}.\n\nIf this is unexpected, investigate now.\n`,
        });
      }
    }
  }

  /** `loaded`: the flow's user and methods when the step already read them (saves reading them twice). */
  private async viewOf(
    _tenant: Tenant,
    settings: TenantSettings,
    flow: ResetFlow,
    loaded?: { user: User | null; methods: AuthMethod[] },
  ): Promise<ResetView> {
    const base = { flowId: flow.id, csrf: flow.csrfToken, expiresAt: flow.expiresAt };
    switch (flow.state) {
      case "identify":
        return { state: "identify", ...base };
      case "verify": {
        const { user, methods } = loaded ?? (await this.flowUser(flow));
        const strict = flow.context.disclosure === "strict";
        const offered = this.offeredMethodTypes(settings, flow, user, methods).filter(
          (m) => !flow.gatesPassed.includes(m),
        );
        const challenge = flow.context.challenge as
          | { id: string; method: MethodType; prompt: ChallengePrompt }
          | undefined;
        return {
          state: "verify",
          ...base,
          disclosure: strict ? "strict" : "guided",
          gatesPassed: flow.gatesPassed.length,
          gatesRequired: !strict || flow.gatesPassed.length > 0 ? (flow.context.requiredGates ?? null) : null,
          methods: offered.map((type) => ({
            type,
            hint: strict ? null : (this.deps.methods[type]?.maskedHint(methods) ?? null),
            needsContact: strict && CONTACT_METHODS.includes(type),
          })),
          challenge: challenge ? { method: challenge.method, prompt: challenge.prompt } : null,
        };
      }
      case "new_password": {
        // Only a real user gets here (a phantom never passes a gate): the lock is shown after the gates.
        const user = loaded ? loaded.user : await this.userRow(flow.tenantId, flow.userId);
        return {
          state: "new_password",
          ...base,
          unlockOffered: !flow.phantom && user !== null && unlockOffered(settings, user),
          resetUnlocks: settings.reset.unlock.alsoOnReset,
        };
      }
      case "pending":
        return { state: "pending", ...base, kind: flow.context.pending?.kind ?? "reset" };
      case "completed":
        return { state: "completed", ...base, unlocked: flow.context.unlocked === true };
      case "unlocked":
        return { state: "unlocked", ...base };
      case "failed":
        return {
          state: "failed",
          ...base,
          kind: flow.context.failure?.kind ?? "reset",
          messageId: flow.context.failure?.messageId ?? "error.password_set_failed",
        };
      case "blocked":
        return {
          state: "blocked",
          ...base,
          reason: flow.context.blockedReason === "throttled" ? "throttled" : "contact_admin",
          lockedUntil: flow.context.lockedUntil ?? null,
          adminContacted: false,
        };
    }
  }
}

/** The policy refused a candidate: carries the per-rule verdicts for the page and the API. */
export class PasswordRejectedError extends LatchkeyError {
  constructor(readonly verdict: PasswordVerdictPort) {
    super("PASSWORD_REJECTED");
  }
}

export function normaliseIdentifier(input: string): string {
  return input.normalize("NFKC").trim().toLowerCase().slice(0, 256);
}

/** "Unlock only" is offered to a locked account where the tenant allows it. */
function unlockOffered(settings: TenantSettings, user: User): boolean {
  return settings.reset.unlock.allow && user.locked === 1;
}

/** Throttle key for a flow's subject: the user id when known, the typed identifier otherwise. */
function userKey(user: User | null, identifier: string): string {
  return user ? `u:${user.id}` : `n:${identifier}`;
}
