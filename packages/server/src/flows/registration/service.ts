/**
 * Registration of verification methods in "my account", independent of transport: the pages and
 * the JSON API call this service and render what it returns (RegistrationView).
 *
 * Each addition, confirmation or removal is a persisted flow (states.ts, registration-flow.mmd)
 * bound to the signed-in session. What this service guarantees:
 * - No silent takeover: when the person already has confirmed methods, adding, replacing or
 *   removing one needs a step-up — one of the existing methods proven in this session within
 *   STEP_UP_FRESH_MS (SessionService.markStepUp/stepUpFresh; a second-factor sign-in counts). The
 *   flow starts in `step_up` then, and completion checks again. Confirming a contact that came from
 *   the directory needs none: the code goes to the directory's value, which a password thief does
 *   not control.
 * - Every new contact and authenticator is proven before it counts: a code sent to the address or
 *   number, one valid code from the app, a verified WebAuthn ceremony.
 * - Every change is audited and emailed to the person's addresses (the removed address too), with
 *   the time and the address it came from.
 */
import type { Kysely } from "kysely";
import { Secret, TOTP } from "otpauth";
import QRCode from "qrcode";
import type { SignedIn } from "../../account/guard.js";
import type { AuditRecord, AuditSink } from "../../audit/emitter.js";
import { type MethodType, parseTenantSettings, type TenantSettings } from "../../config/tenant-settings.js";
import type { Clock } from "../../core/clock.js";
import { LatchkeyError } from "../../core/errors.js";
import type { Random } from "../../core/random.js";
import { openData, type ServerSecrets, sealData } from "../../core/secrets.js";
import { emailCodeSpec } from "../../methods/email-code/index.js";
import {
  credentialIdTaken,
  MAX_PASSKEYS_PER_USER,
  PASSKEY_NAME_MAX,
  type RelyingParty,
  savePasskey,
  storedPasskeys,
  webauthnUserId,
} from "../../methods/passkey/index.js";
import { passkeyRegistrationOptions, verifyPasskeyRegistration } from "../../methods/passkey/registration.js";
import { availableQuestions, registerQuestions } from "../../methods/questions/index.js";
import { createCodeChallenge, normaliseCode, verifyCodeChallenge } from "../../methods/shared/challenges.js";
import { normaliseEmail } from "../../methods/shared/contact.js";
import { type ContactCodeSpec, confirmedContacts } from "../../methods/shared/contact-code-method.js";
import { registerContact } from "../../methods/shared/register-contact.js";
import { smsCodeSpec } from "../../methods/sms-code/index.js";
import {
  generateTotpSecret,
  registerTotp,
  TOTP_DIGITS,
  TOTP_PERIOD_SECONDS,
  totpUri,
} from "../../methods/totp/index.js";
import type {
  ChallengeContext,
  ChallengePrompt,
  MethodServices,
  VerificationMethod,
} from "../../methods/types.js";
import { voiceCodeSpec } from "../../methods/voice-code/index.js";
import { securityInfoChangedEmail } from "../../notify/templates.js";
import type { AuthMethod, Database, User } from "../../store/schema.js";
import { gatesFor, methodsAllowedFor } from "../reset/eligibility.js";
import type { ThrottlePort } from "../reset/ports.js";
import {
  type DirectorySource,
  type FlowOwner,
  type RegistrationAction,
  type RegistrationContext,
  type RegistrationFlow,
  RegistrationFlowRepository,
} from "./flow-repository.js";
import type { RegistrationState } from "./states.js";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A step-up counts for this long: enough to add a few methods in a row, short enough to matter. */
export const STEP_UP_FRESH_MS = 15 * MINUTE;
/** A registration flow lives this long (a code, an app set-up, a passkey ceremony fit well inside). */
export const REGISTRATION_FLOW_MS = 20 * MINUTE;

const CONTACT_SPECS: Record<"email" | "sms" | "voice", ContactCodeSpec> = {
  email: emailCodeSpec,
  sms: smsCodeSpec,
  voice: voiceCodeSpec,
};
const CONTACT_TYPES: readonly MethodType[] = ["email", "sms", "voice"];
/** Which users column a directory contact of each type comes from. */
const DIRECTORY_SOURCES: Record<DirectorySource, "email" | "sms" | "voice"> = {
  email: "email",
  mobile: "sms",
  office_phone: "voice",
};

/** Who is asking: recorded in audit events and notices; `rp` is where a passkey would be made. */
export interface AccountMeta {
  ip: string | null;
  userAgent: string | null;
  locale: string;
  rp: RelyingParty | null;
}

export interface RegistrationServiceDeps {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  secrets: ServerSecrets;
  audit: AuditSink;
  /** The verification methods, for the step-up (an existing method proven in this session). */
  methods: Partial<Record<MethodType, VerificationMethod>>;
  throttle: ThrottlePort;
  /** The outbox: codes and notices are queued, never sent inline. */
  enqueue: MethodServices["enqueue"];
  sessions: {
    markStepUp(sessionId: string, methodType: string): Promise<void>;
    stepUpFresh(session: SignedIn["session"], withinMs: number): boolean;
  };
}

