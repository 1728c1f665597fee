/**
 * "Why can't this user reset?" Runs the reset flow's own eligibility checks (checkEligibility, the
 * function identify calls) for one account, from what the store holds, and says what would fix each
 * failing one. Strictly read-only: it only SELECTs (throttle counters are peeked, never hit), it
 * starts no challenge and queues no message, and it writes no audit record — a test compares the
 * counters, outbox, audit log and challenges before and after.
 */
import type { Kysely } from "kysely";
import type { MethodType } from "../config/tenant-settings.js";
import { parseTenantSettings } from "../config/tenant-settings.js";
import { storedAgentsServing } from "../directory-link/liveness.js";
import { CloudPasswordSetter } from "../flows/reset/cloud-password-setter.js";
import { checkEligibility, type EligibilityCheckId, methodsAllowedFor } from "../flows/reset/eligibility.js";
import type { MethodRegistry } from "../methods/registry.js";
import type { Database, Tenant, User } from "../store/schema.js";
import { METHOD_LABELS } from "./model.js";

export interface UserCheck {
  id: EligibilityCheckId;
  ok: boolean;
  /** The audit reason the flow records when this check fails. */
  reason: string;
  /** What the check saw, in words. */
  detail: string;
  /** What would make it pass (empty when it passes). */
  fix: string;
}

export interface UserVerdict {
  query: string;
  user: {
    username: string;
    kind: "cloud" | "synced";
    admin: boolean;
    directory: string | null;
    deleted: boolean;
  } | null;
  /** Several accounts match the name: the flow treats it as unknown rather than guess. */
  ambiguous: boolean;
  eligible: boolean;
  firstFailing: EligibilityCheckId | null;
  requiredGates: number;
  registered: MethodType[];
  usable: MethodType[];
  checks: UserCheck[];
}

export interface ExplainUserDeps {
  db: Kysely<Database>;
  tenant: Tenant;
  /** The server's methods (their isRegistered decides what a user holds, as in the flow). */
  methods: MethodRegistry;
  now: number;
}

/** Throttle keys the reset flow locks on for a known user (service.ts userKey + lockedUntil). */
function lockKeys(userId: string, implemented: readonly MethodType[]): string[] {
  const key = `u:${userId}`;
  return [`proof:${key}`, `email:${key}`, ...implemented.map((m) => `verify:${key}:${m}`)];
}

/** Accounts matching by user name, UPN or email (an administrator may type any of them). */
async function findUsers(db: Kysely<Database>, tenantId: string, identifier: string): Promise<User[]> {
  return db
    .selectFrom("users")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where((eb) =>
      eb.or([
        eb("username", "=", identifier),
        eb(eb.fn("lower", ["upn"]), "=", identifier),
        eb(eb.fn("lower", ["email"]), "=", identifier),
      ]),
    )
    .orderBy("deleted_at")
    .limit(5)
    .execute();
}

