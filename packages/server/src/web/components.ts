/**
 * The building blocks of portal pages, after the GOV.UK Design System patterns: every input has a
 * visible label; hint and error are linked by aria-describedby; an error summary at the top links to
 * the fields; state is told in text, never by colour alone. Each function returns SafeHtml.
 *
 * Chrome text (the "Error:" prefix, "Show password"…) comes from `t`, a translator bound to the page's
 * locale (i18n/translator()); it defaults to English.
 */

import { type MessageParams, type Translate, translator } from "../i18n/index.js";
import type { ChallengePrompt } from "../methods/types.js";
import { attrs, type HtmlValue, html, type SafeHtml } from "./html.js";

const english = translator("en");

/** The name of the hidden CSRF field in every form. */
export const CSRF_FIELD = "_csrf";
/** The header password-rules.js sends the CSRF token in. */
export const CSRF_HEADER = "x-csrf-token";
export const CAPTCHA_CHALLENGE_PATH = "/api/v1/captcha/challenge";
/** The form field the captcha widget fills with its solution. */
export const CAPTCHA_FIELD = "altcha";
/** What a page with captchaWidget() must load (pass to renderPage). */
export const CAPTCHA_ASSETS = {
  scripts: [{ src: "/static/vendor/altcha.js", module: true }],
  stylesheets: ["/static/vendor/altcha.css"],
} as const;
export const PASSWORD_RULES_SCRIPT = "/static/password-rules.js";

/** The id of the element a field's error links to: derived from the field name. */
export function fieldId(name: string): string {
  return name.replace(/[^a-zA-Z0-9_-]/g, "-");
}

function describedBy(...ids: (string | false | null | undefined)[]): string | null {
  const list = ids.filter((x): x is string => Boolean(x));
  return list.length ? list.join(" ") : null;
}

function errorMessage(id: string, text: string | undefined, t: Translate): SafeHtml | null {
  if (!text) return null;
  return html`<p class="field-error-message" id="${id}-error"><span class="visually-hidden">${t("common.error_prefix")}</span> ${text}</p>`;
}

// ─── Forms ────────────────────────────────────────────────────────────────────────────────────────

export interface FormOptions {
  action: string;
  /** The flow's CSRF token, sent back as the hidden field CSRF_FIELD. */
  csrf: string;
  body: HtmlValue;
  method?: "post" | "get";
  id?: string;
  /** data-* attributes, without the prefix (e.g. { "check-url": "/x" } → data-check-url). */
  data?: Record<string, string>;
  /**
   * Browser validation bubbles are turned off by default: the server validates and shows the error
   * summary, which is consistent, translatable and accessible.
   */
  novalidate?: boolean;
}

export function form(opts: FormOptions): SafeHtml {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.data ?? {})) data[`data-${k}`] = v;
  return html`<form${attrs({
    method: opts.method ?? "post",
    action: opts.action,
    id: opts.id,
    novalidate: opts.novalidate ?? true,
    ...data,
  })}>
<input type="hidden" name="${CSRF_FIELD}" value="${opts.csrf}">
${opts.body}
</form>`;
}

export interface TextInputOptions {
  name: string;
  label: string;
  /** Defaults to fieldId(name); the error summary links here. */
  id?: string;
  type?: "text" | "email" | "password" | "tel" | "number" | "search";
  /** Echoed back after a failed submit. Ignored for type=password: a password is never sent back. */
  value?: string;
  hint?: string;
  error?: string;
  autocomplete?: string;
  inputmode?: "text" | "numeric" | "email" | "tel" | "decimal" | "none";
  pattern?: string;
  maxlength?: number;
  required?: boolean;
  spellcheck?: boolean;
  autocapitalize?: "none" | "off" | "sentences" | "words";
  /** "code": a narrow input for a few digits. */
  width?: "full" | "code";
  /** One question per page: the label is the page's h1 (GOV.UK pattern). */
  labelIsPageHeading?: boolean;
  /** More ids for aria-describedby (e.g. the password rules). */
  describedBy?: readonly string[];
  /** Extra attributes (data-*, aria-*). */
  attributes?: Record<string, string | number | boolean | null | undefined>;
  /** Markup placed right after the input (e.g. the show-password button). */
  after?: SafeHtml;
  t?: Translate;
}

