/**
 * May this user reset their password? A pure function over what the store holds, so the reset flow
 * and "why can't this user reset?" (latchkey admin explain-user) run the very same checks, and a
 * phantom (unknown user) goes through the same code path.
 */

import type { ReasonCode } from "../../audit/catalogue.js";
import type { MethodType, TenantSettings } from "../../config/tenant-settings.js";
import type { User } from "../../store/schema.js";

export interface EligibilityInput {
  settings: TenantSettings;
  /** Null when no account matches the user name. */
  user: User | null;
  /** Method types the user holds, registered and confirmed. */
  registered: readonly MethodType[];
  /** Method types the server can run as a reset gate. */
  implemented: readonly MethodType[];
  /** End of a self-service lockout for this user, if one is in force. */
  lockedUntil: number | null;
  now: number;
  /** Whether the user's password can be set (cloud account, or a live writeback path for synced ones). */
  canSetPassword: boolean;
}

export type EligibilityCheckId =
  | "reset_enabled"
  | "account_exists"
  | "account_enabled"
  | "in_scope"
  | "not_throttled"
  | "enough_methods"
  | "writeback_available";

export interface EligibilityCheck {
  id: EligibilityCheckId;
  ok: boolean;
  /** Reason code recorded in the audit log when this check fails. */
  reason: ReasonCode;
  /** What an administrator could do about it (for explain-user). */
  fix: string;
}

export interface Eligibility {
  eligible: boolean;
  /** The first failing check's reason, for the audit record. */
  reason: ReasonCode | null;
  checks: EligibilityCheck[];
  requiredGates: number;
  /** Methods this user may use as gates, in the tenant's order. */
  usable: MethodType[];
}

/** Administrators always need two gates and may never use security questions. */
export function gatesFor(settings: TenantSettings, user: User | null): number {
  return user?.is_admin === 1 ? 2 : settings.reset.gates;
}

export function methodsAllowedFor(
  settings: TenantSettings,
  user: User | null,
  implemented: readonly MethodType[],
): MethodType[] {
  return settings.reset.methods.filter(
    (m) => implemented.includes(m) && !(user?.is_admin === 1 && m === "questions"),
  );
}

export function checkEligibility(input: EligibilityInput): Eligibility {
  const { settings, user } = input;
  const requiredGates = gatesFor(settings, user);
  const allowed = methodsAllowedFor(settings, user, input.implemented);
  const usable = allowed.filter((m) => input.registered.includes(m));
  const inScope =
    settings.reset.scope === "all" ? true : settings.reset.scope === "group" ? user?.in_scope === 1 : false;

  const checks: EligibilityCheck[] = [
    {
      id: "reset_enabled",
      ok: settings.reset.enabled,
      reason: "reset_disabled",
      fix: "Turn on self-service reset for the tenant (reset.enabled).",
    },
    {
      id: "account_exists",
      ok: user !== null,
      reason: "user_not_found",
      fix: "Check the user name; for synced accounts, check the agent's sync scope.",
    },
    {
      id: "account_enabled",
      ok: user?.enabled === 1,
      reason: "user_disabled",
      fix: "Enable the account in its directory (or in Latchkey for cloud accounts).",
    },
    {
      id: "in_scope",
      ok: user !== null && inScope,
      reason: "user_not_in_scope",
      fix:
        settings.reset.scope === "none"
          ? "Self-service scope is 'none': set reset.scope to 'group' or 'all'."
          : `Add the user to the scope group${settings.reset.scopeGroup ? ` '${settings.reset.scopeGroup}'` : ""}.`,
    },
    {
      id: "not_throttled",
      ok: input.lockedUntil === null || input.lockedUntil <= input.now,
      reason: "throttled",
      fix: "Wait until the self-service lockout ends, or clear it as an administrator.",
    },
    {
      id: "enough_methods",
      ok: usable.length >= requiredGates,
      reason: "not_enough_methods",
      fix: `The user needs ${requiredGates} registered method(s) among: ${allowed.join(", ")}; they have ${usable.length}.`,
    },
    {
      id: "writeback_available",
      ok: input.canSetPassword,
      reason: "writeback_unavailable",
      fix: "Start a writeback agent for the user's directory.",
    },
  ];
  const failed = checks.find((c) => !c.ok);
  return { eligible: !failed, reason: failed?.reason ?? null, checks, requiredGates, usable };
}
