import { describe, expect, it } from "vitest";
import { translator } from "../i18n/index.js";
import {
  CAPTCHA_CHALLENGE_PATH,
  CSRF_FIELD,
  captchaWidget,
  challengeFields,
  definitionList,
  errorSummary,
  fieldId,
  form,
  notice,
  oneTimeCodeInput,
  panel,
  passwordInput,
  passwordRules,
  radioGroup,
  textInput,
  usernameInput,
} from "./components.js";
import { html } from "./html.js";

const t = translator("en");

/** The attributes of the first tag matching `selector` (a tag name plus optional id). */
function tag(out: string, name: string, id?: string): string {
  const re = new RegExp(`<${name}\\b[^>]*${id ? ` id="${id}"` : ""}[^>]*>`);
  const m = re.exec(out);
  if (!m) throw new Error(`no <${name}${id ? `#${id}` : ""}> in ${out}`);
  return m[0];
}

describe("form()", () => {
  it("posts with the CSRF token as a hidden field and passes data attributes", () => {
    const out = form({
      action: "/reset/x",
      csrf: 'tok"en',
      body: html`<p>x</p>`,
      data: { "check-url": "/c?a=1&b" },
    }).toString();
    expect(tag(out, "form")).toBe(
      '<form method="post" action="/reset/x" novalidate data-check-url="/c?a=1&amp;b">',
    );
    expect(out).toContain(`<input type="hidden" name="${CSRF_FIELD}" value="tok&quot;en">`);
  });
});

describe("textInput()", () => {
  it("links label, hint and error to the input", () => {
    const out = textInput({
      name: "user name",
      label: "User name",
      hint: "e.g. jsmith",
      error: "Enter it",
      value: "<x>",
    }).toString();
    const id = fieldId("user name");
    expect(id).toBe("user-name");
    expect(out).toContain(`<label class="label" for="${id}">User name</label>`);
    expect(out).toContain(`<p class="hint" id="${id}-hint">e.g. jsmith</p>`);
    expect(out).toContain(
      `<p class="field-error-message" id="${id}-error"><span class="visually-hidden">Error:</span> Enter it</p>`,
    );
    const input = tag(out, "input");
    expect(input).toContain(`aria-describedby="${id}-hint ${id}-error"`);
    expect(input).toContain('aria-invalid="true"');
    expect(input).toContain('value="&lt;x&gt;"');
    expect(out).toContain('class="field field-with-error"');
  });

  it("has no aria-invalid and no describedby without hint or error", () => {
    const input = tag(textInput({ name: "q", label: "Q" }).toString(), "input");
    expect(input).not.toContain("aria-invalid");
    expect(input).not.toContain("aria-describedby");
  });

  it("can put the label inside the page's h1", () => {
    expect(textInput({ name: "q", label: "Q", labelIsPageHeading: true }).toString()).toContain(
      '<h1 class="label-heading"><label class="label" for="q">Q</label></h1>',
    );
  });

  it("has the autocomplete presets", () => {
    const u = tag(usernameInput({ name: "username", label: "User" }).toString(), "input");
    expect(u).toContain('autocomplete="username"');
    expect(u).toContain('spellcheck="false"');
    expect(u).toContain('autocapitalize="none"');
    const c = tag(oneTimeCodeInput({ name: "code", label: "Code" }).toString(), "input");
    expect(c).toContain('autocomplete="one-time-code"');
    expect(c).toContain('inputmode="numeric"');
    expect(c).toContain('pattern="[0-9]*"');
    expect(c).not.toContain("maxlength");
  });
});

describe("passwordInput()", () => {
  it("never echoes a value, and wires the rules and the show-password button", () => {
    const out = passwordInput({
      name: "password",
      label: "New password",
      autocomplete: "new-password",
      checkRulesId: "password-rules",
      // Even if a caller passes one, a password is not sent back to the browser.
      ...({ value: "hunter2" } as object),
    }).toString();
    const input = tag(out, "input");
    expect(input).toContain('type="password"');
    expect(input).toContain('autocomplete="new-password"');
    expect(input).toContain('aria-describedby="password-rules"');
    expect(input).toContain('data-password-check="password-rules"');
    expect(out).not.toContain("hunter2");
    const toggle = tag(out, "button");
    expect(toggle).toContain(" hidden");
    expect(toggle).toContain('aria-controls="password"');
    expect(toggle).toContain('aria-pressed="false"');
    expect(toggle).toContain('type="button"');
  });
});

describe("errorSummary()", () => {
  it("is an alert that takes focus and links each error to its field", () => {
    const out = errorSummary({
      errors: [{ fieldId: "username", text: "Enter <it>" }, { text: "Whole page" }],
    }).toString();
    expect(tag(out, "div")).toBe(
      '<div class="error-summary" role="alert" tabindex="-1" autofocus aria-labelledby="error-summary-title" data-error-summary>',
    );
    expect(out).toContain('<h2 class="error-summary-title" id="error-summary-title">There is a problem</h2>');
    expect(out).toContain('<li><a href="#username">Enter &lt;it&gt;</a></li>');
    expect(out).toContain("<li>Whole page</li>");
  });

  it("renders nothing when there are no errors", () => {
    expect(errorSummary({ errors: [] }).toString()).toBe("");
  });
});

describe("radioGroup()", () => {
  const out = radioGroup({
    name: "method",
    legend: "How?",
    hint: "Pick one",
    error: "Choose one",
    value: "sms",
    options: [
      { value: "email", label: "Email j•••@e•••.com" },
      { value: "sms", label: "Text", hint: "Costs nothing" },
    ],
  }).toString();

  it("is a fieldset with a legend, described by hint and error", () => {
    expect(tag(out, "fieldset")).toBe(
      '<fieldset class="fieldset" aria-describedby="method-hint method-error">',
    );
    expect(out).toContain('<legend class="legend">How?</legend>');
  });

  it("gives the first radio the field id (the error summary's target) and checks the chosen one", () => {
    expect(tag(out, "input", "method")).toContain('value="email"');
    const sms = tag(out, "input", "method-2");
    expect(sms).toContain(" checked");
    expect(sms).toContain('aria-describedby="method-2-hint"');
    expect(out).toContain('<label class="radio-label" for="method-2">Text</label>');
  });
});

describe("passwordRules()", () => {
  const out = passwordRules({
    rules: [
      { id: "length", text: t("password.rule.length", { min: 12, max: 256 }), ok: true },
      { id: "breached", text: t("password.rule.breached"), ok: false },
      { id: "strength", text: t("password.rule.strength") },
    ],
  }).toString();

  it("lists one item per rule with an id and its state in words, not colour alone", () => {
    expect(out).toContain(
      '<li class="password-rule" id="password-rules-length" data-rule="length" data-state="ok"><span class="rule-state">Done:</span> <span class="rule-text">be between 12 and 256 characters long</span></li>',
    );
    expect(tag(out, "li", "password-rules-breached")).toContain('data-state="fail"');
    expect(out).toContain('<span class="rule-state">Not yet:</span>');
    expect(tag(out, "li", "password-rules-strength")).toContain('data-state="unknown"');
  });

  it("has a polite live region and gives the script its texts", () => {
    expect(out).toContain(
      '<p class="visually-hidden" role="status" aria-live="polite" id="password-rules-status"></p>',
    );
    expect(tag(out, "div")).toContain('data-text-summary-other="{{count}} rules are not met yet."');
    expect(tag(out, "div")).toContain('data-text-summary-one="{{count}} rule is not met yet."');
  });
});

describe("captchaWidget()", () => {
  it("renders the altcha element with our challenge URL and translated strings, and a no-JS explanation", () => {
    const out = captchaWidget({ error: "Complete the check" }).toString();
    const widget = tag(out, "altcha-widget");
    expect(widget).toContain(`challengeurl="${CAPTCHA_CHALLENGE_PATH}"`);
    expect(widget).toContain('name="altcha"');
    expect(widget).toContain(" hidefooter");
    const strings = /strings="([^"]*)"/.exec(widget)?.[1] ?? "";
    expect(
      JSON.parse(
        strings
          .replace(/&quot;/g, '"')
          .replace(/&#39;/g, "'")
          .replace(/&amp;/g, "&"),
      ),
    ).toMatchObject({
      label: "I am not a robot",
    });
    expect(out).toMatch(/<noscript>[\s\S]*JavaScript is needed[\s\S]*<\/noscript>/);
    expect(out).toContain('id="altcha-error"');
  });
});