export interface MethodSummary {
  id: string;
  type: MethodType;
  /** What may be shown: a masked contact, the passkey's name, "Authenticator app"... */
  label: string;
  confirmed: boolean;
  createdAt: number;
  lastUsedAt: number | null;
}

/** A contact the directory holds that is not (yet) a confirmed method. */
export interface DirectoryContact {
  source: DirectorySource;
  type: "email" | "sms" | "voice";
  /** The person's own value, shown to them in full. */
  value: string;
  /** The unconfirmed auth_methods row holding it, if there is one. */
  methodId: string | null;
}

export interface MethodsOverview {
  methods: MethodSummary[];
  directoryContacts: DirectoryContact[];
  /** The methods the tenant offers this person, in the tenant's order. */
  enabled: MethodType[];
  /** How many different methods a reset needs (gates). */
  required: number;
  /** How many different usable methods the person has confirmed. */
  registered: number;
  /** Whether adding or removing needs a step-up first right now. */
  needsStepUp: boolean;
  reviewedAt: number | null;
}

export type CollectView =
  | { kind: "contact"; channel: "email" | "sms" | "voice" }
  | { kind: "questions"; questions: { id: string; text: string }[]; count: number; minAnswerLength: number }
  | { kind: "passkey" };

export type ConfirmView =
  | { kind: "code"; prompt: ChallengePrompt; contact: string }
  | { kind: "totp"; secret: string; uri: string; qrSvg: string; digits: number }
  | { kind: "passkey"; name: string; options: unknown };

export interface RegistrationView {
  flowId: string;
  state: RegistrationState;
  action: RegistrationAction;
  method: MethodType;
  expiresAt: number;
  /** The method being removed or confirmed, when there is one. */
  subject: MethodSummary | null;
  stepUp: {
    methods: { type: MethodType; hint: string | null }[];
    challenge: { method: MethodType; prompt: ChallengePrompt } | null;
  } | null;
  collect: CollectView | null;
  confirm: ConfirmView | null;
  result: { methodId: string; label: string | null } | null;
}

export interface BeginInput {
  action: RegistrationAction;
  method: MethodType;
  methodId?: string;
  source?: DirectorySource;
}

export interface CollectInput {
  contact?: string;
  answers?: { questionId: string; answer: string }[];
  name?: string;
}

export interface ConfirmInput {
  code?: string;
  passkey?: unknown;
}

function ownerOf(s: SignedIn): FlowOwner {
  return { tenantId: s.tenant.id, userId: s.user.id, sessionId: s.session.id };
}

function refuse(field: string, rule: string): LatchkeyError {
  return new LatchkeyError("VALIDATION_FAILED", `registration: ${rule}`, { field, rule });
}

function contactOf(m: AuthMethod): string | null {
  try {
    const d = JSON.parse(m.data_json) as Record<string, unknown>;
    const v = d.address ?? d.number;
    return typeof v === "string" ? v : null;
  } catch {
    return null;
  }
}

/** The method in words for a notice (masked; never a secret). */
export function describeMethod(type: MethodType, label: string | null): string {
  switch (type) {
    case "email":
      return `an email address (${label ?? "masked"})`;
    case "sms":
      return `a mobile number for text messages (${label ?? "masked"})`;
    case "voice":
      return `a phone number for calls (${label ?? "masked"})`;
    case "totp":
      return "an authenticator app";
    case "questions":
      return "security questions";
    case "passkey":
      return label ? `a passkey ("${label}")` : "a passkey";
  }
}

export class RegistrationService {
  readonly flows: RegistrationFlowRepository;

  constructor(private readonly deps: RegistrationServiceDeps) {
    this.flows = new RegistrationFlowRepository(deps.db, deps.clock, deps.random);
  }

  private implemented(): MethodType[] {
    return Object.keys(this.deps.methods) as MethodType[];
  }

  private settings(s: SignedIn): TenantSettings {
    return parseTenantSettings(s.tenant.settings_json);
  }

  private async rows(s: SignedIn): Promise<AuthMethod[]> {
    return this.deps.db
      .selectFrom("auth_methods")
      .selectAll()
      .where("tenant_id", "=", s.tenant.id)
      .where("user_id", "=", s.user.id)
      .orderBy("created_at")
      .execute();
  }

  /** Method types the person holds confirmed and may use (the tenant offers them; not questions for admins). */
  private usableTypes(settings: TenantSettings, user: User, rows: AuthMethod[]): MethodType[] {
    return methodsAllowedFor(settings, user, this.implemented()).filter((t) =>
      this.deps.methods[t]?.isRegistered(rows),
    );
  }

  /** Whether a change needs a step-up now: the person has confirmed methods and none was proven lately. */
  private needsStepUp(s: SignedIn, rows: AuthMethod[]): boolean {
    const hasConfirmed = rows.some((r) => r.confirmed_at !== null);
    return hasConfirmed && !this.deps.sessions.stepUpFresh(s.session, STEP_UP_FRESH_MS);
  }

  // ——— overview and review ———

