/**
 * Password change, independent of transport (pages and JSON API call it). The same live rules as the
 * reset (the policy checker, with the cloud history), then:
 * - cloud account: the old password verified against its argon2id hash, the new hash written and the
 *   old one moved to the history (CloudPasswordSetter);
 * - synced account: the agent's `change` operation with the old and the new password, so the
 *   directory itself enforces its history and minimum age; its refusals come back as stable codes
 *   with a plain sentence each.
 * Afterwards every other session of the person is revoked, they get an email, and `password.changed`
 * is recorded. Wrong old passwords count against the same per-user limit as sign-in, so the change
 * page cannot be used to guess passwords (or to lock the directory account) faster than sign-in.
 */

import { randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import { AccountFlowStore } from "../../account/flow-store.js";
import type { SessionService } from "../../account/sessions.js";
import type { AuditSink } from "../../audit/emitter.js";
import { parseTenantSettings, type TenantSettings } from "../../config/tenant-settings.js";
import type { Clock } from "../../core/clock.js";
import { LatchkeyError } from "../../core/errors.js";
import { hashPassword, verifyPassword } from "../../core/password-hash.js";
import type { Random } from "../../core/random.js";
import { openData, type ServerSecrets, sealData } from "../../core/secrets.js";
import { passwordChangedEmail } from "../../notify/templates.js";
import type { Database, Tenant, User } from "../../store/schema.js";
import type { WritebackService } from "../../writeback/service.js";
import { type CloudPasswordSetter, inCloudHistory } from "../reset/cloud-password-setter.js";
import {
  type EnqueuePort,
  type PasswordCheckPort,
  type PasswordVerdictPort,
  passwordCheckInput,
  type RequestMeta,
  type ThrottlePort,
} from "../reset/ports.js";
import { PasswordRejectedError } from "../reset/service.js";
import { countWrongPassword, failedPasswordLimits, signInThrottleKey } from "../sign-in/throttle.js";
import { CHANGE_FLOW, CHANGE_FLOW_LIFETIME_MS, type ChangeState } from "./states.js";

export interface ChangeServiceDeps {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  secrets: ServerSecrets;
  audit: AuditSink;
  throttle: ThrottlePort;
  passwords: PasswordCheckPort;
  sessions: SessionService;
  outbox: EnqueuePort;
  cloud: CloudPasswordSetter;
  /** Null when the server has no directory link: synced users cannot change here then. */
  writeback: WritebackService | null;
}

/** Why the person must change: the directory's answer at sign-in. */
export type ForcedReason = "expired" | "must_change";

export interface ChangeContext {
  reason: ForcedReason;
  /** The old password, AES-256-GCM sealed under the data key with the flow id as associated data. */
  sealedOld: string;
  /** Where the person was going when they signed in. */
  next: string;
}

export interface ForcedView {
  flowId: string;
  csrf: string;
  reason: ForcedReason;
  expiresAt: number;
}

export interface ChangeInput {
  tenant: Tenant;
  user: User;
  oldPassword: string;
  newPassword: string;
  confirm: string;
  meta: RequestMeta;
  /** The session to keep (the one that made the change); every other session is revoked. */
  keepSessionId: string | null;
  flowId?: string;
}

const sealAad = (flowId: string) => `latchkey change-flow old password v1 ${flowId}`;

export class ChangeService {
  readonly flows: AccountFlowStore<ChangeState, ChangeContext>;

  constructor(private readonly deps: ChangeServiceDeps) {
    this.flows = new AccountFlowStore(deps.db, deps.clock, deps.random, CHANGE_FLOW);
  }

  /** Live verdicts for a candidate (without the history: it costs argon2 per row, and says too much live). */
  async check(tenant: Tenant, user: User, password: string): Promise<PasswordVerdictPort> {
    return this.verdict(parseTenantSettings(tenant.settings_json), user, password, false);
  }

  /** A signed-in person changes their password with the old one. */
  async change(input: ChangeInput): Promise<void> {
    const { tenant, user, meta } = input;
    const settings = parseTenantSettings(tenant.settings_json);
    if (input.newPassword !== input.confirm)
      throw new LatchkeyError("VALIDATION_FAILED", "passwords differ", { field: "confirm" });
    const key = signInThrottleKey(user, "");
    const limits = failedPasswordLimits(settings);
    const lock = await this.deps.throttle.peek(tenant.id, key);
    if (lock?.lockedUntil && lock.lockedUntil > this.deps.clock.now())
      throw new LatchkeyError("THROTTLED", undefined, { until: lock.lockedUntil });

    if (user.kind === "cloud") {
      // argon2 verify is constant-time in the hash comparison; a missing hash still costs a verify.
      const ok = await verifyPassword(user.password_hash ?? (await dummyHash()), input.oldPassword);
      if (!ok || user.password_hash === null)
        return this.wrongOld(tenant, user, meta, key, limits, input.flowId);
    }
    const verdict = await this.verdict(settings, user, input.newPassword, true);
    if (!verdict.ok) {
      await this.deps.audit.emit({
        tenantId: tenant.id,
        event: "password.rejected",
        result: "failure",
        reason: "policy_violation",
        target: user.id,
        flowId: input.flowId ?? null,
        ip: meta.ip,
        userAgent: meta.userAgent,
        details: {
          ruleIds: verdict.rules.filter((r) => !r.ok && !r.skipped).map((r) => r.id),
          kind: "change",
        },
      });
      throw new PasswordRejectedError(verdict);
    }

    if (user.kind === "cloud") {
      await this.deps.cloud.setPassword(user, input.newPassword, { unlock: false });
    } else {
      if (!this.deps.writeback?.canServe(user)) throw new LatchkeyError("DIRECTORY_UNAVAILABLE");
      const outcome = await this.deps.writeback.submit({
        tenantId: tenant.id,
        user,
        kind: "change",
        secrets: { oldPassword: input.oldPassword, newPassword: input.newPassword },
        actor: user.id,
        flowId: input.flowId ?? null,
      });
      if (outcome.status === "pending") {
        // The agent goes on and the person is emailed the result (writeback/notify.ts).
        throw new LatchkeyError("PASSWORD_SET_FAILED", "pending", { messageId: "password.pending" });
      }
      if (outcome.status !== "applied") {
        if (outcome.code === "OLD_PASSWORD_WRONG" || outcome.code === "INVALID_CREDENTIALS")
          return this.wrongOld(tenant, user, meta, key, limits, input.flowId);
        await this.deps.audit.emit({
          tenantId: tenant.id,
          event: "password.rejected",
          result: "failure",
          reason: outcome.code,
          target: user.id,
          flowId: input.flowId ?? null,
          ip: meta.ip,
          userAgent: meta.userAgent,
          details: { kind: "change", operationId: outcome.operationId },
        });
        throw new LatchkeyError("PASSWORD_SET_FAILED", outcome.code, { messageId: outcome.messageId });
      }
    }
    await this.deps.throttle.resetPrefix(tenant.id, key);
    await this.afterChange(tenant, settings, user, meta, input.keepSessionId, input.flowId ?? null);
  }

  /**
   * Sign-in found the password expired or marked must-change: a flow holding the sealed old
   * password for a few minutes, so the person only types the new one.
   */
  async startForced(p: {
    tenant: Tenant;
    user: User;
    oldPassword: string;
    reason: ForcedReason;
    next: string;
  }): Promise<{ view: ForcedView; binding: string }> {
    // Housekeeping first: no expired change flow (with its sealed password) outlives a new one.
    await this.flows.purgeExpired();
    const { flow, binding } = await this.flows.create({
      tenantId: p.tenant.id,
      userId: p.user.id,
      state: "new_password",
      lifetimeMs: CHANGE_FLOW_LIFETIME_MS,
      context: (id) => ({
        reason: p.reason,
        sealedOld: sealData(this.deps.secrets, p.oldPassword, sealAad(id)),
        next: p.next,
      }),
    });
    return {
      view: { flowId: flow.id, csrf: flow.csrfToken, reason: p.reason, expiresAt: flow.expiresAt },
      binding,
    };
  }

  async viewForced(tenant: Tenant, flowId: string, binding: string | undefined): Promise<ForcedView> {
    const flow = await this.flows.load(tenant.id, flowId, { binding, allowed: ["new_password"] });
    return { flowId: flow.id, csrf: flow.csrfToken, reason: flow.context.reason, expiresAt: flow.expiresAt };
  }

  /** The flow's user, for live rule checks on the forced-change page. */
  async forcedUser(
    tenant: Tenant,
    step: { flowId: string; binding: string | undefined; csrf: string },
  ): Promise<User> {
    const flow = await this.flows.load(tenant.id, step.flowId, {
      binding: step.binding,
      allowed: ["new_password"],
      csrf: step.csrf,
    });
    return this.userOf(tenant, flow.userId);
  }

  /** The forced change: the new password (twice); the old one comes from the flow. */
  async completeForced(
    tenant: Tenant,
    step: { flowId: string; binding: string | undefined; csrf: string },
    input: { newPassword: string; confirm: string },
    meta: RequestMeta,
  ): Promise<{ next: string }> {
    const flow = await this.flows.load(tenant.id, step.flowId, {
      binding: step.binding,
      allowed: ["new_password"],
      csrf: step.csrf,
    });
    const user = await this.userOf(tenant, flow.userId);
    const oldPassword = openData(this.deps.secrets, flow.context.sealedOld, sealAad(flow.id));
    try {
      await this.change({
        tenant,
        user,
        oldPassword,
        newPassword: input.newPassword,
        confirm: input.confirm,
        meta,
        keepSessionId: null,
        flowId: flow.id,
      });
    } catch (e) {
      // A wrong old password here means the directory changed under us: the flow is worth nothing now.
      if (e instanceof LatchkeyError && (e.code === "OLD_PASSWORD_WRONG" || e.code === "THROTTLED"))
        await this.flows.delete(flow.id);
      else await this.flows.save({ ...flow, attempts: flow.attempts + 1 }, "new_password");
      throw e;
    }
    await this.flows.delete(flow.id);
    return { next: flow.context.next };
  }

  // ——— internals ———

  private async userOf(tenant: Tenant, userId: string): Promise<User> {
    const user = await this.deps.db
      .selectFrom("users")
      .selectAll()
      .where("tenant_id", "=", tenant.id)
      .where("id", "=", userId)
      .where("deleted_at", "is", null)
      .executeTakeFirst();
    if (!user) throw new LatchkeyError("FLOW_NOT_FOUND");
    return user;
  }

  private async wrongOld(
    tenant: Tenant,
    user: User,
    meta: RequestMeta,
    key: string,
    limits: { limit: number; windowMs: number; lockMs: number },
    flowId: string | undefined,
  ): Promise<never> {
    const until = await countWrongPassword(this.deps.throttle, tenant.id, key, limits, this.deps.clock.now());
    await this.deps.audit.emit({
      tenantId: tenant.id,
      event: "password.rejected",
      result: "failure",
      reason: "old_password_wrong",
      target: user.id,
      flowId: flowId ?? null,
      ip: meta.ip,
      userAgent: meta.userAgent,
      details: { kind: "change" },
    });
    if (until !== null) throw new LatchkeyError("THROTTLED", undefined, { until });
    throw new LatchkeyError("OLD_PASSWORD_WRONG");
  }

  private async afterChange(
    tenant: Tenant,
    settings: TenantSettings,
    user: User,
    meta: RequestMeta,
    keepSessionId: string | null,
    flowId: string | null,
  ): Promise<void> {
    const revoked = await this.deps.sessions.revokeAllFor(user, keepSessionId ?? undefined);
    await this.deps.audit.emit({
      tenantId: tenant.id,
      event: "password.changed",
      result: "success",
      actor: user.id,
      target: user.id,
      flowId,
      ip: meta.ip,
      userAgent: meta.userAgent,
      details: { kind: user.kind, forced: flowId !== null },
    });
    await this.deps.audit.emit({
      tenantId: tenant.id,
      event: "sessions.revoked",
      result: "info",
      target: user.id,
      flowId,
      details: { count: revoked, keptCurrent: keepSessionId !== null },
    });
    const content = passwordChangedEmail({
      organisationName: settings.branding.organisationName,
      username: user.upn ?? user.username,
      displayName: user.display_name,
      at: this.deps.clock.now(),
      ip: meta.ip,
      helpdeskText: settings.branding.helpdeskText,
      helpdeskUrl: settings.branding.helpdeskUrl,
    });
    for (const to of await this.userEmails(user)) {
      await this.deps.outbox.enqueue({
        tenantId: tenant.id,
        channel: "email",
        template: "password.changed",
        to,
        subject: content.subject,
        text: content.text,
        html: content.html,
      });
    }
  }

  /** Confirmed email registrations and the account's own address. */
  private async userEmails(user: User): Promise<string[]> {
    const rows = await this.deps.db
      .selectFrom("auth_methods")
      .select(["data_json"])
      .where("tenant_id", "=", user.tenant_id)
      .where("user_id", "=", user.id)
      .where("type", "=", "email")
      .where("confirmed_at", "is not", null)
      .execute();
    const set = new Set<string>();
    for (const r of rows) {
      const address = (JSON.parse(r.data_json) as { address?: unknown }).address;
      if (typeof address === "string" && address) set.add(address.toLowerCase());
    }
    if (user.email) set.add(user.email.toLowerCase());
    return [...set];
  }

  private async verdict(
    settings: TenantSettings,
    user: User,
    password: string,
    withHistory: boolean,
  ): Promise<PasswordVerdictPort> {
    const inHistory = (u: User, pw: string, depth: number) => inCloudHistory(this.deps.db, u, pw, depth);
    return this.deps.passwords.check(
      passwordCheckInput(settings, user, password, withHistory ? inHistory : null),
    );
  }
}

/**
 * An argon2id hash of a random value nobody knows, made once per process with the same parameters as
 * real hashes: an unknown user name (or an account without a hash) costs the same verify as a real
 * one. Made, not hard-coded: a malformed constant would make verify fail fast, which is the leak.
 */
let dummy: Promise<string> | undefined;
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(32).toString("base64url"));
  return dummy;
}
