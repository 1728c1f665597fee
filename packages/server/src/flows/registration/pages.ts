/**
 * "Ways to confirm it is you" as server-rendered pages under /account/methods, inside the account
 * frame (account/layout.ts). Forms and POST-redirect-GET, no inline script; the passkey ceremonies
 * are the only part that needs JavaScript (static/passkey.js with the @simplewebauthn/browser
 * bundle, both same-origin). The interrupts after sign-in land here: ?interrupt=register ("set up
 * ways to confirm it is you") and ?interrupt=review ("are these still right?").
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AccountGuard, SignedIn } from "../../account/guard.js";
import { requireCsrf } from "../../account/guard.js";
import { ACCOUNT_PATHS, localeOf, sendAccountPage, translatorFor } from "../../account/layout.js";
import { METHOD_TYPES, type MethodType, parseTenantSettings } from "../../config/tenant-settings.js";
import { type Clock, systemClock } from "../../core/clock.js";
import { isLatchkeyError, type LatchkeyError } from "../../core/errors.js";
import type { Translate } from "../../i18n/index.js";
import { PASSKEY_SCRIPTS } from "../../methods/passkey/index.js";
import type { RelyingPartyResolver } from "../../methods/passkey/relying-party.js";
import {
  answerField,
  button,
  CODE_FIELD,
  challengeFields,
  type FieldError,
  fieldId,
  form,
  linkButton,
  notice,
  oneTimeCodeInput,
  panel,
  radioGroup,
  textInput,
} from "../../web/components.js";
import { escapeHtml, html, raw, type SafeHtml } from "../../web/html.js";
import type { DirectorySource, RegistrationAction } from "./flow-repository.js";
import type { AccountMeta, MethodsOverview, RegistrationService, RegistrationView } from "./service.js";

/** The @simplewebauthn/browser bundle, served same-origin (the CSP allows no other). */
const [WEBAUTHN_BROWSER_SCRIPT] = PASSKEY_SCRIPTS;

const BASE = ACCOUNT_PATHS.methods;

export interface RegistrationPageOptions {
  service: RegistrationService;
  guard: AccountGuard;
  relyingParty: RelyingPartyResolver;
  clock?: Clock;
}

type Body = Record<string, unknown>;

function field(body: unknown, name: string, max = 1024): string {
  const v = (body as Body | undefined)?.[name];
  return typeof v === "string" ? v.slice(0, max) : "";
}

export function accountMeta(req: FastifyRequest, rp: RelyingPartyResolver): AccountMeta {
  return {
    ip: req.ip ?? null,
    userAgent: typeof req.headers["user-agent"] === "string" ? req.headers["user-agent"].slice(0, 300) : null,
    locale: localeOf(req),
    rp: rp(req),
  };
}

/** The bundle's file inside the installed package (its exports map names only the ES modules). */
function webauthnBundlePath(): string {
  const require = createRequire(import.meta.url);
  const esm = require.resolve("@simplewebauthn/browser");
  return join(dirname(esm), "..", "dist", "bundle", "index.umd.min.js");
}

function formatTime(epochMs: number): string {
  return `${new Date(epochMs).toISOString().replace("T", " ").slice(0, 16)} UTC`;
}

interface PageState {
  errors?: FieldError[];
  fieldErrors?: Record<string, string>;
  values?: Record<string, string>;
}

