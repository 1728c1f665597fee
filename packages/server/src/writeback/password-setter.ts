/**
 * The reset flow's PasswordSetter for synced accounts: the new password goes to the user's
 * directory as a sealed `reset` operation through an online agent (WritebackService). It serves a
 * synced, not deleted user only while an agent serving their directory is online (on this instance
 * or, per the store, on another one),
 * so eligibility's `writeback_available` fails closed when none is.
 */
import type { PasswordSetter, SetPasswordResult } from "../flows/reset/password-setter.js";
import type { User } from "../store/schema.js";
import type { WritebackOutcome, WritebackService } from "./service.js";

export class AgentPasswordSetter implements PasswordSetter {
  constructor(private readonly writeback: WritebackService) {}

  serves(user: User): boolean {
    return this.writeback.canServe(user);
  }

  async setPassword(
    user: User,
    newPassword: string,
    opts: { flowId: string; unlock: boolean },
  ): Promise<SetPasswordResult> {
    const outcome = await this.writeback.submit({
      tenantId: user.tenant_id,
      user,
      kind: "reset",
      secrets: { newPassword },
      // An AD reset does not unlock; the flow asks for the unlock a self-service reset implies.
      options: { unlock: opts.unlock },
      flowId: opts.flowId,
    });
    return toResult(outcome);
  }

  /** "Unlock only": the agent's unlock operation (AD lockoutTime 0; ppolicy: the lockout attributes removed). */
  async unlock(user: User, opts: { flowId: string }): Promise<SetPasswordResult> {
    const outcome = await this.writeback.submit({
      tenantId: user.tenant_id,
      user,
      kind: "unlock",
      secrets: {},
      flowId: opts.flowId,
    });
    return toResult(outcome);
  }
}

function toResult(outcome: WritebackOutcome): SetPasswordResult {
  if (outcome.status === "applied") return { ok: true };
  if (outcome.status === "pending") return { ok: "pending", operationId: outcome.operationId };
  return { ok: false, code: outcome.code, messageId: outcome.messageId };
}