  async overview(s: SignedIn): Promise<MethodsOverview> {
    const settings = this.settings(s);
    const rows = await this.rows(s);
    const user = s.user;
    const enabled = settings.reset.methods.filter((m) => this.implemented().includes(m));
    const methods: MethodSummary[] = rows
      .filter((r) => r.confirmed_at !== null)
      .map((r) => ({
        id: r.id,
        type: r.type as MethodType,
        label: r.label ?? describeMethod(r.type as MethodType, null),
        confirmed: true,
        createdAt: r.created_at,
        lastUsedAt: r.last_used_at,
      }));
    return {
      methods,
      directoryContacts: this.directoryContacts(user, rows, enabled),
      enabled,
      required: gatesFor(settings, user),
      registered: this.usableTypes(settings, user, rows).length,
      needsStepUp: this.needsStepUp(s, rows),
      reviewedAt: user.methods_reviewed_at ?? null,
    };
  }

  /** Contacts from the directory (or unconfirmed rows) that one confirmation would make methods. */
  private directoryContacts(user: User, rows: AuthMethod[], enabled: MethodType[]): DirectoryContact[] {
    const out: DirectoryContact[] = [];
    const confirmed = new Set(
      rows.filter((r) => r.confirmed_at !== null).map((r) => `${r.type}\u0000${contactOf(r) ?? ""}`),
    );
    for (const r of rows) {
      if (r.confirmed_at !== null || !CONTACT_TYPES.includes(r.type as MethodType)) continue;
      const value = contactOf(r);
      const type = r.type as "email" | "sms" | "voice";
      if (!value || !enabled.includes(type)) continue;
      const source: DirectorySource = type === "email" ? "email" : type === "sms" ? "mobile" : "office_phone";
      out.push({ source, type, value, methodId: r.id });
    }
    for (const [source, type] of Object.entries(DIRECTORY_SOURCES) as [
      DirectorySource,
      "email" | "sms" | "voice",
    ][]) {
      if (!enabled.includes(type)) continue;
      const raw = user[source];
      const value = raw ? CONTACT_SPECS[type].normalise(raw) : null;
      if (!value || confirmed.has(`${type}\u0000${value}`)) continue;
      if (out.some((c) => c.type === type && c.value === value)) continue;
      out.push({ source, type, value, methodId: null });
    }
    return out;
  }

  /** "These are still right": the review interrupt is answered until reconfirmDays pass again. */
  async markReviewed(s: SignedIn, meta: AccountMeta): Promise<void> {
    await this.deps.db
      .updateTable("users")
      .set({ methods_reviewed_at: this.deps.clock.now() })
      .where("id", "=", s.user.id)
      .where("tenant_id", "=", s.tenant.id)
      .execute();
    await this.deps.audit.emit({
      tenantId: s.tenant.id,
      event: "methods.reviewed",
      result: "success",
      actor: s.user.id,
      target: s.user.id,
      ip: meta.ip,
      userAgent: meta.userAgent,
    });
  }

  // ——— the flow ———

  async begin(s: SignedIn, meta: AccountMeta, input: BeginInput): Promise<RegistrationView> {
    const settings = this.settings(s);
    const rows = await this.rows(s);
    const enabled = settings.reset.methods.filter((m) => this.implemented().includes(m));
    const context: RegistrationContext = { action: input.action, method: input.method };
    if (input.action === "add") {
      if (!enabled.includes(input.method)) throw new LatchkeyError("METHOD_NOT_AVAILABLE");
      if (input.method === "passkey" && storedPasskeys(rows, s.user.id).length >= MAX_PASSKEYS_PER_USER)
        throw refuse("method", "too_many_passkeys");
    } else if (input.action === "remove") {
      const row = rows.find((r) => r.id === input.methodId && r.confirmed_at !== null);
      if (!row) throw new LatchkeyError("NOT_FOUND");
      context.method = row.type as MethodType;
      context.methodId = row.id;
    } else {
      const contact = this.directoryContacts(s.user, rows, enabled).find((c) =>
        input.methodId ? c.methodId === input.methodId : c.methodId === null && c.source === input.source,
      );
      if (!contact) throw new LatchkeyError("NOT_FOUND");
      context.method = contact.type;
      context.contact = contact.value;
      if (contact.methodId) context.methodId = contact.methodId;
      else context.source = contact.source;
    }
    // Confirming the directory's own contact proves nothing new about the person and adds no
    // attacker-chosen destination: no step-up. Everything else does, once methods exist.
    const stepUp = input.action !== "confirm" && this.needsStepUp(s, rows);
    const flow = await this.flows.create(
      ownerOf(s),
      stepUp ? "step_up" : "collect",
      context,
      REGISTRATION_FLOW_MS,
    );
    if (stepUp) {
      await this.auditOwn(s, meta, flow.id, {
        event: "method.step_up_failed",
        result: "info",
        reason: "step_up_required",
        details: { method: context.method, action: context.action, stage: "asked" },
      });
      return this.viewOf(s, flow);
    }
    return this.advance(s, meta, flow);
  }

  async view(s: SignedIn, flowId: string): Promise<RegistrationView> {
    const flow = await this.flows.load(ownerOf(s), flowId, ["step_up", "collect", "confirm", "completed"]);
    return this.viewOf(s, flow);
  }

