/**
 * Small pieces the account pages share: reading a form field with a length cap, who is asking
 * (ip, user agent, locale), how an error reads for a person, and the password rule checklist.
 */
import type { FastifyRequest } from "fastify";
import type { LatchkeyError } from "../core/errors.js";
import { requestMeta } from "../flows/reset/api-routes.js";
import type { PasswordVerdictPort, RequestMeta } from "../flows/reset/ports.js";
import type { Translate } from "../i18n/index.js";
import type { Tenant } from "../store/schema.js";
import type { FieldError } from "../web/components.js";
import { localeOf } from "./layout.js";

export type RuleList = (
  tenant: Tenant,
) => Array<{ id: string; messageId: string; params?: Record<string, number | string> }>;

export function field(body: unknown, name: string, max = 1024): string {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === "string" ? v.slice(0, max) : "";
}

export function metaOf(req: FastifyRequest): RequestMeta {
  return { ...requestMeta(req), locale: localeOf(req) };
}

export function formatTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().replace("T", " ").slice(0, 16)} UTC`;
}

/** The sentence for an error: the directory's own sentence when it gave one, a time for a lockout. */
export function errorText(t: Translate, e: LatchkeyError): string {
  if (e.code === "THROTTLED" && typeof e.context.until === "number")
    return t("error.throttled_until", { time: formatTime(e.context.until) });
  if (e.code === "PASSWORD_SET_FAILED" && typeof e.context.messageId === "string")
    return t(e.context.messageId);
  return t(e.messageId);
}

/** The rule checklist with a verdict's marks (a rule skipped because another failed is "not checked"). */
export function rulesWithVerdict(
  t: Translate,
  list: ReturnType<RuleList>,
  verdict: PasswordVerdictPort | undefined,
): Array<{ id: string; text: string; ok: boolean | null }> {
  return list.map((r) => {
    const v = verdict?.rules.find((x) => x.id === r.id);
    return { id: r.id, text: t(r.messageId, r.params), ok: v && !v.skipped ? v.ok : null };
  });
}

/** The error summary lines of a refused password, one per failed rule, linked to the field. */
export function verdictErrors(t: Translate, verdict: PasswordVerdictPort, fieldId: string): FieldError[] {
  return verdict.rules
    .filter((r) => !r.ok && !r.skipped)
    .map((r) => ({
      fieldId,
      text: r.unavailable ? t(r.messageId, r.params) : t(`reset.password.rule_failed.${r.id}`),
    }));
}

/** Verdicts as the live checker (static/password-rules.js) reads them. */
export function verdictJson(
  t: Translate,
  list: ReturnType<RuleList>,
  verdict: PasswordVerdictPort,
): { rules: Array<{ id: string; ok: boolean; message: string }> } {
  return {
    rules: verdict.rules.map((r) => {
      const meta = list.find((x) => x.id === r.id);
      return { id: r.id, ok: r.ok, message: t(meta?.messageId ?? r.messageId, meta?.params ?? r.params) };
    }),
  };
}
