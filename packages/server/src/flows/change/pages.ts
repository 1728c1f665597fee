/**
 * Password change as server-rendered pages:
 * - /account/password: a signed-in person types the current password and the new one (twice), with
 *   the reset's live rule checklist (static/password-rules.js posts to /account/password/check);
 * - /account/password/expired: the forced change after sign-in found the password expired or
 *   marked must-change; the old password is already proven and held sealed by the flow, so only the
 *   new one is asked for. Afterwards the person signs in with the new password.
 * The directory's refusals (history, minimum age, complexity) show as their own plain sentences.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { clearFlowCookie, readFlowCookie } from "../../account/flow-store.js";
import { type AccountGuard, csrfOf, requireCsrf, SIGN_IN_PATH, type SignedIn } from "../../account/guard.js";
import { ACCOUNT_PATHS, sendAccountPage, translatorFor } from "../../account/layout.js";
import {
  errorText,
  field,
  metaOf,
  type RuleList,
  rulesWithVerdict,
  verdictErrors,
  verdictJson,
} from "../../account/page-helpers.js";
import { isLatchkeyError, type LatchkeyError } from "../../core/errors.js";
import type { Translate } from "../../i18n/index.js";
import type { Tenant } from "../../store/schema.js";
import {
  button,
  type FieldError,
  fieldId,
  form,
  linkButton,
  notice,
  PASSWORD_RULES_SCRIPT,
  panel,
  passwordInput,
  passwordRules,
} from "../../web/components.js";
import { html, type SafeHtml } from "../../web/html.js";
import type { PasswordVerdictPort } from "../reset/ports.js";
import { PasswordRejectedError } from "../reset/service.js";
import type { ChangeService, ForcedView } from "./service.js";

export const CHANGE_COOKIE = "lk_change";
export const FORCED_CHANGE_PATH = "/account/password/expired";

export interface ChangePageOptions {
  change: ChangeService;
  guard: AccountGuard;
  getTenant(req: FastifyRequest): Promise<Tenant>;
  cookie: { secure: boolean };
  ruleList: RuleList;
}

interface FormState {
  errors?: FieldError[];
  fieldErrors?: Record<string, string>;
  verdict?: PasswordVerdictPort;
}

/** A refused change as form state: rule failures, a mismatch, a wrong old password, the directory's sentence. */
function stateOf(e: LatchkeyError, t: Translate): FormState {
  if (e instanceof PasswordRejectedError) {
    return {
      verdict: e.verdict,
      errors: verdictErrors(t, e.verdict, fieldId("password")),
      fieldErrors: { password: t("error.password_rejected") },
    };
  }
  if (e.code === "VALIDATION_FAILED" && e.context.field === "confirm")
    return one("confirm", t("reset.password.error.mismatch"));
  if (e.code === "VALIDATION_FAILED" && typeof e.context.field === "string" && e.context.field !== "")
    return one(e.context.field, t(String(e.context.text ?? "error.validation_failed")));
  if (e.code === "OLD_PASSWORD_WRONG") return one("current", t(e.messageId));
  return { errors: [{ text: errorText(t, e) }] };
}

function one(name: string, text: string): FormState {
  return { errors: [{ fieldId: fieldId(name), text }], fieldErrors: { [name]: text } };
}

