/**
 * The per-account limit on wrong passwords, shared by sign-in and password change: both prove a
 * password, so both count against one counter. Keyed like the reset's counters: by user id when the
 * account exists, by an HMAC tag of the typed name when it does not, so the lockout behaves the same
 * either way. It runs before the directory is asked, so guessing through Latchkey cannot run past
 * the limit — nor lock the directory account (AD locks after its own threshold) faster than it.
 */
import type { TenantSettings } from "../../config/tenant-settings.js";
import type { User } from "../../store/schema.js";
import type { ThrottlePort } from "../reset/ports.js";

const WINDOW_MS = 15 * 60_000;

export function signInThrottleKey(user: User | null, identifierTag: string): string {
  return user ? `signin:u:${user.id}` : `signin:n:${identifierTag}`;
}

export function failedPasswordLimits(settings: TenantSettings): {
  limit: number;
  windowMs: number;
  lockMs: number;
} {
  return { limit: settings.account.signInFailuresPer15Minutes, windowMs: WINDOW_MS, lockMs: WINDOW_MS };
}

/**
 * Counts one wrong password on `key`. The limit-th failure locks at once (one more hit takes the
 * counter past the limit, which is what the throttle locks on), so the person is told now and the
 * next try — with any password — waits. Returns when the lock ends, or null while under the limit.
 */
export async function countWrongPassword(
  throttle: ThrottlePort,
  tenantId: string,
  key: string,
  limits: { limit: number; windowMs: number; lockMs: number },
  now: number,
): Promise<number | null> {
  let r = await throttle.hit(tenantId, key, limits);
  if (r.allowed && r.remaining > 0) return null;
  if (r.lockedUntil === null) r = await throttle.hit(tenantId, key, limits);
  return r.lockedUntil ?? now + limits.lockMs;
}
