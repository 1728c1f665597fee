/**
 * The email a person gets when their password operation outlived the page ("still pending: we will
 * email you the result"): the final result in the same sentences the page would have shown.
 * Goes through the Outbox (sealed at rest, retried); a user without an email address is audited.
 */

import type { Kysely } from "kysely";
import type { AuditSink } from "../audit/emitter.js";
import { parseTenantSettings } from "../config/tenant-settings.js";
import { t } from "../i18n/index.js";
import type { Outbox } from "../notify/outbox.js";
import type { Database } from "../store/schema.js";
import type { PendingNotifier } from "./service.js";

export const WRITEBACK_RESULT_TEMPLATE = "writeback.result";

export function outboxPendingNotifier(deps: {
  db: Kysely<Database>;
  outbox: Outbox;
  audit: AuditSink;
}): PendingNotifier {
  return async ({ tenantId, user, operationId, outcome }) => {
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
    const applied = outcome.status === "applied";
    const unknown = outcome.status !== "applied" && outcome.code === "OUTCOME_UNKNOWN";
    const sentence = applied
      ? `The new password of your account ${account} is now set. You can sign in with it.`
      : unknown
        ? `About the new password of your account ${account}: ${t("en", outcome.messageId)}`
        : `The new password of your account ${account} was not set. ${t("en", outcome.messageId)}`;
    const headline = applied
      ? "your new password is set"
      : unknown
        ? "we could not confirm your password change"
        : "your password was not changed";
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
