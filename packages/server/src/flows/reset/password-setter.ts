/**
 * The only step of a reset that differs between account kinds: setting the new password.
 * Cloud accounts: a new argon2id hash in the store. Synced accounts: a sealed operation to an agent
 * (issue 5). The flow calls `setPassword` (or `unlock`, "unlock only") and maps its result; it never
 * knows which one ran.
 */
import type { User } from "../../store/schema.js";

export type SetPasswordResult =
  | { ok: true }
  | { ok: false; code: string; messageId: string }
  | { ok: "pending"; operationId: string };

export interface PasswordSetter {
  /** Whether this setter serves the user (cloud setter: kind 'cloud'). */
  serves(user: User): boolean;
  /** Sets the password; the plaintext lives only in memory for this call. */
  setPassword(
    user: User,
    newPassword: string,
    opts: { flowId: string; unlock: boolean },
  ): Promise<SetPasswordResult>;
  /** Unlocks the account without changing its password (cloud: clears `users.locked`; synced: the agent's unlock). */
  unlock(user: User, opts: { flowId: string }): Promise<SetPasswordResult>;
}