  /**
   * What follows a passed (or unneeded) step-up: a removal is done at once; an authenticator app
   * gets its secret; a directory contact gets its code; everything else collects details. A flow
   * that starts without a step-up was created in `collect`, so "advance" from there is a self-move.
   */
  private async advance(s: SignedIn, meta: AccountMeta, flow: RegistrationFlow): Promise<RegistrationView> {
    const { action, method } = flow.context;
    if (action === "remove") return this.finishRemoval(s, meta, flow);
    if (action === "confirm") {
      const next = await this.sendCode(s, meta, flow, flow.context.contact ?? "");
      return this.viewOf(s, await this.flows.save(next, "confirm"));
    }
    if (method === "totp") {
      const secret = generateTotpSecret(this.deps.random);
      const sealed = sealData(this.deps.secrets, secret, `registration-totp:${flow.id}`);
      return this.viewOf(
        s,
        await this.flows.save({ ...flow, context: { ...flow.context, totpSealed: sealed } }, "confirm"),
      );
    }
    if (flow.state === "collect") return this.viewOf(s, flow);
    return this.viewOf(s, await this.flows.save(flow, "collect"));
  }

  // ——— step-up ———

  private stepUpTypes(s: SignedIn, settings: TenantSettings, rows: AuthMethod[]): MethodType[] {
    return this.usableTypes(settings, s.user, rows);
  }

  private challengeContext(
    s: SignedIn,
    settings: TenantSettings,
    flow: RegistrationFlow,
    rows: AuthMethod[],
    meta: AccountMeta,
  ): ChallengeContext {
    return { tenant: s.tenant, settings, flowId: flow.id, user: s.user, methods: rows, locale: meta.locale };
  }

  async startStepUp(
    s: SignedIn,
    flowId: string,
    meta: AccountMeta,
    input: { method: string },
  ): Promise<RegistrationView> {
    const settings = this.settings(s);
    const flow = await this.flows.load(ownerOf(s), flowId, ["step_up"]);
    const rows = await this.rows(s);
    const method = this.stepUpTypes(s, settings, rows).find((m) => m === input.method);
    const impl = method ? this.deps.methods[method] : undefined;
    if (!method || !impl) throw new LatchkeyError("METHOD_NOT_AVAILABLE");
    await this.ensureNotLocked(s);
    if (method === "email") {
      const sends = await this.deps.throttle.hit(s.tenant.id, `email:u:${s.user.id}`, {
        limit: settings.throttles.emailsPer10Minutes,
        windowMs: 10 * MINUTE,
        lockMs: settings.throttles.lockoutMinutes * MINUTE,
      });
      if (!sends.allowed)
        throw new LatchkeyError("THROTTLED", undefined, {
          until: sends.lockedUntil ?? this.deps.clock.now(),
        });
    }
    const started = await impl.start(this.challengeContext(s, settings, flow, rows, meta), {});
    const saved = await this.flows.save(
      {
        ...flow,
        context: {
          ...flow.context,
          stepUp: { challengeId: started.challengeId, method, prompt: started.prompt },
        },
      },
      "step_up",
    );
    await this.auditOwn(s, meta, flow.id, {
      event: "verification.sent",
      result: "info",
      details: { method, purpose: "step_up" },
    });
    return this.viewOf(s, saved);
  }

  /** "Choose another way": forgets the step-up challenge, so the choice is offered again. */
  async clearStepUpChallenge(s: SignedIn, flowId: string): Promise<RegistrationView> {
    const flow = await this.flows.load(ownerOf(s), flowId, ["step_up"]);
    const { stepUp: _dropped, ...rest } = flow.context;
    return this.viewOf(s, await this.flows.save({ ...flow, context: rest }, "step_up"));
  }

  async verifyStepUp(
    s: SignedIn,
    flowId: string,
    meta: AccountMeta,
    input: { response: Record<string, unknown> },
  ): Promise<RegistrationView> {
    const settings = this.settings(s);
    const flow = await this.flows.load(ownerOf(s), flowId, ["step_up"]);
    const challenge = flow.context.stepUp;
    if (!challenge) throw new LatchkeyError("FLOW_WRONG_STATE", "no step-up challenge started");
    const impl = this.deps.methods[challenge.method];
    if (!impl) throw new LatchkeyError("METHOD_NOT_AVAILABLE");
    await this.ensureNotLocked(s);
    // The same counters as the reset flow: switching flows buys no extra guesses.
    const limits = {
      limit: settings.throttles.verifyAttemptsPerMethodPerHour,
      windowMs: HOUR,
      lockMs: settings.throttles.lockoutMinutes * MINUTE,
    };
    const attempt = await this.deps.throttle.hit(
      s.tenant.id,
      `verify:u:${s.user.id}:${challenge.method}`,
      limits,
    );
    if (!attempt.allowed)
      throw new LatchkeyError("THROTTLED", undefined, {
        until: attempt.lockedUntil ?? this.deps.clock.now(),
      });
    const rows = await this.rows(s);
    const result = await impl.verify(this.challengeContext(s, settings, flow, rows, meta), {
      challengeId: challenge.challengeId,
      response: input.response,
    });
    if (!result.ok) {
      await this.deps.throttle.hit(s.tenant.id, `proof:u:${s.user.id}`, {
        limit: settings.throttles.failedIdentityProofsPer24h,
        windowMs: 24 * HOUR,
        lockMs: settings.throttles.lockoutMinutes * MINUTE,
      });
      await this.auditOwn(s, meta, flow.id, {
        event: "verification.failed",
        result: "failure",
        reason: result.reason,
        details: { method: challenge.method, purpose: "step_up" },
      });
      throw new LatchkeyError("VERIFICATION_FAILED");
    }
    await this.deps.sessions.markStepUp(s.session.id, challenge.method);
    s.session.step_up_at = this.deps.clock.now();
    s.session.step_up_method = challenge.method;
    await this.auditOwn(s, meta, flow.id, {
      event: "verification.passed",
      result: "success",
      details: { method: challenge.method, purpose: "step_up" },
    });
    const { stepUp: _done, ...rest } = flow.context;
    return this.advance(s, meta, { ...flow, context: rest });
  }