export function textInput(opts: TextInputOptions): SafeHtml {
  const t = opts.t ?? english;
  const id = opts.id ?? fieldId(opts.name);
  const type = opts.type ?? "text";
  const hintId = opts.hint ? `${id}-hint` : null;
  const errorId = opts.error ? `${id}-error` : null;
  const label = html`<label class="label" for="${id}">${opts.label}</label>`;
  const input = html`<input${attrs({
    class: `input${opts.width === "code" ? " input-code" : ""}${opts.error ? " input-error" : ""}`,
    id,
    name: opts.name,
    type,
    value: type === "password" ? null : (opts.value ?? null),
    autocomplete: opts.autocomplete,
    inputmode: opts.inputmode,
    pattern: opts.pattern,
    maxlength: opts.maxlength,
    required: opts.required ?? false,
    spellcheck: opts.spellcheck === undefined ? null : String(opts.spellcheck),
    autocapitalize: opts.autocapitalize,
    "aria-describedby": describedBy(hintId, ...(opts.describedBy ?? []), errorId),
    "aria-invalid": opts.error ? "true" : null,
    ...opts.attributes,
  })}>`;
  return html`<div class="field${opts.error ? " field-with-error" : ""}">
${opts.labelIsPageHeading ? html`<h1 class="label-heading">${label}</h1>` : label}
${opts.hint && html`<p class="hint" id="${hintId}">${opts.hint}</p>`}
${errorMessage(id, opts.error, t)}
${input}${opts.after}
</div>`;
}

/** A user name / UPN / email field: no autocorrect, no capitalisation, the browser's saved user name. */
export function usernameInput(opts: Omit<TextInputOptions, "type" | "autocomplete">): SafeHtml {
  return textInput({
    ...opts,
    type: "text",
    autocomplete: "username",
    autocapitalize: "none",
    spellcheck: false,
    maxlength: opts.maxlength ?? 256,
  });
}

/**
 * A one-time code: numeric keyboard on phones, the OS's code autofill, no maxlength (a pasted code with
 * spaces must still fit; the server normalises).
 */
export function oneTimeCodeInput(
  opts: Omit<TextInputOptions, "type" | "autocomplete" | "inputmode">,
): SafeHtml {
  return textInput({
    ...opts,
    type: "text",
    autocomplete: "one-time-code",
    inputmode: "numeric",
    pattern: opts.pattern ?? "[0-9]*",
    spellcheck: false,
    autocapitalize: "none",
    width: "code",
  });
}

export interface PasswordInputOptions extends Omit<TextInputOptions, "type" | "value" | "autocomplete"> {
  autocomplete: "new-password" | "current-password";
  /** Add the show/hide button (revealed by password-rules.js; hidden without JavaScript). */
  showToggle?: boolean;
  /** Mark this input as the one password-rules.js checks live against the rules list with this id. */
  checkRulesId?: string;
}

export function passwordInput(opts: PasswordInputOptions): SafeHtml {
  const t = opts.t ?? english;
  const id = opts.id ?? fieldId(opts.name);
  const toggle =
    opts.showToggle === false
      ? undefined
      : html`<button type="button" class="button button-secondary password-toggle" hidden${attrs({
          "data-toggle-password": id,
          "aria-controls": id,
          "aria-pressed": "false",
          "data-label-show": t("common.show_password"),
          "data-label-hide": t("common.hide_password"),
          "data-status-shown": t("common.password_shown"),
          "data-status-hidden": t("common.password_hidden"),
        })}>${t("common.show_password")}</button>
<p class="visually-hidden" aria-live="polite" id="${id}-toggle-status"></p>`;
  return textInput({
    ...opts,
    id,
    type: "password",
    autocomplete: opts.autocomplete,
    spellcheck: false,
    autocapitalize: "none",
    describedBy: [...(opts.describedBy ?? []), ...(opts.checkRulesId ? [opts.checkRulesId] : [])],
    attributes: { ...opts.attributes, "data-password-check": opts.checkRulesId ?? null },
    after: toggle,
  });
}

export interface ButtonOptions {
  text: string;
  type?: "submit" | "button";
  variant?: "primary" | "secondary" | "link";
  name?: string;
  value?: string;
  id?: string;
  attributes?: Record<string, string | number | boolean | null | undefined>;
}

