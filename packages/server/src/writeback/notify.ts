/**
 * When a person's password operation outlived the page ("still pending: we will email you the
 * result"), this is what happens at its end:
 * - a reset flow waiting in `pending` for it runs its own completion (flows/reset/service.ts
 *   completePending): sessions revoked, the "your password was reset" (or "your account was
 *   unlocked") notice, admin notice, audit — or ends `failed`;
 * - the person is emailed the final result in the same sentences the page would have shown, except
 *   when an applied operation's flow already sent its notice (one email, not two).
 * Mail goes through the Outbox (sealed at rest, retried); a user without an email address is audited.
 */

import { DIRECTORY_ERRORS, type OperationKind } from "@latchkey/protocol";
import type { Kysely } from "kysely";
import type { AuditSink } from "../audit/emitter.js";
import { parseTenantSettings } from "../config/tenant-settings.js";
import type { OperationEnd } from "../flows/reset/service.js";
import { t } from "../i18n/index.js";
import type { Outbox } from "../notify/outbox.js";
import type { Database } from "../store/schema.js";
import { type FinalOutcome, type PendingNotifier, WRITEBACK_ERRORS } from "./service.js";

export const WRITEBACK_RESULT_TEMPLATE = "writeback.result";

/** The reset flow's completion for an operation that ended; true when a flow was waiting for it. */
export type FlowCompletion = (p: {
  tenantId: string;
  userId: string;
  operationId: string;
  end: OperationEnd;
}) => Promise<boolean>;

export function outboxPendingNotifier(deps: {
  db: Kysely<Database>;
  outbox: Outbox;
  audit: AuditSink;
  /** The reset flow's completion (the portal wires ResetService.completePending in). */
  completeFlow?: FlowCompletion;
}): PendingNotifier {
  return async ({ tenantId, user, kind, operationId, outcome }) => {
    // The flow first: its completion must not wait on (or be lost with) the result email.
    const byFlow = deps.completeFlow
      ? await deps.completeFlow({ tenantId, userId: user.id, operationId, end: endOf(outcome) })
      : false;
    if (byFlow && outcome.status === "applied") return;
    if (!user.email) {
      await deps.audit.emit({
        tenantId,
        event: "notification.failed",
        result: "failure",
        target: user.id,
        details: { template: WRITEBACK_RESULT_TEMPLATE, operationId, reasonCode: "no_address" },
      });
      return;
    }
    const tenant = await deps.db
      .selectFrom("tenants")
      .select("settings_json")
      .where("id", "=", tenantId)
      .executeTakeFirst();
    const branding = parseTenantSettings(tenant?.settings_json ?? "{}").branding;
    const name = user.display_name ?? user.given_name ?? user.username;
    const account = user.upn ?? user.username;
    const { sentence, headline } = resultWords(kind, account, outcome);
    await deps.outbox.enqueue({
      tenantId,
      channel: "email",
      template: WRITEBACK_RESULT_TEMPLATE,
      to: user.email,
      subject: `${branding.organisationName}: ${headline}`,
      text:
        `Hello ${name},\n\n${sentence}\n\nIf you did not ask for this, contact your helpdesk now: ` +
        `${branding.helpdeskUrl ?? branding.helpdeskText}\n`,
    });
  };
}

function resultWords(
  kind: OperationKind,
  account: string,
  outcome: FinalOutcome,
): { sentence: string; headline: string } {
  const applied = outcome.status === "applied";
  const unknown = outcome.status !== "applied" && outcome.code === "OUTCOME_UNKNOWN";
  const why = outcome.status === "applied" ? "" : t("en", outcome.messageId);
  if (kind === "unlock") {
    return applied
      ? {
          sentence: `Your account ${account} is unlocked. You can sign in with your current password.`,
          headline: "your account is unlocked",
        }
      : unknown
        ? {
            sentence: `About unlocking your account ${account}: ${why}`,
            headline: "we could not confirm the unlock",
          }
        : {
            sentence: `Your account ${account} was not unlocked. ${why}`,
            headline: "your account was not unlocked",
          };
  }
  return applied
    ? {
        sentence: `The new password of your account ${account} is now set. You can sign in with it.`,
        headline: "your new password is set",
      }
    : unknown
      ? {
          sentence: `About the new password of your account ${account}: ${why}`,
          headline: "we could not confirm your password change",
        }
      : {
          sentence: `The new password of your account ${account} was not set. ${why}`,
          headline: "your password was not changed",
        };
}

function endOf(outcome: FinalOutcome): OperationEnd {
  return outcome.status === "applied"
    ? { status: "applied" }
    : { status: outcome.status, code: outcome.code, messageId: outcome.messageId };
}

/**
 * How an operation ended, from its row; null while it runs (or when there is no row yet). The reset
 * flow asks this once right after it goes `pending`, for an operation that ended in between.
 */
export function operationEndFromStore(db: Kysely<Database>) {
  return async (operationId: string): Promise<OperationEnd | null> => {
    const row = await db
      .selectFrom("writeback_operations")
      .select(["state", "result_code", "completed_at"])
      .where("id", "=", operationId)
      .executeTakeFirst();
    if (!row || row.completed_at === null) return null;
    if (row.state === "succeeded") return { status: "applied" };
    const code = row.result_code ?? "DIRECTORY_ERROR";
    const known =
      (DIRECTORY_ERRORS as Record<string, { messageId: string }>)[code] ??
      (WRITEBACK_ERRORS as Record<string, { messageId: string }>)[code];
    return {
      status: "failed",
      code,
      messageId: known?.messageId ?? DIRECTORY_ERRORS.DIRECTORY_ERROR.messageId,
    };
  };
}