export async function registrationPages(app: FastifyInstance, opts: RegistrationPageOptions): Promise<void> {
  const { service, guard } = opts;
  const clock = opts.clock ?? systemClock;
  // Read once at start: a missing bundle stops the server instead of breaking passkeys later.
  const bundle = readFileSync(webauthnBundlePath());

  app.get(WEBAUTHN_BROWSER_SCRIPT, (_req, reply) =>
    reply
      .type("text/javascript; charset=utf-8")
      .header("x-content-type-options", "nosniff")
      .header("cache-control", "public, max-age=3600")
      .send(bundle),
  );

  const typeName = (t: Translate, type: string) => t(`account.methods.type.${type}`);

  // ——— the overview (and the interrupts) ———

  function overviewBody(
    t: Translate,
    s: SignedIn,
    o: MethodsOverview,
    interrupt: "register" | "review" | null,
    banner: SafeHtml | null,
  ): { title: string; body: SafeHtml } {
    const title =
      interrupt === "register"
        ? t("account.methods.interrupt.register.title")
        : interrupt === "review"
          ? t("account.methods.interrupt.review.title")
          : t("account.methods.title");
    const lead =
      interrupt === "register"
        ? t("account.methods.interrupt.register.lead", { required: o.required, registered: o.registered })
        : interrupt === "review"
          ? t("account.methods.interrupt.review.lead")
          : t("account.methods.lead", { count: o.required });
    const list =
      o.methods.length === 0
        ? html`<p>${t("account.methods.none")}</p>`
        : html`<ul class="method-list">
${o.methods.map(
  (m) => html`<li class="method">
<p class="method-name"><strong>${typeName(t, m.type)}</strong>: ${m.label}</p>
<p class="caption">${t("account.methods.added_on", { time: formatTime(m.createdAt) })}</p>
${form({
  action: `${BASE}/begin`,
  csrf: s.csrfToken,
  body: html`<input type="hidden" name="action" value="remove"><input type="hidden" name="methodId" value="${m.id}">
${button({
  text: t("account.methods.remove"),
  variant: "secondary",
  attributes: {
    "aria-label": `${t("account.methods.remove")} — ${t("account.methods.remove_context", { type: typeName(t, m.type), label: m.label })}`,
  },
})}`,
})}
</li>\n`,
)}</ul>`;
    const directory =
      o.directoryContacts.length === 0
        ? null
        : html`<h2>${t("account.methods.directory.title")}</h2>
<p>${t("account.methods.directory.lead")}</p>
<ul class="method-list">
${o.directoryContacts.map(
  (c) => html`<li class="method">
<p class="method-name"><strong>${typeName(t, c.type)}</strong>: ${c.value}</p>
${form({
  action: `${BASE}/begin`,
  csrf: s.csrfToken,
  body: html`<input type="hidden" name="action" value="confirm">${
    c.methodId
      ? html`<input type="hidden" name="methodId" value="${c.methodId}">`
      : html`<input type="hidden" name="source" value="${c.source}">`
  }
${button({
  text: t("account.methods.directory.confirm"),
  variant: "secondary",
  attributes: {
    "aria-label": `${t("account.methods.directory.confirm")} — ${typeName(t, c.type)}: ${c.value}`,
  },
})}`,
})}
</li>\n`,
)}</ul>`;
    const add = html`<h2>${t("account.methods.add.title")}</h2>
${o.needsStepUp ? html`<p class="hint">${t("account.methods.add.step_up_note")}</p>` : null}
<ul class="method-add-list">
${o.enabled.map(
  (type) =>
    html`<li>${form({
      action: `${BASE}/begin`,
      csrf: s.csrfToken,
      body: html`<input type="hidden" name="action" value="add"><input type="hidden" name="method" value="${type}">
${button({ text: t(`account.methods.add.${type}`), variant: "secondary" })}`,
    })}</li>\n`,
)}</ul>`;
    const review =
      interrupt === "review"
        ? form({
            action: `${BASE}/review`,
            csrf: s.csrfToken,
            body: button({ text: t("account.methods.review.confirm") }),
          })
        : null;
    const later =
      interrupt !== null
        ? html`<p><a href="${ACCOUNT_PATHS.overview}">${t("account.methods.interrupt.later")}</a></p>`
        : null;
    return {
      title,
      body: html`${banner}<h1>${title}</h1>
<p class="lead">${lead}</p>
<h2>${t("account.methods.yours")}</h2>
${list}
${review}
${directory}
${add}
${later}`,
    };
  }

  app.get<{ Querystring: { interrupt?: string; reviewed?: string } }>(BASE, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    const t = translatorFor(req);
    const interrupt =
      req.query.interrupt === "register" || req.query.interrupt === "review" ? req.query.interrupt : null;
    const o = await service.overview(s);
    const banner =
      req.query.reviewed !== undefined
        ? notice({ kind: "success", body: t("account.methods.reviewed"), role: "status" })
        : null;
    const page = overviewBody(t, s, o, interrupt, banner);
    return sendAccountPage(reply, {
      req,
      signedIn: s,
      section: interrupt ? null : "methods",
      title: page.title,
      body: page.body,
    });
  });

  app.post(`${BASE}/review`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, field(req.body, "_csrf", 200));
    await service.markReviewed(s, accountMeta(req, opts.relyingParty));
    return reply.redirect(`${ACCOUNT_PATHS.overview}`, 303);
  });

  app.post(`${BASE}/begin`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, field(req.body, "_csrf", 200));
    const action = field(req.body, "action", 10) as RegistrationAction;
    const method = field(req.body, "method", 20);
    const methodId = field(req.body, "methodId", 64);
    const source = field(req.body, "source", 20) as DirectorySource;
    if (!["add", "remove", "confirm"].includes(action)) return reply.redirect(BASE, 303);
    if (action === "add" && !(METHOD_TYPES as readonly string[]).includes(method))
      return reply.redirect(BASE, 303);
    const view = await service.begin(s, accountMeta(req, opts.relyingParty), {
      action,
      method: (method || "email") as MethodType,
      ...(methodId ? { methodId } : {}),
      ...(["email", "mobile", "office_phone"].includes(source) ? { source } : {}),
    });
    return reply.redirect(`${BASE}/flow/${encodeURIComponent(view.flowId)}`, 303);
  });

  // ——— one flow ———

  function flowPage(
    t: Translate,
    s: SignedIn,
    v: RegistrationView,
    state: PageState,
  ): { title: string; body: SafeHtml; scripts?: readonly string[] } {
    const fe = state.fieldErrors ?? {};
    const action = (step: string) => `${BASE}/flow/${encodeURIComponent(v.flowId)}/${step}`;
    const back = html`<p><a href="${BASE}">${t("account.methods.done.back")}</a></p>`;
    if (v.state === "step_up" && v.stepUp) {
      const title = t("account.methods.step_up.title");
      const c = v.stepUp.challenge;
      if (c) {
        return {
          title,
          ...(c.prompt.kind === "passkey" ? { scripts: PASSKEY_SCRIPTS } : {}),
          body: html`<h1>${title}</h1>
${form({
  action: action("step-up/verify"),
  csrf: s.csrfToken,
  body: html`${challengeFields({ prompt: c.prompt, t, errors: fe, now: clock.now() })}
${button({ text: t("account.methods.code.submit") })}`,
})}
${form({
  action: action("step-up/other"),
  csrf: s.csrfToken,
  body: button({ text: t("reset.choose_another"), variant: "secondary" }),
})}
${back}`,
        };
      }
      return {
        title,
        body: html`<p class="lead">${t("account.methods.step_up.lead")}</p>
${form({
  action: action("step-up"),
  csrf: s.csrfToken,
  body: html`${radioGroup({
    name: "method",
    legend: title,
    legendIsPageHeading: true,
    hint: t("account.methods.step_up.legend"),
    options: v.stepUp.methods.map((m) => ({
      value: m.type,
      label: m.hint ? t(`reset.choose.method.${m.type}`, { masked: m.hint }) : typeName(t, m.type),
    })),
    value: state.values?.method ?? "",
    error: fe.method,
    t,
  })}
${button({ text: t("account.methods.step_up.submit") })}`,
})}
${back}`,
      };
    }
    if (v.state === "collect" && v.collect) {
      const c = v.collect;
      if (c.kind === "contact") {
        const title = t(`account.methods.contact.${c.channel}.title`);
        return {
          title,
          body: html`${form({
            action: action("collect"),
            csrf: s.csrfToken,
            body: html`${textInput({
              name: "contact",
              label: c.channel === "email" ? title : title,
              labelIsPageHeading: true,
              hint:
                c.channel === "email"
                  ? t("account.methods.contact.email.hint")
                  : t("account.methods.contact.phone.hint"),
              type: c.channel === "email" ? "email" : "tel",
              autocomplete: c.channel === "email" ? "email" : "tel",
              spellcheck: false,
              autocapitalize: "none",
              maxlength: 254,
              value: state.values?.contact ?? "",
              error: fe.contact,
              t,
            })}
${button({ text: t("account.methods.contact.submit") })}`,
          })}
${back}`,
        };
      }
      if (c.kind === "questions") {
        const title = t("account.methods.questions.title");
        const rows = Array.from({ length: c.count }, (_, i) => {
          const q = `question.${i}`;
          const chosen = state.values?.[q] ?? "";
          return html`<div class="field${fe[q] ? " field-with-error" : ""}">
<label class="label" for="${fieldId(q)}">${t("account.methods.questions.question", { n: i + 1 })}</label>
${fe[q] ? html`<p class="field-error-message" id="${fieldId(q)}-error"><span class="visually-hidden">${t("common.error_prefix")}</span> ${fe[q]}</p>` : null}
<select class="select" id="${fieldId(q)}" name="${q}"${fe[q] ? html` aria-describedby="${fieldId(q)}-error"` : null}>
<option value="">${t("account.methods.questions.choose")}</option>
${c.questions.map((x) => html`<option value="${x.id}"${x.id === chosen ? html` selected` : null}>${x.text}</option>\n`)}</select>
</div>
${textInput({
  name: answerField(String(i)),
  label: t("account.methods.questions.answer", { n: i + 1 }),
  autocomplete: "off",
  spellcheck: false,
  maxlength: 200,
  error: fe[answerField(String(i))],
  t,
})}`;
        });
        return {
          title,
          body: html`<h1>${title}</h1>
<p class="lead">${t("account.methods.questions.lead", { count: c.count })}</p>
${form({
  action: action("collect"),
  csrf: s.csrfToken,
  body: html`${rows}
${button({ text: t("account.methods.questions.submit") })}`,
})}
${back}`,
        };
      }
      const title = t("account.methods.passkey.title");
      return {
        title,
        body: html`<h1>${title}</h1>
<p class="lead">${t("account.methods.passkey.lead")}</p>
${form({
  action: action("collect"),
  csrf: s.csrfToken,
  body: html`${textInput({
    name: "name",
    label: t("account.methods.passkey.name.label"),
    hint: t("account.methods.passkey.name.hint"),
    maxlength: 60,
    autocomplete: "off",
    value: state.values?.name ?? "",
    error: fe.name,
    t,
  })}
${button({ text: t("account.methods.passkey.continue") })}`,
})}
${back}`,
      };
    }
    if (v.state === "confirm" && v.confirm) {
      const c = v.confirm;
      if (c.kind === "code") {
        const title = t("account.methods.code.title");
        return {
          title,
          body: html`<h1>${title}</h1>
${form({
  action: action("confirm"),
  csrf: s.csrfToken,
  body: html`${challengeFields({ prompt: c.prompt, t, errors: fe, now: clock.now() })}
${button({ text: t("account.methods.code.submit") })}`,
})}
${
  v.action === "add"
    ? form({
        action: action("restart"),
        csrf: s.csrfToken,
        body: button({ text: t("account.methods.code.other"), variant: "secondary" }),
      })
    : null
}
${back}`,
        };
      }
      if (c.kind === "totp") {
        const title = t("account.methods.totp.title");
        return {
          title,
          body: html`<h1>${title}</h1>
<ol class="steps">
<li>${t("account.methods.totp.step1")}</li>
<li>${t("account.methods.totp.step2")}
<div class="qr-code">${raw(
            c.qrSvg.replace(
              "<svg ",
              `<svg role="img" aria-label="${escapeHtml(t("account.methods.totp.qr_alt"))}" width="205" height="205" `,
            ),
          )}</div>
<p>${t("account.methods.totp.key")}: <code class="totp-key" data-totp-key>${c.secret.replace(/(.{4})/g, "$1 ").trim()}</code></p>
</li>
<li>${t("account.methods.totp.step3")}</li>
</ol>
${form({
  action: action("confirm"),
  csrf: s.csrfToken,
  body: html`${oneTimeCodeInput({
    name: CODE_FIELD,
    label: t("reset.totp.label"),
    hint: t("reset.totp.hint", { digits: c.digits }),
    error: fe[CODE_FIELD],
    t,
  })}
${button({ text: t("account.methods.code.submit") })}`,
})}
${back}`,
        };
      }
      const title = t("account.methods.passkey.create.title");
      return {
        title,
        scripts: PASSKEY_SCRIPTS,
        body: html`<h1>${title}</h1>
<p class="lead">${t("account.methods.passkey.create.lead")}</p>
${form({
  action: action("confirm"),
  csrf: s.csrfToken,
  body: html`<p>${c.name}</p>
<button type="button" class="button" hidden data-passkey-registration-options="${JSON.stringify(c.options)}" data-passkey-failed="${t("account.methods.passkey.failed")}">${t("account.methods.passkey.create")}</button>
<noscript>${notice({ kind: "warning", body: t("account.methods.passkey.js_required") })}</noscript>`,
})}
${back}`,
      };
    }
    // completed
    const type = typeName(t, v.method);
    const title =
      v.action === "remove"
        ? t("account.methods.done.removed", { type })
        : t("account.methods.done.added", { type });
    return {
      title,
      body: html`${panel({ title, body: html`<p>${t("account.methods.done.email_sent")}</p>` })}
${linkButton({ href: BASE, text: t("account.methods.done.back"), variant: "primary" })}`,
    };
  }

  async function render(
    req: FastifyRequest,
    reply: FastifyReply,
    s: SignedIn,
    v: RegistrationView,
    state: PageState = {},
    status = 200,
  ) {
    const t = translatorFor(req);
    const page = flowPage(t, s, v, state);
    return sendAccountPage(
      reply,
      {
        req,
        signedIn: s,
        section: "methods",
        title: page.title,
        body: page.body,
        errors: state.errors ?? [],
        ...(page.scripts ? { scripts: page.scripts } : {}),
      },
      status,
    );
  }

  app.get<{ Params: { id: string } }>(`${BASE}/flow/:id`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    try {
      return render(req, reply, s, await service.view(s, req.params.id));
    } catch (e) {
      if (isLatchkeyError(e) && ["FLOW_NOT_FOUND", "FLOW_EXPIRED"].includes(e.code))
        return reply.redirect(BASE, 303);
      throw e;
    }
  });

  /** A POST step: redirect to the flow page on success; the person's error on the same page. */
  function step(
    name: string,
    run: (s: SignedIn, flowId: string, meta: AccountMeta, body: Body) => Promise<RegistrationView>,
    onError: (e: LatchkeyError, t: Translate, body: Body, s: SignedIn) => PageState,
  ) {
    app.post<{ Params: { id: string } }>(`${BASE}/flow/:id/${name}`, async (req, reply) => {
      const s = await guard(req, reply);
      if (!s) return reply;
      const body = (req.body ?? {}) as Body;
      requireCsrf(s, field(body, "_csrf", 200));
      const t = translatorFor(req);
      const flowId = req.params.id;
      try {
        await run(s, flowId, accountMeta(req, opts.relyingParty), body);
        return reply.redirect(`${BASE}/flow/${encodeURIComponent(flowId)}`, 303);
      } catch (e) {
        if (!isLatchkeyError(e)) throw e;
        let view: RegistrationView;
        try {
          view = await service.view(s, flowId);
        } catch {
          return reply.redirect(BASE, 303);
        }
        const state =
          e.code === "STEP_UP_REQUIRED"
            ? { errors: [{ text: t("account.methods.error.step_up_required") }] }
            : e.code === "THROTTLED" && typeof e.context.until === "number"
              ? { errors: [{ text: t("error.throttled_until", { time: formatTime(e.context.until) }) }] }
              : onError(e, t, body, s);
        return render(req, reply, s, view, state, e.status);
      }
    });
  }

  const codeError = (text: string): PageState => ({
    errors: [{ fieldId: fieldId(CODE_FIELD), text }],
    fieldErrors: { [CODE_FIELD]: text },
  });

  step(
    "step-up",
    (s, id, meta, body) => service.startStepUp(s, id, meta, { method: field(body, "method", 20) }),
    (e, t, body) =>
      e.code === "METHOD_NOT_AVAILABLE"
        ? {
            errors: [{ fieldId: fieldId("method"), text: t("account.methods.step_up.error.required") }],
            fieldErrors: { method: t("account.methods.step_up.error.required") },
            values: { method: field(body, "method", 20) },
          }
        : { errors: [{ text: t(e.messageId) }] },
  );

  step(
    "step-up/verify",
    (s, id, meta, body) => service.verifyStepUp(s, id, meta, { response: responseOf(body) }),
    (e, t, body) => {
      if (e.code !== "VERIFICATION_FAILED") return { errors: [{ text: t(e.messageId) }] };
      const answers = Object.keys(body).filter((k) => k.startsWith("answer."));
      if (answers.length > 0) {
        const first = answers[0] ?? "";
        return {
          errors: [{ fieldId: fieldId(first), text: t("reset.questions.error.wrong") }],
          fieldErrors: { [first]: t("reset.questions.error.wrong") },
        };
      }
      if (typeof body.passkey === "string") return { errors: [{ text: t("reset.passkey.error.failed") }] };
      return codeError(t("reset.code.error.wrong"));
    },
  );

  // "Choose another way": a step-up start with no method shows the choice again.
  app.post<{ Params: { id: string } }>(`${BASE}/flow/:id/step-up/other`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, field(req.body, "_csrf", 200));
    await service.clearStepUpChallenge(s, req.params.id);
    return reply.redirect(`${BASE}/flow/${encodeURIComponent(req.params.id)}`, 303);
  });

  step(
    "collect",
    (s, id, meta, body) => {
      const answers: { questionId: string; answer: string }[] = [];
      for (let i = 0; i < 5; i++) {
        const q = field(body, `question.${i}`, 100);
        const a = field(body, answerField(String(i)), 1000);
        if (q || a) answers.push({ questionId: q, answer: a });
      }
      return service.collect(s, id, meta, {
        contact: field(body, "contact", 300),
        answers,
        name: field(body, "name", 200),
      });
    },
    (e, t, body, s) => {
      const questions = parseTenantSettings(s.tenant.settings_json).questions;
      const values: Record<string, string> = {
        contact: field(body, "contact", 300),
        name: field(body, "name", 200),
      };
      for (let i = 0; i < 5; i++) values[`question.${i}`] = field(body, `question.${i}`, 100);
      if (e.code !== "VALIDATION_FAILED") return { errors: [{ text: t(e.messageId) }], values };
      const rule = String(e.context.rule ?? "");
      const f = String(e.context.field ?? "");
      if (f === "contact") return one("contact", t(`account.methods.contact.error.${rule}`), values);
      if (f === "name") return one("name", t(`account.methods.passkey.error.${rule}`), values);
      // Security questions: point at the question the rule names (or the first one).
      const qid = typeof e.context.questionId === "string" ? e.context.questionId : "";
      let index = 0;
      for (let i = 0; i < 5; i++) if (qid && values[`question.${i}`] === qid) index = i;
      const target =
        rule === "too_short" || rule === "too_long" || rule === "duplicate_answer"
          ? answerField(String(index))
          : `question.${index}`;
      return one(
        target,
        t(`account.methods.questions.error.${rule}`, {
          count: questions.registerCount,
          min: questions.minAnswerLength,
        }),
        values,
      );
    },
  );

  step(
    "confirm",
    (s, id, meta, body) =>
      service.confirm(s, id, meta, {
        code: field(body, CODE_FIELD, 40),
        ...(typeof body.passkey === "string" ? { passkey: parseJson(field(body, "passkey", 40_000)) } : {}),
      }),
    (e, t, body) => {
      if (e.code !== "VERIFICATION_FAILED") return { errors: [{ text: t(e.messageId) }] };
      if (typeof body.passkey === "string")
        return { errors: [{ text: t("account.methods.passkey.error.failed") }] };
      return codeError(t("account.methods.code.error.wrong"));
    },
  );

  step(
    "restart",
    (s, id) => service.restart(s, id),
    (e, t) => ({ errors: [{ text: t(e.messageId) }] }),
  );
}

function one(name: string, text: string, values: Record<string, string>): PageState {
  return { errors: [{ fieldId: fieldId(name), text }], fieldErrors: { [name]: text }, values };
}

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s) as unknown;
  } catch {
    return null;
  }
}

/** What a verification form posted, as a method's response: a code, answers or a passkey assertion. */
export function responseOf(body: Body): Record<string, unknown> {
  if (typeof body.passkey === "string") return { assertion: parseJson(body.passkey.slice(0, 40_000)) };
  const answers: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) {
    if (k.startsWith("answer.") && typeof v === "string" && k.length <= 47)
      answers[k.slice(7)] = v.slice(0, 200);
  }
  if (Object.keys(answers).length > 0) return { answers };
  return { code: field(body, CODE_FIELD, 40).replace(/[\s-]/g, "") };
}