export async function changePages(app: FastifyInstance, opts: ChangePageOptions): Promise<void> {
  const { change } = opts;

  function passwordFields(t: Translate, tenant: Tenant, state: FormState, withCurrent: boolean): SafeHtml {
    const fe = state.fieldErrors ?? {};
    return html`${passwordRules({
      rules: rulesWithVerdict(t, opts.ruleList(tenant), state.verdict),
      id: "password-rules",
      title: t("reset.password.rules.title"),
      t,
    })}
${
  withCurrent
    ? passwordInput({
        name: "current",
        label: t("account.password.current.label"),
        autocomplete: "current-password",
        error: fe.current,
        t,
      })
    : null
}
${passwordInput({
  name: "password",
  label: t("account.password.new.label"),
  autocomplete: "new-password",
  checkRulesId: "password-rules",
  error: fe.password,
  t,
})}
${passwordInput({
  name: "confirm",
  label: t("account.password.confirm.label"),
  autocomplete: "new-password",
  showToggle: false,
  error: fe.confirm,
  t,
})}`;
  }

  // ——— signed in ———

  function renderChange(
    req: FastifyRequest,
    reply: FastifyReply,
    s: SignedIn,
    state: FormState = {},
    status = 200,
  ): FastifyReply {
    const t = translatorFor(req);
    return sendAccountPage(
      reply,
      {
        req,
        signedIn: s,
        section: "password",
        title: t("account.password.title"),
        ...(state.errors ? { errors: state.errors } : {}),
        scripts: [PASSWORD_RULES_SCRIPT],
        body: html`<h1>${t("account.password.title")}</h1>
<p class="lead">${t("account.password.lead")}</p>
${form({
  action: ACCOUNT_PATHS.password,
  csrf: s.csrfToken,
  data: { "check-url": `${ACCOUNT_PATHS.password}/check` },
  body: html`${passwordFields(t, s.tenant, state, true)}
${button({ text: t("account.password.submit") })}`,
})}`,
      },
      status,
    );
  }

  app.get(ACCOUNT_PATHS.password, async (req, reply) => {
    const s = await opts.guard(req, reply);
    if (!s) return reply;
    return renderChange(req, reply, s);
  });

  app.post(ACCOUNT_PATHS.password, async (req, reply) => {
    const s = await opts.guard(req, reply);
    if (!s) return reply;
    const t = translatorFor(req);
    const current = field(req.body, "current");
    const password = field(req.body, "password");
    const confirm = field(req.body, "confirm");
    try {
      requireCsrf(s, csrfOf(req));
      if (!current)
        return renderChange(req, reply, s, one("current", t("account.password.error.current_required")), 400);
      if (!password)
        return renderChange(req, reply, s, one("password", t("reset.password.error.required")), 400);
      if (!confirm)
        return renderChange(req, reply, s, one("confirm", t("reset.password.error.confirm_required")), 400);
      await change.change({
        tenant: s.tenant,
        user: s.user,
        oldPassword: current,
        newPassword: password,
        confirm,
        meta: metaOf(req),
        keepSessionId: s.session.id,
      });
    } catch (e) {
      if (!isLatchkeyError(e)) throw e;
      return renderChange(req, reply, s, stateOf(e, t), e.status);
    }
    return sendAccountPage(reply, {
      req,
      signedIn: s,
      section: "password",
      title: t("account.password.done.title"),
      body: html`${panel({
        title: t("account.password.done.title"),
        body: html`<p>${t("account.password.done.body")}</p>`,
      })}
${linkButton({ href: ACCOUNT_PATHS.overview, text: t("account.password.done.continue"), variant: "secondary" })}`,
    });
  });

  app.post(`${ACCOUNT_PATHS.password}/check`, async (req, reply) => {
    const s = await opts.guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, csrfOf(req));
    const verdict = await change.check(s.tenant, s.user, field(req.body, "password"));
    return verdictJson(translatorFor(req), opts.ruleList(s.tenant), verdict);
  });

  // ——— forced (expired / must change) ———

  function renderForced(
    req: FastifyRequest,
    reply: FastifyReply,
    tenant: Tenant,
    view: ForcedView,
    state: FormState = {},
    status = 200,
  ): FastifyReply {
    const t = translatorFor(req);
    const key = view.reason === "expired" ? "expired" : "must_change";
    return sendAccountPage(
      reply,
      {
        req,
        signedIn: null,
        tenant,
        section: null,
        title: t(`account.password.${key}.title`),
        csrf: view.csrf,
        ...(state.errors ? { errors: state.errors } : {}),
        scripts: [PASSWORD_RULES_SCRIPT],
        body: html`<h1>${t(`account.password.${key}.title`)}</h1>
<p class="lead">${t(`account.password.${key}.lead`)}</p>
${form({
  action: FORCED_CHANGE_PATH,
  csrf: view.csrf,
  data: { "check-url": `${FORCED_CHANGE_PATH}/check` },
  body: html`${passwordFields(t, tenant, state, false)}
${button({ text: t("account.password.submit") })}`,
})}`,
      },
      status,
    );
  }

  function backToSignIn(req: FastifyRequest, reply: FastifyReply, tenant: Tenant, e?: LatchkeyError) {
    clearFlowCookie(reply, CHANGE_COOKIE, opts.cookie);
    const t = translatorFor(req);
    return sendAccountPage(
      reply,
      {
        req,
        signedIn: null,
        tenant,
        section: null,
        title: t("account.sign_in.title"),
        body: html`<h1>${t("account.sign_in.title")}</h1>
${notice({ kind: "warning", body: e ? errorText(t, e) : t("error.flow_not_found"), role: "status" })}
${linkButton({ href: SIGN_IN_PATH, text: t("account.sign_in.submit"), variant: "primary" })}`,
      },
      e?.status ?? 404,
    );
  }

  app.get(FORCED_CHANGE_PATH, async (req, reply) => {
    const tenant = await opts.getTenant(req);
    const bound = readFlowCookie(req, CHANGE_COOKIE);
    if (!bound) return reply.redirect(SIGN_IN_PATH, 303);
    try {
      return renderForced(req, reply, tenant, await change.viewForced(tenant, bound.flowId, bound.binding));
    } catch (e) {
      if (!isLatchkeyError(e)) throw e;
      return backToSignIn(req, reply, tenant, e);
    }
  });

  app.post(FORCED_CHANGE_PATH, async (req, reply) => {
    const tenant = await opts.getTenant(req);
    const t = translatorFor(req);
    const bound = readFlowCookie(req, CHANGE_COOKIE);
    if (!bound) return reply.redirect(SIGN_IN_PATH, 303);
    const password = field(req.body, "password");
    const confirm = field(req.body, "confirm");
    const step = { flowId: bound.flowId, binding: bound.binding, csrf: field(req.body, "_csrf", 200) };
    let next: string;
    try {
      if (!password || !confirm) {
        const view = await change.viewForced(tenant, bound.flowId, bound.binding);
        const state = !password
          ? one("password", t("reset.password.error.required"))
          : one("confirm", t("reset.password.error.confirm_required"));
        return renderForced(req, reply, tenant, view, state, 400);
      }
      ({ next } = await change.completeForced(tenant, step, { newPassword: password, confirm }, metaOf(req)));
    } catch (e) {
      if (!isLatchkeyError(e)) throw e;
      if (
        ["FLOW_NOT_FOUND", "FLOW_EXPIRED", "CSRF_MISMATCH", "OLD_PASSWORD_WRONG", "THROTTLED"].includes(
          e.code,
        )
      )
        return backToSignIn(req, reply, tenant, e);
      const view = await change.viewForced(tenant, bound.flowId, bound.binding).catch(() => null);
      if (!view) return backToSignIn(req, reply, tenant, e);
      return renderForced(req, reply, tenant, view, stateOf(e, t), e.status);
    }
    clearFlowCookie(reply, CHANGE_COOKIE, opts.cookie);
    return sendAccountPage(reply, {
      req,
      signedIn: null,
      tenant,
      section: null,
      title: t("account.password.done.title"),
      body: html`${panel({
        title: t("account.password.done.title"),
        body: html`<p>${t("account.password.done.body")}</p>`,
      })}
${linkButton({
  href: `${SIGN_IN_PATH}?next=${encodeURIComponent(next)}`,
  text: t("account.password.done.sign_in"),
  variant: "primary",
})}`,
    });
  });

  app.post(`${FORCED_CHANGE_PATH}/check`, async (req, reply) => {
    const tenant = await opts.getTenant(req);
    const bound = readFlowCookie(req, CHANGE_COOKIE);
    if (!bound)
      return reply.code(404).send({ error: { code: "FLOW_NOT_FOUND", messageId: "error.flow_not_found" } });
    const user = await change.forcedUser(tenant, {
      flowId: bound.flowId,
      binding: bound.binding,
      csrf: csrfOf(req),
    });
    const verdict = await change.check(tenant, user, field(req.body, "password"));
    return verdictJson(translatorFor(req), opts.ruleList(tenant), verdict);
  });
}
