/**
 * What the reset flow needs from the rest of the server, as small interfaces. The flow depends on
 * these shapes, not on concrete modules, so tests can run it with real parts wired differently and
 * the agent-backed password setter can arrive later without touching the flow.
 */
import type { PasswordPolicy, TenantSettings } from "../../config/tenant-settings.js";
import type { User } from "../../store/schema.js";

export interface ThrottleResult {
  allowed: boolean;
  remaining: number;
  lockedUntil: number | null;
}

export interface ThrottlePort {
  hit(
    tenantId: string,
    key: string,
    opts: { limit: number; windowMs: number; lockMs: number },
  ): Promise<ThrottleResult>;
  peek(tenantId: string, key: string): Promise<ThrottleResult | null>;
  /** Forgets every key that starts with `prefix`; returns how many. */
  resetPrefix(tenantId: string, prefix: string): Promise<number>;
}

export interface CaptchaPort {
  verify(payload: string): Promise<boolean>;
}

export interface PasswordRuleVerdict {
  id: string;
  /** False when the rule failed, and also when it was skipped or unavailable (see below). */
  ok: boolean;
  messageId: string;
  params?: Record<string, number | string>;
  /** Not evaluated because an earlier rule already failed (history costs Argon2): not a failure of its own. */
  skipped?: boolean;
  /** Could not be evaluated (e.g. the breach service is down): fails closed, with its own message. */
  unavailable?: boolean;
}

export interface PasswordVerdictPort {
  ok: boolean;
  rules: PasswordRuleVerdict[];
}

export interface PasswordCheckPort {
  check(input: {
    password: string;
    policy: PasswordPolicy;
    user: { username: string; displayName?: string; givenName?: string; surname?: string; email?: string };
    organisationName: string;
    history?: (password: string) => Promise<boolean>;
  }): Promise<PasswordVerdictPort>;
}

/**
 * The check's input for a new password of `user`: the personal data the policy's "not your name"
 * rules compare against, and the history lookup for cloud accounts when asked for (`inHistory`
 * given) and the policy keeps one. Synced accounts: the directory keeps the history and applies it.
 */
export function passwordCheckInput(
  settings: TenantSettings,
  user: User,
  password: string,
  inHistory: ((user: User, password: string, depth: number) => Promise<boolean>) | null,
): Parameters<PasswordCheckPort["check"]>[0] {
  return {
    password,
    policy: settings.password,
    user: {
      username: user.username,
      ...(user.display_name ? { displayName: user.display_name } : {}),
      ...(user.given_name ? { givenName: user.given_name } : {}),
      ...(user.surname ? { surname: user.surname } : {}),
      ...(user.email ? { email: user.email } : {}),
    },
    organisationName: settings.branding.organisationName,
    ...(inHistory && user.kind === "cloud" && settings.password.history > 0
      ? { history: (pw: string) => inHistory(user, pw, settings.password.history) }
      : {}),
  };
}

export interface EnqueuePort {
  enqueue(message: {
    tenantId: string;
    channel: "email" | "sms" | "voice";
    template: string;
    to: string;
    subject?: string;
    text: string;
    html?: string;
  }): Promise<unknown>;
}

/** Who is asking: recorded in audit events. */
export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
  locale: string;
}
