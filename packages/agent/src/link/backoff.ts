/**
 * Reconnection delays: exponential backoff with full jitter (AWS Architecture Blog, "Exponential
 * Backoff And Jitter"): delay = random() × min(cap, base × 2^attempt). Full jitter spreads a fleet of
 * agents that lost the same server over the whole window, so a restarted server is not hit by all of
 * them at once.
 */
export interface BackoffOptions {
  /** The window of the first retry, ms. Default 500. */
  initialMs?: number;
  /** The largest window, ms. Default 30 000. */
  maxMs?: number;
}

export function backoffWindow(attempt: number, opts: BackoffOptions = {}): number {
  const initial = opts.initialMs ?? 500;
  const max = opts.maxMs ?? 30_000;
  // 2^attempt overflows nothing that matters: cap the exponent well before Infinity.
  return Math.min(max, initial * 2 ** Math.min(attempt, 30));
}

/** The delay before retry number `attempt` (0-based); `random` returns [0, 1). */
export function backoffDelay(attempt: number, random: () => number, opts: BackoffOptions = {}): number {
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.floor(r * backoffWindow(attempt, opts));
}
