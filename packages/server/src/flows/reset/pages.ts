/**
 * The reset flow as server-rendered pages under /reset. They work without JavaScript (forms,
 * POST-redirect-GET) and under the strict CSP (no inline script or style); scripts only enhance
 * (the captcha widget, live password rules). The flow id and binding secret ride in the HttpOnly
 * cookie, so the URL never carries them.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { MethodType } from "../../config/tenant-settings.js";
import { parseTenantSettings } from "../../config/tenant-settings.js";
import { type Clock, systemClock } from "../../core/clock.js";
import { isLatchkeyError, LatchkeyError } from "../../core/errors.js";
import { negotiateLocale, type Translate, translator } from "../../i18n/index.js";
import { PASSKEY_SCRIPTS } from "../../methods/passkey/index.js";
import type { Tenant } from "../../store/schema.js";
import {
  answerField,
  button,
  CAPTCHA_ASSETS,
  CAPTCHA_FIELD,
  CODE_FIELD,
  captchaWidget,
  challengeFields,
  errorSummary,
  type FieldError,
  fieldId,
  form,
  linkButton,
  notice,
  PASSWORD_RULES_SCRIPT,
  panel,
  passwordInput,
  passwordRules,
  radioGroup,
  textInput,
  usernameInput,
} from "../../web/components.js";
import { html, type SafeHtml } from "../../web/html.js";
import { renderPage } from "../../web/layout.js";
import { sendPage } from "../../web/security-headers.js";
import { requestMeta } from "./api-routes.js";
import { type CookieOptions, readBinding, setBinding } from "./binding-cookie.js";
import type { PasswordVerdictPort } from "./ports.js";
import { PasswordRejectedError, type ResetService, type ResetView, type StepInput } from "./service.js";

export interface ResetPageOptions {
  service: ResetService;
  /** The service's clock, for "the code expires in N minutes" (default: the system clock). */
  clock?: Clock;
  getTenant(req: FastifyRequest): Promise<Tenant>;
  cookie: CookieOptions;
  /** Password rule ids and their parameters for the checklist, for a tenant's policy. */
  ruleList(
    tenant: Tenant,
  ): Array<{ id: string; messageId: string; params?: Record<string, number | string> }>;
}

type Body = Record<string, unknown>;

function field(body: unknown, name: string, max = 1024): string {
  const v = (body as Body | undefined)?.[name];
  return typeof v === "string" ? v.slice(0, max) : "";
}

interface PageState {
  errors?: FieldError[];
  fieldErrors?: Record<string, string>;
  values?: Record<string, string>;
  verdict?: PasswordVerdictPort;
  banner?: SafeHtml;
}

