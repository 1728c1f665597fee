/**
 * The reset flow's states and the only transitions allowed between them.
 * The diagram beside this file (reset-flow.mmd) is the same machine; a test checks they agree.
 *
 * A phantom flow (unknown user name, or in strict mode an ineligible user) walks the same states
 * as a real one but can never pass a gate, so it never reaches `new_password` — and so never learns
 * whether the account is locked: the "unlock only" choice exists only in `new_password`.
 */
export const RESET_STATES = [
  "identify",
  "verify",
  "new_password",
  "pending",
  "completed",
  "unlocked",
  "failed",
  "blocked",
] as const;
export type ResetState = (typeof RESET_STATES)[number];

export const RESET_TRANSITIONS: Record<ResetState, readonly ResetState[]> = {
  // identify → verify: the person gave a user name and passed the captcha (strict mode: always;
  // guided mode: only when eligible). identify → blocked: guided mode, not eligible.
  identify: ["verify", "blocked"],
  // verify → verify: one gate passed, another needed. verify → blocked: throttled.
  verify: ["verify", "new_password", "blocked"],
  // new_password → new_password: the policy (or the directory) refused a candidate; → completed: the
  // password was set; → unlocked: a locked account chose "unlock only"; → pending: the directory
  // outlived the person's wait (a synced account), the operation goes on.
  new_password: ["new_password", "pending", "completed", "unlocked", "blocked"],
  // pending → completed / unlocked: the operation applied later (the completion steps run then, once);
  // pending → failed: it finally failed (the person is emailed why).
  pending: ["completed", "unlocked", "failed"],
  completed: [],
  unlocked: [],
  failed: [],
  blocked: [],
};

export function canTransition(from: ResetState, to: ResetState): boolean {
  return RESET_TRANSITIONS[from].includes(to);
}

export function isResetState(s: string): s is ResetState {
  return (RESET_STATES as readonly string[]).includes(s);
}