export function button(opts: ButtonOptions): SafeHtml {
  const variant = opts.variant ?? "primary";
  return html`<button${attrs({
    type: opts.type ?? "submit",
    class: variant === "primary" ? "button" : `button button-${variant}`,
    name: opts.name,
    value: opts.value,
    id: opts.id,
    ...opts.attributes,
  })}>${opts.text}</button>`;
}

/** A link that looks like a (secondary) button, e.g. "Start again". */
export function linkButton(opts: {
  href: string;
  text: string;
  variant?: "primary" | "secondary";
}): SafeHtml {
  const cls = opts.variant === "primary" ? "button" : "button button-secondary";
  return html`<a class="${cls}" href="${opts.href}">${opts.text}</a>`;
}

export interface FieldError {
  /** The id of the field to link to (fieldId(name)); none for an error about the whole page. */
  fieldId?: string;
  text: string;
}

/**
 * The error summary at the top of <main>: announced (role=alert), focused on load (autofocus on a
 * tabindex=-1 element works without JavaScript), each message links to its field.
 */
export function errorSummary(opts: {
  errors: readonly FieldError[];
  title?: string;
  t?: Translate;
}): SafeHtml {
  if (opts.errors.length === 0) return html``;
  const t = opts.t ?? english;
  return html`<div class="error-summary" role="alert" tabindex="-1" autofocus aria-labelledby="error-summary-title" data-error-summary>
<h2 class="error-summary-title" id="error-summary-title">${opts.title ?? t("common.error_summary.title")}</h2>
<ul class="error-summary-list">
${opts.errors.map((e) => html`<li>${e.fieldId ? html`<a href="#${e.fieldId}">${e.text}</a>` : e.text}</li>\n`)}</ul>
</div>`;
}

export interface RadioOption {
  value: string;
  label: string;
  hint?: string;
  disabled?: boolean;
}

export interface RadioGroupOptions {
  name: string;
  legend: string;
  options: readonly RadioOption[];
  /** The value to check (e.g. after a failed submit). */
  value?: string;
  hint?: string;
  error?: string;
  /** One question per page: the legend holds the page's h1. */
  legendIsPageHeading?: boolean;
  t?: Translate;
}

/**
 * A fieldset of radios. The first radio's id is fieldId(name), so the error summary links to it;
 * the others are `${fieldId(name)}-<n>`.
 */
export function radioGroup(opts: RadioGroupOptions): SafeHtml {
  const t = opts.t ?? english;
  const base = fieldId(opts.name);
  const hintId = opts.hint ? `${base}-hint` : null;
  const errorId = opts.error ? `${base}-error` : null;
  const legend = opts.legendIsPageHeading
    ? html`<legend class="legend legend-heading"><h1>${opts.legend}</h1></legend>`
    : html`<legend class="legend">${opts.legend}</legend>`;
  const radios = opts.options.map((o, i) => {
    const id = i === 0 ? base : `${base}-${i + 1}`;
    const itemHintId = o.hint ? `${id}-hint` : null;
    return html`<div class="radio">
<input${attrs({
      class: "radio-input",
      type: "radio",
      id,
      name: opts.name,
      value: o.value,
      checked: opts.value === o.value,
      disabled: o.disabled ?? false,
      "aria-describedby": itemHintId,
    })}>
<label class="radio-label" for="${id}">${o.label}</label>
${o.hint && html`<p class="hint radio-hint" id="${itemHintId}">${o.hint}</p>`}
</div>
`;
  });
  return html`<div class="field${opts.error ? " field-with-error" : ""}">
<fieldset class="fieldset"${attrs({ "aria-describedby": describedBy(hintId, errorId) })}>
${legend}
${opts.hint && html`<p class="hint" id="${hintId}">${opts.hint}</p>`}
${errorMessage(base, opts.error, t)}
<div class="radios">
${radios}</div>
</fieldset>
</div>`;
}

// ─── Content ──────────────────────────────────────────────────────────────────────────────────────

export interface NoticeOptions {
  kind?: "info" | "success" | "warning";
  title?: string;
  body: HtmlValue;
  /** Announce when it appears after an action ("status"), or not at all (default). */
  role?: "status" | "alert";
  headingLevel?: 2 | 3;
}