export async function resetPages(app: FastifyInstance, opts: ResetPageOptions): Promise<void> {
  const { service } = opts;
  const clock = opts.clock ?? systemClock;

  function localeOf(req: FastifyRequest): string {
    return negotiateLocale(req.headers["accept-language"]);
  }

  function stepOf(req: FastifyRequest, tenant: Tenant): StepInput | null {
    const bound = readBinding(req);
    if (!bound) return null;
    return {
      tenant,
      flowId: bound.flowId,
      binding: bound.binding,
      csrf: field(req.body, "_csrf", 200),
      meta: { ...requestMeta(req), locale: localeOf(req) },
    };
  }

  function errorText(t: Translate, e: LatchkeyError): string {
    if (e.code === "THROTTLED" && typeof e.context.until === "number") {
      return t("error.throttled_until", { time: formatTime(e.context.until) });
    }
    // The directory's refusal in its own plain sentence, never its raw diagnostic.
    if (
      (e.code === "PASSWORD_SET_FAILED" || e.code === "UNLOCK_FAILED") &&
      typeof e.context.messageId === "string"
    ) {
      return t(e.context.messageId);
    }
    return t(e.messageId);
  }

  async function render(
    req: FastifyRequest,
    reply: FastifyReply,
    tenant: Tenant,
    view: ResetView,
    state: PageState = {},
    status = 200,
  ): Promise<FastifyReply> {
    const lang = localeOf(req);
    const t = translator(lang);
    const settings = parseTenantSettings(tenant.settings_json);
    const page = pageFor(t, tenant, view, state);
    return sendPage(
      reply,
      renderPage({
        title: page.title,
        lang,
        branding: settings.branding,
        tenant: tenant.slug,
        csrf: view.csrf,
        hasErrors: (state.errors?.length ?? 0) > 0,
        body: html`${state.errors && errorSummary({ errors: state.errors, t })}${state.banner}${page.body}`,
        scripts: page.scripts ?? [],
        stylesheets: page.stylesheets ?? [],
      }),
      status,
    );
  }

  function pageFor(
    t: Translate,
    tenant: Tenant,
    view: ResetView,
    state: PageState,
  ): {
    title: string;
    body: SafeHtml;
    scripts?: Array<string | { src: string; module?: boolean }>;
    stylesheets?: string[];
  } {
    const fe = state.fieldErrors ?? {};
    switch (view.state) {
      case "identify":
        return {
          title: t("reset.identify.title"),
          scripts: [...CAPTCHA_ASSETS.scripts],
          stylesheets: [...CAPTCHA_ASSETS.stylesheets],
          body: html`<h1>${t("reset.identify.title")}</h1>
<p class="lead">${t("reset.identify.lead")}</p>
${form({
  action: "/reset/identify",
  csrf: view.csrf,
  body: html`${usernameInput({
    name: "username",
    label: t("reset.identify.username.label"),
    hint: t("reset.identify.username.hint"),
    value: state.values?.username ?? "",
    error: fe.username,
    t,
  })}
${captchaWidget({ t, ...(fe[CAPTCHA_FIELD] ? { error: fe[CAPTCHA_FIELD] } : {}) })}
${button({ text: t("reset.identify.submit") })}`,
})}`,
        };
      case "verify": {
        const stepLine =
          view.gatesRequired !== null && view.gatesRequired > 1
            ? html`<p class="caption">${t("reset.choose.gate", { gate: view.gatesPassed + 1, gates: view.gatesRequired })}</p>`
            : null;
        if (view.challenge) {
          const prompt = view.challenge.prompt;
          const title =
            prompt.kind === "questions"
              ? t("reset.questions.title")
              : prompt.kind === "totp"
                ? t("reset.totp.title")
                : prompt.kind === "passkey"
                  ? t("reset.passkey.title")
                  : t("reset.code.title");
          return {
            title,
            // The passkey ceremony runs in the browser (static/passkey.js); it posts the assertion as "passkey".
            ...(prompt.kind === "passkey" ? { scripts: [...PASSKEY_SCRIPTS] } : {}),
            body: html`${stepLine}<h1>${title}</h1>
${form({
  action: "/reset/verify",
  csrf: view.csrf,
  body: html`${challengeFields({ prompt, t, errors: fe, now: clock.now() })}
${button({ text: t("reset.code.submit") })}`,
})}
${form({
  action: "/reset/choose",
  csrf: view.csrf,
  body: button({ text: t("reset.choose_another"), variant: "secondary" }),
})}`,
          };
        }
        const strict = view.disclosure === "strict";
        const options = view.methods.map((m) => ({
          value: m.type,
          label:
            strict || !m.hint ? t(`reset.choose.strict_method.${m.type}`) : methodLabel(t, m.type, m.hint),
        }));
        return {
          title: t("reset.choose.title"),
          body: html`${stepLine}${
            view.gatesPassed > 0
              ? notice({ kind: "info", body: t("reset.choose.second_gate"), role: "status" })
              : null
          }
${form({
  action: "/reset/challenge",
  csrf: view.csrf,
  body: html`${radioGroup({
    name: "method",
    legend: t("reset.choose.legend"),
    legendIsPageHeading: true,
    hint: strict ? t("reset.choose.strict_hint") : t("reset.choose.hint"),
    options,
    value: state.values?.method ?? "",
    error: fe.method,
    t,
  })}
${
  strict && view.methods.some((m) => m.needsContact)
    ? textInput({
        name: "contact",
        label: t("reset.strict.contact.label"),
        hint: t("reset.strict.contact.hint"),
        value: state.values?.contact ?? "",
        error: fe.contact,
        autocomplete: "off",
        spellcheck: false,
        autocapitalize: "none",
        maxlength: 256,
        t,
      })
    : null
}
${button({ text: t("reset.choose.submit") })}`,
})}`,
        };
      }
      case "new_password": {
        const rules = opts.ruleList(tenant).map((r) => {
          const verdict = state.verdict?.rules.find((v) => v.id === r.id);
          // A rule skipped because another failed is shown as not checked, not as failed.
          return {
            id: r.id,
            text: t(r.messageId, r.params),
            ok: verdict && !verdict.skipped ? verdict.ok : null,
          };
        });
        const passwordForm = form({
          action: "/reset/password",
          csrf: view.csrf,
          data: { "check-url": "/reset/password/check" },
          body: html`${passwordRules({ rules, id: "password-rules", title: t("reset.password.rules.title"), t })}
${passwordInput({
  name: "password",
  label: t("reset.password.new.label"),
  autocomplete: "new-password",
  checkRulesId: "password-rules",
  error: fe.password,
  t,
})}
${passwordInput({
  name: "confirm",
  label: t("reset.password.confirm.label"),
  autocomplete: "new-password",
  showToggle: false,
  error: fe.confirm,
  t,
})}
${button({ text: t("reset.password.submit") })}`,
        });
        if (view.unlockOffered) {
          // A locked account chooses: unlock and keep the password, or set a new one. Both are forms
          // of their own, so each works without JavaScript.
          return {
            title: t("reset.locked.title"),
            scripts: [PASSWORD_RULES_SCRIPT],
            body: html`<h1>${t("reset.locked.title")}</h1>
<p class="lead">${t("reset.locked.lead")}</p>
<section aria-labelledby="unlock-only">
<h2 id="unlock-only">${t("reset.locked.unlock.heading")}</h2>
<p>${t("reset.locked.unlock.body")}</p>
${form({
  action: "/reset/unlock",
  csrf: view.csrf,
  body: button({ text: t("reset.locked.unlock.submit"), variant: "secondary" }),
})}
</section>
<section aria-labelledby="new-password">
<h2 id="new-password">${t("reset.locked.password.heading")}</h2>
<p>${t("reset.password.lead")} ${
              view.resetUnlocks ? t("reset.locked.password.unlocks") : t("reset.locked.password.stays_locked")
            }</p>
${passwordForm}
</section>`,
          };
        }
        return {
          title: t("reset.password.title"),
          scripts: [PASSWORD_RULES_SCRIPT],
          body: html`<h1>${t("reset.password.title")}</h1>
<p class="lead">${t("reset.password.lead")}</p>
${passwordForm}`,
        };
      }
      case "completed":
        return {
          title: t("reset.done.title"),
          body: panel({
            title: t("reset.done.title"),
            body: html`<p>${t("reset.done.body")}</p>${
              view.unlocked ? html`<p>${t("reset.done.unlocked")}</p>` : null
            }<p>${t("reset.done.email_sent")}</p>`,
          }),
        };
      case "unlocked":
        return {
          title: t("reset.unlocked.title"),
          body: panel({
            title: t("reset.unlocked.title"),
            body: html`<p>${t("reset.unlocked.body")}</p><p>${t("reset.done.email_sent")}</p>`,
          }),
        };
      case "pending":
        // The operation goes on without the person; reloading shows where it got to.
        return {
          title: t("reset.pending.title"),
          body: html`<h1>${t("reset.pending.title")}</h1>
${notice({ kind: "info", body: t(view.kind === "unlock" ? "unlock.pending" : "password.pending"), role: "status" })}
${linkButton({ href: "/reset", text: t("reset.pending.check"), variant: "secondary" })}`,
        };
      case "failed": {
        const title = view.kind === "unlock" ? t("reset.unlock_failed.title") : t("reset.refused.title");
        return {
          title,
          body: html`<h1>${title}</h1>
<p>${t(view.messageId)}</p>
${linkButton({ href: "/reset/new", text: t("reset.start_again"), variant: "secondary" })}`,
        };
      }
      case "blocked": {
        if (view.reason === "throttled") {
          return {
            title: t("reset.throttled.title"),
            body: html`<h1>${t("reset.throttled.title")}</h1>
<p>${
              view.lockedUntil
                ? t("reset.throttled.body_until", { time: formatTime(view.lockedUntil) })
                : t("error.throttled")
            }</p>
${linkButton({ href: "/reset/new", text: t("reset.start_again"), variant: "secondary" })}`,
          };
        }
        return {
          title: t("reset.ineligible.title"),
          body: html`<h1>${t("reset.ineligible.title")}</h1>
<p>${t("reset.ineligible.body")}</p>
${
  view.adminContacted
    ? notice({ kind: "success", body: t("reset.ineligible.notified"), role: "status" })
    : form({
        action: "/reset/contact-admin",
        csrf: view.csrf,
        body: button({ text: t("reset.ineligible.notify_button"), variant: "secondary" }),
      })
}`,
        };
      }
    }
  }

  /** Starts a new flow, sets its cookie and renders its first page. */
  async function fresh(req: FastifyRequest, reply: FastifyReply, tenant: Tenant, banner?: SafeHtml) {
    const { view, binding } = await service.start(tenant, { ...requestMeta(req), locale: localeOf(req) });
    setBinding(reply, view.flowId, binding, opts.cookie);
    return render(req, reply, tenant, view, banner ? { banner } : {});
  }

  app.get<{ Querystring: { new?: string } }>("/reset", async (req, reply) => {
    const tenant = await opts.getTenant(req);
    // "Start again" (/reset/new → /reset?new=1) leaves the flow in the cookie behind: without this,
    // a blocked or finished flow came back instead of a new one.
    const bound = req.query.new === undefined ? readBinding(req) : null;
    if (bound) {
      try {
        const view = await service.view(tenant, bound.flowId, bound.binding);
        return render(req, reply, tenant, view);
      } catch (e) {
        if (!isLatchkeyError(e)) throw e;
        if (e.code === "FLOW_EXPIRED") {
          const t = translator(localeOf(req));
          return fresh(
            req,
            reply,
            tenant,
            notice({ kind: "warning", body: t("error.flow_expired"), role: "status" }),
          );
        }
        if (e.code !== "FLOW_NOT_FOUND") throw e;
      }
    }
    return fresh(req, reply, tenant);
  });

  app.get("/reset/new", async (_req, reply) => reply.redirect("/reset?new=1", 303));

  /**
   * Runs a POST step: on success redirect to /reset (POST-redirect-GET); on a person's error render
   * the current page again with the error summary; without a live flow, start again.
   */
  async function post(
    req: FastifyRequest,
    reply: FastifyReply,
    run: (step: StepInput) => Promise<ResetView>,
    onError: (e: LatchkeyError, t: Translate) => PageState,
    onSuccess?: (view: ResetView, tenant: Tenant) => Promise<FastifyReply>,
  ) {
    const tenant = await opts.getTenant(req);
    const step = stepOf(req, tenant);
    const t = translator(localeOf(req));
    if (!step) return fresh(req, reply, tenant);
    try {
      const view = await run(step);
      return onSuccess ? onSuccess(view, tenant) : reply.redirect("/reset", 303);
    } catch (e) {
      if (!isLatchkeyError(e)) throw e;
      if (e.code === "FLOW_NOT_FOUND" || e.code === "FLOW_EXPIRED") {
        return fresh(req, reply, tenant, notice({ kind: "warning", body: t(e.messageId), role: "status" }));
      }
      let view: ResetView;
      try {
        view = await service.view(tenant, step.flowId, step.binding);
      } catch {
        return fresh(req, reply, tenant);
      }
      const state = onError(e, t);
      if (view.state === "blocked") return render(req, reply, tenant, view, {}, e.status);
      return render(req, reply, tenant, view, state, e.status);
    }
  }

  app.post("/reset/identify", async (req, reply) => {
    const username = field(req.body, "username", 300).trim();
    const captcha = field(req.body, CAPTCHA_FIELD, 4096);
    const t = translator(localeOf(req));
    const errors: Record<string, string> = {};
    if (!username) errors.username = t("reset.identify.error.username_required");
    else if (username.length > 256)
      errors.username = t("reset.identify.error.username_too_long", { max: 256 });
    if (!captcha) errors[CAPTCHA_FIELD] = t("reset.identify.error.captcha_required");
    if (Object.keys(errors).length > 0) {
      return post(
        req,
        reply,
        async () => {
          throw new ValidationPageError();
        },
        () => pageErrors(errors, { username }),
      );
    }
    return post(
      req,
      reply,
      (step) => service.identify(step, { username, captcha }),
      (e, tt) =>
        e.code === "CAPTCHA_FAILED"
          ? pageErrors({ [CAPTCHA_FIELD]: tt(e.messageId) }, { username })
          : { errors: [{ text: errorText(tt, e) }], values: { username } },
    );
  });

  app.post("/reset/challenge", async (req, reply) => {
    const method = field(req.body, "method", 20);
    const contact = field(req.body, "contact", 256).trim();
    return post(
      req,
      reply,
      async (step) => {
        if (!method) throw new ValidationPageError("method");
        return service.startChallenge(step, { method, ...(contact ? { contact } : {}) });
      },
      (e, t) => {
        if (
          e instanceof ValidationPageError ||
          (e.code === "VALIDATION_FAILED" && e.context.field !== "contact")
        ) {
          return pageErrors({ method: t("reset.choose.error.required") }, { method, contact });
        }
        if (e.code === "VALIDATION_FAILED") {
          return pageErrors({ contact: t("reset.strict.error.contact_required") }, { method, contact });
        }
        return { errors: [{ text: errorText(t, e) }], values: { method, contact } };
      },
    );
  });

  app.post("/reset/verify", async (req, reply) => {
    const body = (req.body ?? {}) as Body;
    const code = field(body, CODE_FIELD, 40).replace(/[\s-]/g, "");
    const answers: Record<string, string> = {};
    for (const [k, v] of Object.entries(body)) {
      if (k.startsWith("answer.") && typeof v === "string" && k.length <= 47)
        answers[k.slice(7)] = v.slice(0, 200);
    }
    const passkey = field(body, "passkey", 40_000);
    const response: Record<string, unknown> = passkey
      ? { assertion: parseAssertion(passkey) }
      : Object.keys(answers).length > 0
        ? { answers }
        : { code };
    return post(
      req,
      reply,
      (step) => service.verifyChallenge(step, { response }),
      (e, t) => {
        if (e.code === "VERIFICATION_FAILED") {
          if (passkey) return { errors: [{ text: t("reset.passkey.error.failed") }] };
          if (Object.keys(answers).length > 0) {
            const first = Object.keys(answers)[0] ?? "";
            return {
              errors: [{ fieldId: fieldId(answerField(first)), text: t("reset.questions.error.wrong") }],
              fieldErrors: { [answerField(first)]: t("reset.questions.error.wrong") },
            };
          }
          return pageErrors({ [CODE_FIELD]: t("reset.code.error.wrong") }, {});
        }
        return { errors: [{ text: errorText(t, e) }] };
      },
    );
  });

  app.post("/reset/choose", async (req, reply) =>
    post(
      req,
      reply,
      (step) => service.clearChallenge(step),
      (e, t) => ({ errors: [{ text: errorText(t, e) }] }),
    ),
  );

  app.post("/reset/password", async (req, reply) => {
    const password = field(req.body, "password", 1024);
    const confirm = field(req.body, "confirm", 1024);
    return post(
      req,
      reply,
      async (step) => {
        if (!password) throw new ValidationPageError("password");
        if (!confirm) throw new ValidationPageError("confirm");
        return service.setPassword(step, { password, confirm });
      },
      (e, t) => {
        if (e instanceof ValidationPageError) {
          return e.field === "password"
            ? pageErrors({ password: t("reset.password.error.required") }, {})
            : pageErrors({ confirm: t("reset.password.error.confirm_required") }, {});
        }
        if (e instanceof PasswordRejectedError) {
          // Skipped rules did not fail (the e2e test saw "You have used this password before" for a
          // new password that was only banned); an unavailable one says so rather than "failed".
          const failing = e.verdict.rules.filter((r) => !r.ok && !r.skipped);
          return {
            verdict: e.verdict,
            errors: failing.map((r) => ({
              fieldId: "password",
              text: r.unavailable ? t(r.messageId, r.params) : t(`reset.password.rule_failed.${r.id}`),
            })),
            fieldErrors: { password: t("error.password_rejected") },
          };
        }
        if (e.code === "VALIDATION_FAILED" && e.context.field === "confirm") {
          return pageErrors({ confirm: t("reset.password.error.mismatch") }, {});
        }
        return { errors: [{ text: errorText(t, e) }] };
      },
    );
  });

  app.post("/reset/unlock", async (req, reply) =>
    post(
      req,
      reply,
      (step) => service.unlock(step),
      (e, t) => ({ errors: [{ text: errorText(t, e) }] }),
    ),
  );

  // Live rule verdicts for the new-password page (password-rules.js); the CSRF token comes in a header.
  app.post("/reset/password/check", async (req, reply) => {
    const tenant = await opts.getTenant(req);
    const bound = readBinding(req);
    const csrf = req.headers["x-csrf-token"];
    const password = field(req.body, "password", 1024);
    const t = translator(localeOf(req));
    if (!bound)
      return reply.code(404).send({ error: { code: "FLOW_NOT_FOUND", messageId: "error.flow_not_found" } });
    const verdict = await service.checkPassword(
      {
        tenant,
        flowId: bound.flowId,
        binding: bound.binding,
        csrf: typeof csrf === "string" ? csrf : "",
        meta: requestMeta(req),
      },
      password,
    );
    const list = opts.ruleList(tenant);
    return {
      rules: verdict.rules.map((r) => {
        const meta = list.find((x) => x.id === r.id);
        return { id: r.id, ok: r.ok, message: t(meta?.messageId ?? r.messageId, meta?.params ?? r.params) };
      }),
    };
  });

  app.post("/reset/contact-admin", async (req, reply) =>
    post(
      req,
      reply,
      (step) => service.contactAdmin(step),
      (e, t) => ({ errors: [{ text: errorText(t, e) }] }),
      // Rendered at once: "we told your administrator" is an answer to this request, not a flow state.
      (view, tenant) => render(req, reply, tenant, view),
    ),
  );
}

/** The passkey assertion static/passkey.js posted (JSON); the method validates its shape. */
function parseAssertion(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return null;
  }
}

function pageErrors(fields: Record<string, string>, values: Record<string, string>): PageState {
  return {
    errors: Object.entries(fields).map(([name, text]) => ({ fieldId: fieldId(name), text })),
    fieldErrors: fields,
    values,
  };
}

function methodLabel(t: Translate, type: MethodType, hint: string): string {
  return t(`reset.choose.method.${type}`, { masked: hint });
}

function formatTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().replace("T", " ").slice(0, 16)} UTC`;
}

/** A form field the person left empty: caught by `post` and shown on the same page. */
class ValidationPageError extends LatchkeyError {
  constructor(readonly field = "") {
    super("VALIDATION_FAILED", "a required field is empty", { field });
  }
}
