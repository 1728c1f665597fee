/**
 * Eligibility: every check, its reason code (what the audit log records), the first failure wins,
 * every check is reported even after a failure (latchkey admin explain-user shows them all), and
 * the admin rules (two gates, no security questions).
 */
import { describe, expect, it } from "vitest";
import { REASON_CODES } from "../../audit/catalogue.js";
import { type MethodType, parseTenantSettings } from "../../config/tenant-settings.js";
import type { User } from "../../store/schema.js";
import { checkEligibility, type EligibilityInput, gatesFor, methodsAllowedFor } from "./eligibility.js";

const NOW = Date.UTC(2026, 0, 1);
const ALL: MethodType[] = ["email", "sms", "voice", "totp", "questions"];

function user(over: Partial<User> = {}): User {
  return {
    id: "u1",
    tenant_id: "t1",
    kind: "cloud",
    username: "alice",
    upn: null,
    email: null,
    display_name: null,
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
    password_hash: null,
    password_changed_at: null,
    created_at: 0,
    updated_at: 0,
    ...over,
  };
}

function input(
  over: Omit<Partial<EligibilityInput>, "settings"> & { settings?: object } = {},
): EligibilityInput {
  const { settings, ...rest } = over;
  return {
    settings: parseTenantSettings(settings ?? {}),
    user: user(),
    registered: ["email", "sms"],
    implemented: ALL,
    lockedUntil: null,
    now: NOW,
    canSetPassword: true,
    ...rest,
  };
}

describe("checkEligibility", () => {
  it("passes an enabled, in-scope user with a registered method, and reports every check", () => {
    const e = checkEligibility(input());
    expect(e).toMatchObject({ eligible: true, reason: null, requiredGates: 1, usable: ["email", "sms"] });
    expect(e.checks.map((c) => c.id)).toEqual([
      "reset_enabled",
      "account_exists",
      "account_enabled",
      "in_scope",
      "not_throttled",
      "enough_methods",
      "writeback_available",
    ]);
    expect(e.checks.every((c) => c.ok)).toBe(true);
  });

  it.each([
    ["reset_disabled", input({ settings: { reset: { enabled: false } } })],
    ["user_not_found", input({ user: null, registered: [] })],
    ["user_disabled", input({ user: user({ enabled: 0 }) })],
    ["user_not_in_scope", input({ settings: { reset: { scope: "none" } } })],
    ["user_not_in_scope", input({ settings: { reset: { scope: "group" } }, user: user({ in_scope: 0 }) })],
    ["throttled", input({ lockedUntil: NOW + 1 })],
    ["not_enough_methods", input({ registered: [] })],
    ["not_enough_methods", input({ settings: { reset: { gates: 2 } }, registered: ["email"] })],
    ["writeback_unavailable", input({ canSetPassword: false })],
  ] as const)("fails with %s", (reason, i) => {
    const e = checkEligibility(i);
    expect(e.eligible).toBe(false);
    expect(e.reason).toBe(reason);
    // Every reason is in the audit catalogue, and the failed check carries a fix for explain-user.
    expect(Object.keys(REASON_CODES)).toContain(reason);
    const failed = e.checks.find((c) => !c.ok);
    expect(failed?.reason).toBe(reason);
    expect(failed?.fix.length).toBeGreaterThan(10);
  });

  it("reports the first failing check, and still evaluates the rest", () => {
    const e = checkEligibility(
      input({ user: user({ enabled: 0, in_scope: 0 }), registered: [], lockedUntil: NOW + 5 }),
    );
    expect(e.reason).toBe("user_disabled");
    expect(e.checks.filter((c) => !c.ok).map((c) => c.reason)).toEqual([
      "user_disabled",
      "throttled",
      "not_enough_methods",
    ]);
  });

  it("treats a lockout that has ended as none", () => {
    expect(checkEligibility(input({ lockedUntil: NOW })).eligible).toBe(true);
    expect(checkEligibility(input({ lockedUntil: NOW - 1 })).eligible).toBe(true);
  });

  it("scope 'group' admits members only", () => {
    expect(checkEligibility(input({ settings: { reset: { scope: "group" } } })).eligible).toBe(true);
  });

  it("counts only methods the tenant enables and the server implements", () => {
    const e = checkEligibility(
      input({ settings: { reset: { methods: ["totp"] } }, registered: ["email", "sms"] }),
    );
    expect(e.reason).toBe("not_enough_methods");
    const f = checkEligibility(input({ registered: ["email"], implemented: ["sms"] }));
    expect(f.reason).toBe("not_enough_methods");
  });
});

describe("administrators", () => {
  const admin = user({ is_admin: 1 });

  it("need two gates whatever the tenant's setting", () => {
    const s = parseTenantSettings({ reset: { gates: 1 } });
    expect(gatesFor(s, admin)).toBe(2);
    expect(gatesFor(s, user())).toBe(1);
    expect(gatesFor(s, null)).toBe(1);
    expect(checkEligibility(input({ user: admin, registered: ["email"] })).reason).toBe("not_enough_methods");
    expect(checkEligibility(input({ user: admin, registered: ["email", "totp"] })).requiredGates).toBe(2);
  });

  it("may never use security questions, so questions do not make up their second method", () => {
    const s = parseTenantSettings({});
    expect(methodsAllowedFor(s, admin, ALL)).not.toContain("questions");
    expect(methodsAllowedFor(s, user(), ALL)).toContain("questions");
    const e = checkEligibility(input({ user: admin, registered: ["email", "questions"] }));
    expect(e).toMatchObject({ eligible: false, reason: "not_enough_methods", usable: ["email"] });
  });
});