describe("challengeFields()", () => {
  it("renders a code prompt with the masked address and minutes left", () => {
    const out = challengeFields({
      prompt: {
        kind: "code",
        channel: "email",
        digits: 6,
        expiresAt: 300_000,
        sentToMasked: "j•••@e•••.com",
      },
      now: 1,
      errors: { code: "The code is not correct" },
    }).toString();
    expect(out).toContain("We sent a code to j•••@e•••.com. It has 6 digits.");
    expect(out).toContain("The code expires in 5 minutes.");
    expect(tag(out, "input")).toContain('autocomplete="one-time-code"');
    expect(tag(out, "input")).toContain('aria-invalid="true"');
  });

  it("does not reveal anything in strict disclosure (no masked address)", () => {
    const out = challengeFields({
      prompt: { kind: "code", channel: "sms", digits: 8, expiresAt: 0, sentToMasked: null },
    }).toString();
    expect(out).toContain(
      "If the details you entered match our records, we have sent a code. It has 8 digits.",
    );
  });

  it("renders one labelled field per question, with escaped question text", () => {
    const out = challengeFields({
      prompt: {
        kind: "questions",
        questions: [
          { id: "q1", text: "First <pet>?" },
          { id: "q2", text: "Town?" },
        ],
      },
    }).toString();
    expect(out).toContain('<label class="label" for="answer-q1">First &lt;pet&gt;?</label>');
    expect(tag(out, "input", "answer-q2")).toContain('name="answer.q2"');
  });

  it("renders totp and passkey prompts", () => {
    expect(challengeFields({ prompt: { kind: "totp", digits: 6 } }).toString()).toContain(
      '<p class="hint" id="code-hint">The 6 digits your app shows for this account</p>',
    );
    const pk = challengeFields({
      prompt: { kind: "passkey", options: { challenge: "</script>" } },
    }).toString();
    expect(pk).toContain('data-passkey-options="{&quot;challenge&quot;:&quot;&lt;/script&gt;&quot;}"');
    expect(pk).toContain("<noscript>");
  });
});