  /** Refuses while a reset-flow lock holds for the person (the same keys: one budget of guesses). */
  private async ensureNotLocked(s: SignedIn): Promise<void> {
    const now = this.deps.clock.now();
    for (const key of [
      `proof:u:${s.user.id}`,
      ...this.implemented().map((m) => `verify:u:${s.user.id}:${m}`),
    ]) {
      const r = await this.deps.throttle.peek(s.tenant.id, key);
      if (r?.lockedUntil && r.lockedUntil > now)
        throw new LatchkeyError("THROTTLED", undefined, { until: r.lockedUntil });
    }
  }

  /**
   * The flow in `state` with its step-up still holding; a flow still at step_up, or one whose
   * step-up went stale, is refused as STEP_UP_REQUIRED (audited by requireStepUp when one is needed).
   */
  private async loadPastStepUp(
    s: SignedIn,
    meta: AccountMeta,
    flowId: string,
    state: "collect" | "confirm",
  ): Promise<RegistrationFlow> {
    const flow = await this.flows.load(ownerOf(s), flowId, ["step_up", state]);
    if (flow.state === "step_up") {
      await this.requireStepUp(s, meta, flow);
      throw new LatchkeyError("STEP_UP_REQUIRED");
    }
    await this.requireStepUp(s, meta, flow);
    return flow;
  }

  /** Audits what the signed-in person did to their own account in this flow: they are actor and target. */
  private auditOwn(
    s: SignedIn,
    meta: AccountMeta,
    flowId: string,
    record: Pick<AuditRecord, "event" | "result" | "reason" | "details">,
  ): Promise<void> {
    return this.deps.audit.emit({
      tenantId: s.tenant.id,
      ...record,
      actor: s.user.id,
      target: s.user.id,
      flowId,
      ip: meta.ip,
      userAgent: meta.userAgent,
    });
  }

  /** Refuses (and audits) a change whose step-up is missing or went stale. */
  private async requireStepUp(s: SignedIn, meta: AccountMeta, flow: RegistrationFlow): Promise<void> {
    if (flow.context.action === "confirm") return;
    if (!this.needsStepUp(s, await this.rows(s))) return;
    await this.auditOwn(s, meta, flow.id, {
      event: "method.step_up_failed",
      result: "failure",
      reason: "step_up_required",
      details: { method: flow.context.method, action: flow.context.action, stage: flow.state },
    });
    throw new LatchkeyError("STEP_UP_REQUIRED");
  }

  // ——— collect ———

  async collect(
    s: SignedIn,
    flowId: string,
    meta: AccountMeta,
    input: CollectInput,
  ): Promise<RegistrationView> {
    const flow = await this.loadPastStepUp(s, meta, flowId, "collect");
    const settings = this.settings(s);
    const { method } = flow.context;
    if (method === "email" || method === "sms" || method === "voice") {
      const spec = CONTACT_SPECS[method];
      const contact = spec.normalise(input.contact ?? "");
      if (!contact) throw refuse("contact", method === "email" ? "invalid_email" : "invalid_phone");
      const rows = await this.rows(s);
      if (
        confirmedContacts(
          spec,
          rows.filter((r) => r.user_id === s.user.id),
        ).some((c) => c.contact === contact)
      )
        throw refuse("contact", "already_registered");
      const next = await this.sendCode(s, meta, flow, contact);
      return this.viewOf(s, await this.flows.save(next, "confirm"));
    }
    if (method === "questions") {
      const existed = (await this.rows(s)).some((r) => r.type === "questions" && r.confirmed_at !== null);
      const methodId = await registerQuestions(this.deps.db, {
        tenantId: s.tenant.id,
        userId: s.user.id,
        answers: input.answers ?? [],
        settings: settings.questions,
        clock: this.deps.clock,
        random: this.deps.random,
      });
      const label = `${(input.answers ?? []).length} security questions`;
      return this.finishAdd(s, meta, flow, {
        methodId,
        label,
        action: existed ? "replaced" : "added",
        proven: false,
      });
    }
    if (method === "passkey") {
      const name = (input.name ?? "").normalize("NFKC").trim().replace(/\s+/gu, " ");
      if (name.length === 0) throw refuse("name", "name_required");
      if ([...name].length > PASSKEY_NAME_MAX) throw refuse("name", "name_too_long");
      if (!meta.rp)
        throw new LatchkeyError("METHOD_NOT_AVAILABLE", "no relying party for passkeys on this address");
      const rows = await this.rows(s);
      const options = await passkeyRegistrationOptions({
        rp: meta.rp,
        rpName: settings.branding.organisationName,
        userHandle: webauthnUserId(this.deps.secrets, s.tenant.id, s.user.id),
        userName: s.user.upn ?? s.user.username,
        userDisplayName: s.user.display_name ?? s.user.username,
        existing: storedPasskeys(rows, s.user.id),
        random: this.deps.random,
      });
      const passkey = {
        name,
        challenge: options.challenge,
        options,
        rpId: meta.rp.rpId,
        origin: meta.rp.origin,
      };
      return this.viewOf(
        s,
        await this.flows.save({ ...flow, context: { ...flow.context, passkey } }, "confirm"),
      );
    }
    throw new LatchkeyError("FLOW_WRONG_STATE", `nothing to collect for ${method}`);
  }