export async function explainUser(deps: ExplainUserDeps, name: string): Promise<UserVerdict> {
  const { db, tenant, methods, now } = deps;
  const settings = parseTenantSettings(tenant.settings_json);
  const implemented = (Object.keys(methods) as MethodType[]).filter(
    (m) => methods[m as keyof MethodRegistry],
  );
  const identifier = name.normalize("NFKC").trim().toLowerCase();
  const all = await findUsers(db, tenant.id, identifier);
  const live = all.filter((u) => u.deleted_at === null || u.deleted_at === undefined);
  const ambiguous = live.length > 1;
  const user = live.length === 1 ? (live[0] ?? null) : null;
  const deletedMatch = live.length === 0 ? (all[0] ?? null) : null;

  const rows = user
    ? await db.selectFrom("auth_methods").selectAll().where("user_id", "=", user.id).execute()
    : [];
  const registered = implemented.filter((t) => methods[t as keyof MethodRegistry]?.isRegistered(rows));
  let lockedUntil: number | null = null;
  if (user) {
    const counters = await db
      .selectFrom("throttle_counters")
      .select(["key", "locked_until"])
      .where("tenant_id", "=", tenant.id)
      .where("key", "in", lockKeys(user.id, implemented))
      .execute();
    for (const c of counters) {
      const until = c.locked_until === null ? null : Number(c.locked_until);
      if (until !== null && until > now) lockedUntil = Math.max(lockedUntil ?? 0, until);
    }
  }
  let agentsOnline = 0;
  let canSet = false;
  if (user) {
    if (new CloudPasswordSetter(db, { now: () => now }).serves(user)) canSet = true;
    else if (user.kind === "synced" && user.directory_id && user.source_anchor) {
      agentsOnline = (await storedAgentsServing(db, tenant.id, user.directory_id, now)).length;
      canSet = agentsOnline > 0;
    }
  }
  const e = checkEligibility({
    settings,
    user,
    registered,
    implemented,
    lockedUntil,
    now,
    canSetPassword: canSet,
  });
  const allowed = methodsAllowedFor(settings, user, implemented);
  const names = (ms: readonly MethodType[]) => ms.map((m) => METHOD_LABELS[m]).join(", ") || "none";

  const detailOf = (id: EligibilityCheckId): string => {
    switch (id) {
      case "reset_enabled":
        return `self-service reset is ${settings.reset.enabled ? "on" : "off"}`;
      case "account_exists":
        return user
          ? `found ${user.username}`
          : ambiguous
            ? `${live.length} accounts match '${name}'`
            : deletedMatch
              ? `'${name}' was deleted from its directory`
              : `no account matches '${name}'`;
      case "account_enabled":
        return user ? (user.enabled === 1 ? "enabled" : "disabled") : "no account";
      case "in_scope":
        return settings.reset.scope === "all"
          ? "scope: everybody"
          : settings.reset.scope === "none"
            ? "scope: nobody"
            : `scope group ${settings.reset.scopeGroup ?? ""}: ${user?.in_scope === 1 ? "member" : "not a member"}`;
      case "not_throttled":
        return lockedUntil ? `locked until ${new Date(lockedUntil).toISOString()}` : "no lockout";
      case "enough_methods":
        return `needs ${e.requiredGates}${user?.is_admin === 1 ? " (administrator)" : ""}; usable: ${names(e.usable)}; registered: ${names(registered)}`;
      case "writeback_available":
        return !user
          ? "no account"
          : user.kind === "cloud"
            ? "cloud account: Latchkey sets the password"
            : `directory ${user.directory_id ?? "(none)"}: ${agentsOnline} agent(s) online`;
    }
  };
  const fixOf = (id: EligibilityCheckId, base: string): string => {
    switch (id) {
      case "account_exists":
        return ambiguous
          ? "Several accounts share this name, email or UPN: make it unique (the portal treats it as unknown)."
          : base;
      case "enough_methods": {
        const missing = e.requiredGates - e.usable.length;
        const candidates = allowed.filter((m) => !e.usable.includes(m));
        return `Register ${missing === 1 ? "a second method" : `${missing} more methods`} (one of: ${names(candidates)}).${user?.is_admin === 1 && registered.includes("questions") ? " Security questions do not count for administrators." : ""}`;
      }
      case "writeback_available":
        return user?.kind === "synced"
          ? `Start an agent for their directory '${user.directory_id ?? "?"}' (latchkey-agent run), or check its link.`
          : base;
      case "not_throttled":
        return lockedUntil
          ? `Wait until ${new Date(lockedUntil).toISOString()} (the self-service lockout ends), or clear it as an administrator.`
          : base;
      default:
        return base;
    }
  };
  const checks: UserCheck[] = e.checks.map((c) => ({
    id: c.id,
    ok: c.ok,
    reason: c.reason,
    detail: detailOf(c.id),
    fix: c.ok ? "" : fixOf(c.id, c.fix),
  }));
  return {
    query: name,
    user: user
      ? {
          username: user.username,
          kind: user.kind,
          admin: user.is_admin === 1,
          directory: user.directory_id,
          deleted: false,
        }
      : null,
    ambiguous,
    eligible: e.eligible,
    firstFailing: checks.find((c) => !c.ok)?.id ?? null,
    requiredGates: e.requiredGates,
    registered,
    usable: e.usable,
    checks,
  };
}

export function renderUserVerdict(v: UserVerdict, tenantSlug: string): string {
  const lines = [`Can '${v.query}' reset their password? (tenant ${tenantSlug})`];
  if (v.user)
    lines.push(
      `  account: ${v.user.username}, ${v.user.kind}${v.user.directory ? ` (directory ${v.user.directory})` : ""}${v.user.admin ? ", administrator" : ""}`,
    );
  lines.push("");
  for (const c of v.checks) {
    lines.push(`  ${c.ok ? "PASS" : "FAIL"}  ${c.id.padEnd(20)} ${c.detail}`);
    if (!c.ok) lines.push(`        fix: ${c.fix}`);
  }
  lines.push(
    "",
    v.eligible
      ? "Verdict: eligible — nothing stops a reset."
      : `Verdict: cannot reset — first failing check: ${v.firstFailing} (audit reason ${v.checks.find((c) => !c.ok)?.reason}).`,
    "",
  );
  return lines.join("\n");
}