describe("content components", () => {
  it("notice, panel and definition list escape their text", () => {
    expect(notice({ kind: "warning", title: "T<", body: "B>", role: "status" }).toString()).toContain(
      '<div class="notice notice-warning" role="status">\n<h2 class="notice-title">T&lt;</h2>\n<div class="notice-body"><p>B&gt;</p></div>',
    );
    expect(panel({ title: "Done", body: "Sign in" }).toString()).toContain(
      '<h1 class="panel-title">Done</h1>',
    );
    expect(definitionList([{ term: "To", description: "a<b" }]).toString()).toContain(
      "<dt>To</dt><dd>a&lt;b</dd>",
    );
  });

  it("no component emits inline style or script", () => {
    const all = [
      form({ action: "/", csrf: "x", body: "" }),
      textInput({ name: "a", label: "A", hint: "h", error: "e" }),
      passwordInput({ name: "p", label: "P", autocomplete: "new-password" }),
      radioGroup({ name: "r", legend: "L", options: [{ value: "1", label: "1" }] }),
      passwordRules({ rules: [{ id: "length", text: "x" }] }),
      captchaWidget(),
      errorSummary({ errors: [{ text: "x" }] }),
      notice({ body: "x" }),
    ].join("\n");
    expect(all).not.toMatch(/<style|\sstyle=|<script|\son[a-z]+=/i);
  });
});