  /** "Use another address or number": back to collect (add only). */
  async restart(s: SignedIn, flowId: string): Promise<RegistrationView> {
    const flow = await this.flows.load(ownerOf(s), flowId, ["confirm"]);
    if (flow.context.action !== "add" || flow.context.method === "totp")
      throw new LatchkeyError("FLOW_WRONG_STATE");
    const { code: _c, contact: _ct, passkey: _p, ...rest } = flow.context;
    return this.viewOf(s, await this.flows.save({ ...flow, context: rest }, "collect"));
  }

  /** Sends a confirmation code to `contact` (email, SMS or call) and records its challenge in the flow. */
  private async sendCode(
    s: SignedIn,
    meta: AccountMeta,
    flow: RegistrationFlow,
    contact: string,
  ): Promise<RegistrationFlow> {
    const settings = this.settings(s);
    const method = flow.context.method as "email" | "sms" | "voice";
    const spec = CONTACT_SPECS[method];
    // One budget for every code a person has sent to themselves, whatever the channel.
    const sends = await this.deps.throttle.hit(s.tenant.id, `register-send:u:${s.user.id}`, {
      limit: settings.throttles.emailsPer10Minutes,
      windowMs: 10 * MINUTE,
      lockMs: 10 * MINUTE,
    });
    if (!sends.allowed)
      throw new LatchkeyError("THROTTLED", undefined, { until: sends.lockedUntil ?? this.deps.clock.now() });
    const expiresAt = this.deps.clock.now() + settings.reset.codeLifetimeMinutes * MINUTE;
    const digits = settings.reset.codeDigits;
    const { challengeId, code } = await createCodeChallenge(this.deps, {
      tenantId: s.tenant.id,
      flowId: flow.id,
      userId: s.user.id,
      methodType: `register:${method}`,
      expiresAt,
      digits,
      live: true,
    });
    const content = spec.render({ code, ctx: this.challengeContext(s, settings, flow, [], meta) });
    await this.deps.enqueue({
      tenantId: s.tenant.id,
      channel: method,
      template: "verification.code",
      to: contact,
      ...content,
      code,
    });
    await this.auditOwn(s, meta, flow.id, {
      event: "verification.sent",
      result: "info",
      details: { method, purpose: "registration" },
    });
    const prompt: ChallengePrompt = {
      kind: "code",
      channel: method,
      digits,
      expiresAt,
      sentToMasked: spec.mask(contact),
    };
    return { ...flow, context: { ...flow.context, contact, code: { challengeId, prompt } } };
  }

  // ——— confirm ———

