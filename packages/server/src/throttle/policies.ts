/**
 * The throttles self-service applies, with Entra's numbers as defaults (tenant settings may change
 * them; see config/tenant-settings.ts `throttles` and shared/reference/entra-sspr.md §3):
 *
 * | policy   | key                        | limit (default)          | window | then locked for      |
 * |----------|----------------------------|--------------------------|--------|----------------------|
 * | verify   | verify:<subject>:<method>  | 5 attempts               | 1 h    | lockoutMinutes (24 h) |
 * | email    | email:<subject>            | 10 emails                | 10 min | lockoutMinutes (24 h) |
 * | message  | sms:/voice:<subject>       | 10 messages (same limit) | 10 min | lockoutMinutes (24 h) |
 * | identity | identity:<subject>         | 5 failed identity proofs | 24 h   | lockoutMinutes (24 h) |
 * | ipStart  | ip:<ip>:start              | 30 flow starts           | 1 min  | 1 min                 |
 *
 * `subject` is the user id, or for an unknown user name a stable stand-in the flow derives from
 * it, so phantoms are throttled exactly like real users.
 */
import type { ThrottleSettings } from "../config/tenant-settings.js";
import type { ThrottleLimits } from "./throttle.js";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export interface ThrottlePolicy extends ThrottleLimits {
  /** The counter's key. */
  key: string;
}

export interface ThrottlePolicies {
  /** Verification attempts (codes typed, answers given) per user and method. */
  verify(subject: string, method: string): ThrottlePolicy;
  /** Emails sent to one user. */
  email(subject: string): ThrottlePolicy;
  /** Messages sent to one user on a channel; email shares the `email` policy. */
  message(subject: string, channel: "email" | "sms" | "voice"): ThrottlePolicy;
  /** Failed identity proofs (flows that ended without passing their gates) per user. */
  identity(subject: string): ThrottlePolicy;
  /** Flow starts per client IP. */
  ipStart(ip: string): ThrottlePolicy;
}

export function throttlePolicies(t: ThrottleSettings): ThrottlePolicies {
  const lockMs = t.lockoutMinutes * MINUTE;
  const email = (subject: string): ThrottlePolicy => ({
    key: `email:${subject}`,
    limit: t.emailsPer10Minutes,
    windowMs: 10 * MINUTE,
    lockMs,
  });
  return {
    verify: (subject, method) => ({
      key: `verify:${subject}:${method}`,
      limit: t.verifyAttemptsPerMethodPerHour,
      windowMs: HOUR,
      lockMs,
    }),
    email,
    message: (subject, channel) =>
      channel === "email"
        ? email(subject)
        : { key: `${channel}:${subject}`, limit: t.emailsPer10Minutes, windowMs: 10 * MINUTE, lockMs },
    identity: (subject) => ({
      key: `identity:${subject}`,
      limit: t.failedIdentityProofsPer24h,
      windowMs: DAY,
      lockMs,
    }),
    ipStart: (ip) => ({ key: `ip:${ip}:start`, limit: t.perIpPerMinute, windowMs: MINUTE, lockMs: MINUTE }),
  };
}

/**
 * The counters that belong to one user, for clearing after a successful reset (Entra resets them
 * too): exact keys, plus the prefix of the per-method verify keys.
 */
export function userThrottleKeys(subject: string): { keys: string[]; prefixes: string[] } {
  return {
    keys: [`email:${subject}`, `sms:${subject}`, `voice:${subject}`, `identity:${subject}`],
    prefixes: [`verify:${subject}:`],
  };
}