export function notice(opts: NoticeOptions): SafeHtml {
  const kind = opts.kind ?? "info";
  const heading =
    opts.title === undefined
      ? null
      : opts.headingLevel === 3
        ? html`<h3 class="notice-title">${opts.title}</h3>`
        : html`<h2 class="notice-title">${opts.title}</h2>`;
  return html`<div${attrs({ class: `notice notice-${kind}`, role: opts.role })}>
${heading}
<div class="notice-body">${typeof opts.body === "string" ? html`<p>${opts.body}</p>` : opts.body}</div>
</div>`;
}

/** The confirmation panel of a finished flow; holds the page's h1. */
export function panel(opts: { title: string; body?: HtmlValue }): SafeHtml {
  return html`<div class="panel">
<h1 class="panel-title">${opts.title}</h1>
${opts.body !== undefined && html`<div class="panel-body">${typeof opts.body === "string" ? html`<p>${opts.body}</p>` : opts.body}</div>`}
</div>`;
}

export function definitionList(items: ReadonlyArray<{ term: string; description: HtmlValue }>): SafeHtml {
  return html`<dl class="summary-list">
${items.map((i) => html`<div class="summary-list-row"><dt>${i.term}</dt><dd>${i.description}</dd></div>\n`)}</dl>`;
}

// ─── Password rules ───────────────────────────────────────────────────────────────────────────────

export interface RuleItem {
  /** The rule id (length, classes, banned, personal, strength, breached, history). */
  id: string;
  /** The rule in words (t("password.rule.<id>", params)). */
  text: string;
  /** true met, false not met, null/undefined not checked yet. */
  ok?: boolean | null;
}

export interface PasswordRulesOptions {
  rules: readonly RuleItem[];
  /** The container id; give it to passwordInput's checkRulesId. */
  id?: string;
  title?: string;
  t?: Translate;
}

function ruleState(ok: boolean | null | undefined): "ok" | "fail" | "unknown" {
  return ok === true ? "ok" : ok === false ? "fail" : "unknown";
}

/**
 * The rules checklist. Each rule is an <li id="<id>-<rule>"> whose state is in data-state and in words
 * (a visually-hidden-free prefix such as "Done:"), so colour is never the only signal. password-rules.js
 * updates the items and writes a one-line summary into the polite live region, so a screen reader
 * hears one sentence per check rather than the whole list.
 */
export function passwordRules(opts: PasswordRulesOptions): SafeHtml {
  const t = opts.t ?? english;
  const id = opts.id ?? "password-rules";
  const stateText = {
    ok: t("password.rules.state.ok"),
    fail: t("password.rules.state.fail"),
    unknown: t("password.rules.state.unknown"),
  };
  // The plural forms go to the script as templates; it picks one with Intl.PluralRules.
  const summaryTemplate = (suffix: "one" | "other"): string =>
    t(`password.rules.summary.failing_${suffix}`, { count: "{{count}}" } as MessageParams);
  return html`<div${attrs({
    class: "password-rules",
    id,
    "data-text-ok": stateText.ok,
    "data-text-fail": stateText.fail,
    "data-text-unknown": stateText.unknown,
    "data-text-summary-ok": t("password.rules.summary.ok"),
    "data-text-summary-one": summaryTemplate("one"),
    "data-text-summary-other": summaryTemplate("other"),
    "data-text-unavailable": t("password.rules.summary.unavailable"),
  })}>
<p class="password-rules-title" id="${id}-title">${opts.title ?? t("reset.password.rules.title")}</p>
<ul class="password-rules-list" aria-labelledby="${id}-title">
${opts.rules.map((r) => {
  const state = ruleState(r.ok);
  return html`<li class="password-rule" id="${id}-${r.id}" data-rule="${r.id}" data-state="${state}"><span class="rule-state">${stateText[state]}</span> <span class="rule-text">${r.text}</span></li>\n`;
})}</ul>
<p class="visually-hidden" role="status" aria-live="polite" id="${id}-status"></p>
</div>`;
}

// ─── Captcha ──────────────────────────────────────────────────────────────────────────────────────