  async confirm(
    s: SignedIn,
    flowId: string,
    meta: AccountMeta,
    input: ConfirmInput,
  ): Promise<RegistrationView> {
    const flow = await this.loadPastStepUp(s, meta, flowId, "confirm");
    const { method, action } = flow.context;
    const counted = { ...flow, attempts: flow.attempts + 1 };
    if (method === "email" || method === "sms" || method === "voice") {
      const code = flow.context.code;
      const contact = flow.context.contact;
      if (!code || !contact) throw new LatchkeyError("FLOW_WRONG_STATE");
      const result = await verifyCodeChallenge(this.deps, {
        tenantId: s.tenant.id,
        flowId: flow.id,
        methodType: `register:${method}`,
        challengeId: code.challengeId,
        userId: s.user.id,
        code: normaliseCode(input.code, this.settings(s).reset.codeDigits),
      });
      if (!result.ok) return this.failConfirm(s, meta, counted, result.reason);
      const spec = CONTACT_SPECS[method];
      const label = spec.mask(contact);
      const methodId = await registerContact(this.deps.db, {
        tenantId: s.tenant.id,
        userId: s.user.id,
        contact,
        type: method,
        field: method === "email" ? "address" : "number",
        label,
        confirmed: true,
        clock: this.deps.clock,
        random: this.deps.random,
      });
      return this.finishAdd(s, meta, counted, {
        methodId,
        label,
        action: action === "confirm" ? "confirmed" : "added",
        proven: true,
      });
    }
    if (method === "totp") {
      const sealed = flow.context.totpSealed;
      if (!sealed) throw new LatchkeyError("FLOW_WRONG_STATE");
      const secretBase32 = openData(this.deps.secrets, sealed, `registration-totp:${flow.id}`);
      const token = normaliseCode(input.code, TOTP_DIGITS);
      const now = this.deps.clock.now();
      const delta =
        token === ""
          ? null
          : TOTP.validate({
              token,
              secret: Secret.fromBase32(secretBase32),
              digits: TOTP_DIGITS,
              period: TOTP_PERIOD_SECONDS,
              timestamp: now,
              window: 1,
            });
      if (delta === null) return this.failConfirm(s, meta, counted, "code_wrong");
      const settings = this.settings(s);
      const { methodId } = await registerTotp(this.deps.db, this.deps.secrets, {
        tenantId: s.tenant.id,
        userId: s.user.id,
        issuer: settings.branding.organisationName,
        accountName: s.user.upn ?? s.user.username,
        confirmed: true,
        secretBase32,
        clock: this.deps.clock,
        random: this.deps.random,
      });
      // The code that confirmed the app must not also pass a reset gate within its window.
      const row = await this.deps.db
        .selectFrom("auth_methods")
        .select("data_json")
        .where("id", "=", methodId)
        .executeTakeFirstOrThrow();
      const counter = Math.floor(now / (TOTP_PERIOD_SECONDS * 1000)) + delta;
      await this.deps.db
        .updateTable("auth_methods")
        .set({
          data_json: JSON.stringify({ ...(JSON.parse(row.data_json) as object), lastCounter: counter }),
        })
        .where("id", "=", methodId)
        .execute();
      return this.finishAdd(s, meta, counted, {
        methodId,
        label: "Authenticator app",
        action: "added",
        proven: true,
      });
    }
    if (method === "passkey") {
      const p = flow.context.passkey;
      if (!p) throw new LatchkeyError("FLOW_WRONG_STATE");
      const data = await verifyPasskeyRegistration({
        response: input.passkey,
        expectedChallenge: p.challenge,
        rp: { rpId: p.rpId, origin: p.origin },
      });
      if (!data || (await credentialIdTaken(this.deps.db, s.tenant.id, data.credentialId)))
        return this.failConfirm(s, meta, counted, "code_wrong");
      const methodId = await savePasskey(this.deps.db, {
        tenantId: s.tenant.id,
        userId: s.user.id,
        name: p.name,
        data,
        clock: this.deps.clock,
        random: this.deps.random,
      });
      return this.finishAdd(s, meta, counted, { methodId, label: p.name, action: "added", proven: true });
    }
    throw new LatchkeyError("FLOW_WRONG_STATE");
  }

  private async failConfirm(
    s: SignedIn,
    meta: AccountMeta,
    flow: RegistrationFlow,
    reason: string,
  ): Promise<never> {
    await this.flows.save(flow, "confirm");
    await this.auditOwn(s, meta, flow.id, {
      event: "verification.failed",
      result: "failure",
      reason,
      details: { method: flow.context.method, purpose: "registration" },
    });
    throw new LatchkeyError("VERIFICATION_FAILED");
  }

  // ——— completion ———

  private async finishAdd(
    s: SignedIn,
    meta: AccountMeta,
    flow: RegistrationFlow,
    done: { methodId: string; label: string; action: "added" | "confirmed" | "replaced"; proven: boolean },
  ): Promise<RegistrationView> {
    const before = await this.addresses(s);
    const saved = await this.flows.save(
      { ...flow, context: { ...flow.context, result: { methodId: done.methodId, label: done.label } } },
      "completed",
    );
    // The person just proved possession of the method: that is a proof of one of the account's
    // methods in this session, so the next addition needs no other.
    if (done.proven) {
      await this.deps.sessions.markStepUp(s.session.id, flow.context.method);
      s.session.step_up_at = this.deps.clock.now();
      s.session.step_up_method = flow.context.method;
    }
    await this.auditOwn(s, meta, flow.id, {
      event: "method.registered",
      result: "success",
      details: { method: flow.context.method, action: done.action, methodId: done.methodId },
    });
    await this.notify(
      s,
      meta,
      done.action === "confirmed" ? "confirmed" : "added",
      flow.context.method,
      done.label,
      before,
    );
    return this.viewOf(s, saved);
  }