export interface CaptchaWidgetOptions {
  t?: Translate;
  /** Shown when the server refused the solution or none was sent. */
  error?: string;
  challengeUrl?: string;
  /** "onload": the proof of work starts at once, so it is usually done before the person submits. */
  auto?: "onload" | "onfocus" | "onsubmit" | "off";
}

/**
 * The proof-of-work check (the altcha web component, served from /static/vendor). The widget needs
 * JavaScript; without it the person reads why and what to do instead (docs/accessibility.md).
 * The page must load CAPTCHA_ASSETS.
 */
export function captchaWidget(opts: CaptchaWidgetOptions = {}): SafeHtml {
  const t = opts.t ?? english;
  const strings = JSON.stringify({
    label: t("captcha.label"),
    verifying: t("captcha.verifying"),
    verified: t("captcha.verified"),
    error: t("captcha.error"),
    expired: t("captcha.expired"),
    waitAlert: t("captcha.wait"),
    verificationRequired: t("captcha.required"),
  });
  return html`<div class="field captcha${opts.error ? " field-with-error" : ""}" id="${CAPTCHA_FIELD}">
${errorMessage(CAPTCHA_FIELD, opts.error, t)}
<altcha-widget${attrs({
    challengeurl: opts.challengeUrl ?? CAPTCHA_CHALLENGE_PATH,
    name: CAPTCHA_FIELD,
    auto: opts.auto ?? "onload",
    hidefooter: true,
    hidelogo: true,
    strings,
  })}></altcha-widget>
<noscript>
<div class="notice notice-warning">
<h2 class="notice-title">${t("captcha.js_required_title")}</h2>
<div class="notice-body"><p>${t("captcha.js_required")}</p></div>
</div>
</noscript>
</div>`;
}

// ─── Challenge prompts (methods/types.ts) ─────────────────────────────────────────────────────────

/** Field names the verify step reads. Questions: `answer.<questionId>`. */
export const CODE_FIELD = "code";
export function answerField(questionId: string): string {
  return `answer.${questionId}`;
}

export interface ChallengeFieldsOptions {
  prompt: ChallengePrompt;
  t?: Translate;
  /** Field-level errors keyed by field name (CODE_FIELD, answerField(id)). */
  errors?: Readonly<Record<string, string>>;
  /** For a code prompt, to say how long the code lasts. */
  now?: number;
}

/**
 * The inputs a started challenge needs, from its prompt. Passkey prompts render the button and the
 * JavaScript-required notice only; the WebAuthn ceremony script reads `data-passkey-options`.
 */
export function challengeFields(opts: ChallengeFieldsOptions): SafeHtml {
  const t = opts.t ?? english;
  const errors = opts.errors ?? {};
  const p = opts.prompt;
  switch (p.kind) {
    case "code": {
      const sent = p.sentToMasked
        ? t(`reset.code.sent.${p.channel}`, { digits: p.digits, masked: p.sentToMasked })
        : t("reset.code.sent.strict", { digits: p.digits });
      const minutes =
        opts.now === undefined ? null : Math.max(1, Math.ceil((p.expiresAt - opts.now) / 60_000));
      return html`<p>${sent}</p>
${minutes !== null && html`<p>${t("reset.code.expires_in", { count: minutes })}</p>`}
${oneTimeCodeInput({ name: CODE_FIELD, label: t("reset.code.label"), hint: t("reset.code.hint", { digits: p.digits }), error: errors[CODE_FIELD], t })}`;
    }
    case "totp":
      return oneTimeCodeInput({
        name: CODE_FIELD,
        label: t("reset.totp.label"),
        hint: t("reset.totp.hint", { digits: p.digits }),
        error: errors[CODE_FIELD],
        t,
      });
    case "questions":
      return html`<p class="hint">${t("reset.questions.hint")}</p>
${p.questions.map((q) =>
  textInput({
    name: answerField(q.id),
    label: q.text,
    error: errors[answerField(q.id)],
    autocomplete: "off",
    spellcheck: false,
    t,
  }),
)}`;
    case "passkey":
      return html`<p>${t("reset.passkey.lead")}</p>
<button type="button" class="button" hidden${attrs({ "data-passkey-options": JSON.stringify(p.options ?? null) })}>${t("reset.passkey.start")}</button>
<noscript>${notice({ kind: "warning", body: t("reset.passkey.js_required") })}</noscript>`;
  }
}