  private async finishRemoval(
    s: SignedIn,
    meta: AccountMeta,
    flow: RegistrationFlow,
  ): Promise<RegistrationView> {
    await this.requireStepUp(s, meta, flow);
    const before = await this.addresses(s);
    const row = await this.deps.db
      .selectFrom("auth_methods")
      .selectAll()
      .where("id", "=", flow.context.methodId ?? "")
      .where("tenant_id", "=", s.tenant.id)
      .where("user_id", "=", s.user.id)
      .executeTakeFirst();
    if (!row) throw new LatchkeyError("NOT_FOUND");
    await this.deps.db.deleteFrom("auth_methods").where("id", "=", row.id).execute();
    const saved = await this.flows.save(
      { ...flow, context: { ...flow.context, result: { methodId: row.id, label: row.label } } },
      "completed",
    );
    await this.auditOwn(s, meta, flow.id, {
      event: "method.removed",
      result: "success",
      details: { method: row.type, methodId: row.id },
    });
    await this.notify(s, meta, "removed", row.type as MethodType, row.label, before);
    return this.viewOf(s, saved);
  }

  /** Where notices go: every confirmed address of the person and the account's own email. */
  private async addresses(s: SignedIn): Promise<string[]> {
    const rows = await this.rows(s);
    const set = new Set(confirmedContacts(emailCodeSpec, rows).map((c) => c.contact));
    const own = s.user.email ? normaliseEmail(s.user.email) : null;
    if (own) set.add(own);
    return [...set];
  }

  /**
   * Emails every address the person had before the change and has after it: a removed or replaced
   * address hears about it too, so whoever took it over cannot hide the change from its owner.
   */
  private async notify(
    s: SignedIn,
    meta: AccountMeta,
    change: "added" | "confirmed" | "removed",
    method: MethodType,
    label: string | null,
    before: string[],
  ): Promise<void> {
    const settings = this.settings(s);
    const to = new Set([...before, ...(await this.addresses(s))]);
    const content = securityInfoChangedEmail(
      {
        organisationName: settings.branding.organisationName,
        username: s.user.upn ?? s.user.username,
        displayName: s.user.display_name,
        change,
        what: describeMethod(method, label),
        at: this.deps.clock.now(),
        ip: meta.ip,
        helpdeskText: settings.branding.helpdeskText,
        helpdeskUrl: settings.branding.helpdeskUrl,
      },
      meta.locale,
    );
    for (const address of to) {
      await this.deps.enqueue({
        tenantId: s.tenant.id,
        channel: "email",
        template: "security_info.changed",
        to: address,
        ...content,
      });
    }
  }

  // ——— views ———

  private async viewOf(s: SignedIn, flow: RegistrationFlow): Promise<RegistrationView> {
    const settings = this.settings(s);
    const ctx = flow.context;
    let subject: MethodSummary | null = null;
    if (ctx.methodId && ctx.action === "remove") {
      const row = await this.deps.db
        .selectFrom("auth_methods")
        .selectAll()
        .where("id", "=", ctx.methodId)
        .executeTakeFirst();
      if (row)
        subject = {
          id: row.id,
          type: row.type as MethodType,
          label: row.label ?? describeMethod(row.type as MethodType, null),
          confirmed: row.confirmed_at !== null,
          createdAt: row.created_at,
          lastUsedAt: row.last_used_at,
        };
    }
    const view: RegistrationView = {
      flowId: flow.id,
      state: flow.state,
      action: ctx.action,
      method: ctx.method,
      expiresAt: flow.expiresAt,
      subject,
      stepUp: null,
      collect: null,
      confirm: null,
      result: ctx.result ?? null,
    };
    if (flow.state === "step_up") {
      const rows = await this.rows(s);
      view.stepUp = {
        methods: this.stepUpTypes(s, settings, rows).map((type) => ({
          type,
          hint: this.deps.methods[type]?.maskedHint(rows) ?? null,
        })),
        challenge: ctx.stepUp ? { method: ctx.stepUp.method, prompt: ctx.stepUp.prompt } : null,
      };
    } else if (flow.state === "collect") {
      if (ctx.method === "email" || ctx.method === "sms" || ctx.method === "voice")
        view.collect = { kind: "contact", channel: ctx.method };
      else if (ctx.method === "questions") {
        const texts = availableQuestions(settings.questions.custom);
        view.collect = {
          kind: "questions",
          questions: [...texts].map(([id, text]) => ({ id, text })),
          count: settings.questions.registerCount,
          minAnswerLength: settings.questions.minAnswerLength,
        };
      } else if (ctx.method === "passkey") view.collect = { kind: "passkey" };
    } else if (flow.state === "confirm") {
      if (ctx.code && ctx.contact)
        view.confirm = { kind: "code", prompt: ctx.code.prompt, contact: ctx.contact };
      else if (ctx.totpSealed) {
        const secret = openData(this.deps.secrets, ctx.totpSealed, `registration-totp:${flow.id}`);
        const uri = totpUri({
          secretBase32: secret,
          issuer: settings.branding.organisationName,
          accountName: s.user.upn ?? s.user.username,
        });
        // An inline SVG (no script, no style attribute): the strict CSP allows it, and it scales.
        const qrSvg = await QRCode.toString(uri, { type: "svg", errorCorrectionLevel: "M", margin: 2 });
        view.confirm = { kind: "totp", secret, uri, qrSvg, digits: TOTP_DIGITS };
      } else if (ctx.passkey)
        view.confirm = { kind: "passkey", name: ctx.passkey.name, options: ctx.passkey.options };
    }
    return view;
  }
}
