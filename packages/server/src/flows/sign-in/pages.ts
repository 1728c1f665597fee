/**
 * Sign-in as server-rendered pages: /account/sign-in (user name, password, captcha) and
 * /account/sign-in/second-factor (choose a method, enter its code). They work without JavaScript
 * (forms, POST-redirect-GET) under the strict CSP; the captcha widget is the only script that
 * matters, and it solves its proof of work by itself. The directory's answers become pages: locked →
 * a link to the reset (which unlocks), disabled → contact your administrator, expired or must change
 * → the forced change (/account/password/expired).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { clearFlowCookie, readFlowCookie, setFlowCookie } from "../../account/flow-store.js";
import { SIGN_IN_PATH, safeNext } from "../../account/guard.js";
import { sendAccountPage, translatorFor } from "../../account/layout.js";
import { errorText, field, metaOf } from "../../account/page-helpers.js";
import {
  readSessionCookie,
  type SessionCookieOptions,
  type SessionService,
  setSessionCookie,
} from "../../account/sessions.js";
import type { Clock } from "../../core/clock.js";
import { isLatchkeyError, type LatchkeyError } from "../../core/errors.js";
import type { Translate } from "../../i18n/index.js";
import { PASSKEY_SCRIPTS } from "../../methods/passkey/index.js";
import type { Tenant } from "../../store/schema.js";
import {
  button,
  CAPTCHA_ASSETS,
  CAPTCHA_FIELD,
  CODE_FIELD,
  captchaWidget,
  challengeFields,
  type FieldError,
  fieldId,
  form,
  linkButton,
  notice,
  passwordInput,
  radioGroup,
  usernameInput,
} from "../../web/components.js";
import { html, type SafeHtml } from "../../web/html.js";
import { CHANGE_COOKIE, FORCED_CHANGE_PATH } from "../change/pages.js";
import { CHANGE_FLOW_LIFETIME_MS } from "../change/states.js";
import type { SecondFactorView, SignInOutcome, SignInService } from "./service.js";
import { SIGN_IN_FLOW_LIFETIME_MS } from "./states.js";

export const SIGN_IN_COOKIE = "lk_signin";
const SECOND_FACTOR_PATH = "/account/sign-in/second-factor";

export interface SignInPageOptions {
  signIn: SignInService;
  sessions: SessionService;
  clock: Clock;
  getTenant(req: FastifyRequest): Promise<Tenant>;
  cookie: SessionCookieOptions;
}

interface FormState {
  errors?: FieldError[];
  fieldErrors?: Record<string, string>;
  username?: string;
  banner?: SafeHtml;
}

/** Sets the cookies an outcome needs and says where the browser goes next. */
export function applyOutcome(
  reply: FastifyReply,
  outcome: SignInOutcome,
  cookie: SessionCookieOptions,
): string {
  switch (outcome.kind) {
    case "signed_in":
      setSessionCookie(reply, outcome.cookieValue, cookie);
      clearFlowCookie(reply, SIGN_IN_COOKIE, cookie);
      return outcome.next;
    case "second_factor":
      setFlowCookie(
        reply,
        SIGN_IN_COOKIE,
        { flowId: outcome.view.flowId, binding: outcome.binding },
        { secure: cookie.secure, maxAgeSeconds: SIGN_IN_FLOW_LIFETIME_MS / 1000 },
      );
      return SECOND_FACTOR_PATH;
    case "change_required":
      setFlowCookie(
        reply,
        CHANGE_COOKIE,
        { flowId: outcome.view.flowId, binding: outcome.binding },
        { secure: cookie.secure, maxAgeSeconds: CHANGE_FLOW_LIFETIME_MS / 1000 },
      );
      return FORCED_CHANGE_PATH;
  }
}

export async function signInPages(app: FastifyInstance, opts: SignInPageOptions): Promise<void> {
  const { signIn } = opts;

  function renderSignIn(
    req: FastifyRequest,
    reply: FastifyReply,
    tenant: Tenant,
    next: string,
    state: FormState = {},
    status = 200,
  ): FastifyReply {
    const t = translatorFor(req);
    const fe = state.fieldErrors ?? {};
    return sendAccountPage(
      reply,
      {
        req,
        signedIn: null,
        tenant,
        section: null,
        title: t("account.sign_in.title"),
        ...(state.errors ? { errors: state.errors } : {}),
        // The sign-in form has no flow yet: the captcha (single-use, HMAC-signed) is what makes a
        // forged cross-site post worthless, and SameSite cookies do the rest.
        csrf: "",
        scripts: [...CAPTCHA_ASSETS.scripts],
        stylesheets: [...CAPTCHA_ASSETS.stylesheets],
        body: html`${state.banner}<h1>${t("account.sign_in.title")}</h1>
<p class="lead">${t("account.sign_in.lead")}</p>
${form({
  action: SIGN_IN_PATH,
  csrf: "",
  body: html`<input type="hidden" name="next" value="${next}">
${usernameInput({
  name: "username",
  label: t("account.sign_in.username.label"),
  hint: t("account.sign_in.username.hint"),
  value: state.username ?? "",
  error: fe.username,
  t,
})}
${passwordInput({
  name: "password",
  label: t("account.sign_in.password.label"),
  autocomplete: "current-password",
  error: fe.password,
  t,
})}
${captchaWidget({ t, ...(fe[CAPTCHA_FIELD] ? { error: fe[CAPTCHA_FIELD] } : {}) })}
${button({ text: t("account.sign_in.submit") })}`,
})}
<p><a href="/reset">${t("account.sign_in.forgot")}</a></p>`,
      },
      status,
    );
  }

  function renderDeadEnd(
    req: FastifyRequest,
    reply: FastifyReply,
    tenant: Tenant,
    kind: "locked" | "disabled",
    status: number,
  ): FastifyReply {
    const t = translatorFor(req);
    return sendAccountPage(
      reply,
      {
        req,
        signedIn: null,
        tenant,
        section: null,
        title: t(`account.${kind}.title`),
        body: html`<h1>${t(`account.${kind}.title`)}</h1>
<p>${t(`account.${kind}.body`)}</p>
${kind === "locked" ? linkButton({ href: "/reset", text: t("account.locked.link"), variant: "primary" }) : null}`,
      },
      status,
    );
  }

  app.get<{ Querystring: { next?: string; signed_out?: string; ended?: string } }>(
    SIGN_IN_PATH,
    async (req, reply) => {
      const tenant = await opts.getTenant(req);
      const next = safeNext(req.query.next);
      const cookie = readSessionCookie(req);
      // Already signed in: straight on.
      if (cookie && (await opts.sessions.resolve(tenant, cookie))) return reply.redirect(next, 303);
      const t = translatorFor(req);
      const banner =
        req.query.signed_out !== undefined
          ? notice({ kind: "success", body: t("account.sign_in.signed_out"), role: "status" })
          : undefined;
      return renderSignIn(req, reply, tenant, next, banner ? { banner } : {});
    },
  );

  app.post(SIGN_IN_PATH, async (req, reply) => {
    const tenant = await opts.getTenant(req);
    const t = translatorFor(req);
    // Login CSRF (a forged form signing the victim into someone else's account): the form has no
    // token before sign-in, so a cross-site Origin is refused outright.
    if (!sameOrigin(req))
      return renderSignIn(
        req,
        reply,
        tenant,
        "/account",
        { errors: [{ text: t("error.csrf_mismatch") }] },
        403,
      );
    const username = field(req.body, "username", 300).trim();
    const password = field(req.body, "password", 1024);
    const captcha = field(req.body, CAPTCHA_FIELD, 4096);
    const next = safeNext(field(req.body, "next", 500));
    const fe: Record<string, string> = {};
    if (!username) fe.username = t("account.sign_in.error.username_required");
    else if (username.length > 256) fe.username = t("reset.identify.error.username_too_long", { max: 256 });
    if (!password) fe.password = t("account.sign_in.error.password_required");
    if (!captcha) fe[CAPTCHA_FIELD] = t("reset.identify.error.captcha_required");
    if (Object.keys(fe).length > 0)
      return renderSignIn(req, reply, tenant, next, fieldState(fe, username), 400);
    try {
      const outcome = await signIn.signIn(tenant, { username, password, captcha, next }, metaOf(req));
      return reply.redirect(applyOutcome(reply, outcome, opts.cookie), 303);
    } catch (e) {
      if (!isLatchkeyError(e)) throw e;
      if (e.code === "ACCOUNT_LOCKED") return renderDeadEnd(req, reply, tenant, "locked", e.status);
      if (e.code === "ACCOUNT_DISABLED") return renderDeadEnd(req, reply, tenant, "disabled", e.status);
      if (e.code === "CAPTCHA_FAILED")
        return renderSignIn(
          req,
          reply,
          tenant,
          next,
          fieldState({ [CAPTCHA_FIELD]: t(e.messageId) }, username),
          e.status,
        );
      return renderSignIn(
        req,
        reply,
        tenant,
        next,
        { errors: [{ text: errorText(t, e) }], username },
        e.status,
      );
    }
  });

  // ——— the second step ———

  function renderSecondFactor(
    req: FastifyRequest,
    reply: FastifyReply,
    tenant: Tenant,
    view: SecondFactorView,
    state: FormState = {},
    status = 200,
  ): FastifyReply {
    const t = translatorFor(req);
    const fe = state.fieldErrors ?? {};
    let title: string;
    let body: SafeHtml;
    let scripts: readonly string[] = [];
    if (view.challenge) {
      const p = view.challenge.prompt;
      title =
        p.kind === "totp"
          ? t("reset.totp.title")
          : p.kind === "passkey"
            ? t("reset.passkey.title")
            : t("reset.code.title");
      // The passkey ceremony runs in the browser (static/passkey.js); it posts the assertion as "passkey".
      if (p.kind === "passkey") scripts = PASSKEY_SCRIPTS;
      body = html`<h1>${title}</h1>
${form({
  action: `${SECOND_FACTOR_PATH}/verify`,
  csrf: view.csrf,
  body: html`${challengeFields({ prompt: p, t, errors: fe, now: opts.clock.now() })}
${button({ text: t("account.sign_in.second_factor.verify") })}`,
})}
${form({
  action: `${SECOND_FACTOR_PATH}/other`,
  csrf: view.csrf,
  body: button({ text: t("account.sign_in.second_factor.other"), variant: "secondary" }),
})}`;
    } else {
      title = t("account.sign_in.second_factor.title");
      body = html`<p class="lead">${t("account.sign_in.second_factor.lead")}</p>
${form({
  action: `${SECOND_FACTOR_PATH}/challenge`,
  csrf: view.csrf,
  body: html`${radioGroup({
    name: "method",
    legend: t("account.sign_in.second_factor.legend"),
    legendIsPageHeading: true,
    options: view.methods.map((m) => ({
      value: m.type,
      label: m.hint
        ? t(`reset.choose.method.${m.type}`, { masked: m.hint })
        : t(`reset.choose.strict_method.${m.type}`),
    })),
    value: view.methods.length === 1 ? (view.methods[0]?.type ?? "") : "",
    error: fe.method,
    t,
  })}
${button({ text: t("account.sign_in.second_factor.submit") })}`,
})}`;
    }
    return sendAccountPage(
      reply,
      {
        req,
        signedIn: null,
        tenant,
        section: null,
        title,
        csrf: view.csrf,
        ...(scripts.length > 0 ? { scripts } : {}),
        ...(state.errors ? { errors: state.errors } : {}),
        body: html`${state.banner}${body}`,
      },
      status,
    );
  }

  /** Back to sign-in (flow gone, expired, or throttled), with the reason as a banner. */
  function restart(
    req: FastifyRequest,
    reply: FastifyReply,
    tenant: Tenant,
    e?: LatchkeyError,
  ): FastifyReply {
    clearFlowCookie(reply, SIGN_IN_COOKIE, opts.cookie);
    const t = translatorFor(req);
    return renderSignIn(
      req,
      reply,
      tenant,
      "/account",
      e ? { banner: notice({ kind: "warning", body: errorText(t, e), role: "status" }) } : {},
      e?.status ?? 200,
    );
  }

  app.get(SECOND_FACTOR_PATH, async (req, reply) => {
    const tenant = await opts.getTenant(req);
    const bound = readFlowCookie(req, SIGN_IN_COOKIE);
    if (!bound) return reply.redirect(SIGN_IN_PATH, 303);
    try {
      return renderSecondFactor(req, reply, tenant, await signIn.view(tenant, bound.flowId, bound.binding));
    } catch (e) {
      if (!isLatchkeyError(e)) throw e;
      return restart(req, reply, tenant, e.code === "FLOW_EXPIRED" ? e : undefined);
    }
  });

  async function step(
    req: FastifyRequest,
    reply: FastifyReply,
    run: (s: Parameters<SignInService["startChallenge"]>[0]) => Promise<FastifyReply>,
    onError: (e: LatchkeyError, t: Translate) => FormState,
  ): Promise<FastifyReply> {
    const tenant = await opts.getTenant(req);
    const bound = readFlowCookie(req, SIGN_IN_COOKIE);
    if (!bound) return reply.redirect(SIGN_IN_PATH, 303);
    const s = {
      tenant,
      flowId: bound.flowId,
      binding: bound.binding,
      csrf: field(req.body, "_csrf", 200),
      meta: metaOf(req),
    };
    try {
      return await run(s);
    } catch (e) {
      if (!isLatchkeyError(e)) throw e;
      if (e.code === "FLOW_NOT_FOUND" || e.code === "FLOW_EXPIRED" || e.code === "THROTTLED")
        return restart(req, reply, tenant, e);
      let view: SecondFactorView;
      try {
        view = await signIn.view(tenant, bound.flowId, bound.binding);
      } catch {
        return restart(req, reply, tenant);
      }
      return renderSecondFactor(req, reply, tenant, view, onError(e, translatorFor(req)), e.status);
    }
  }

  app.post(`${SECOND_FACTOR_PATH}/challenge`, async (req, reply) => {
    const method = field(req.body, "method", 20);
    return step(
      req,
      reply,
      async (s) => {
        await signIn.startChallenge(s, method);
        return reply.redirect(SECOND_FACTOR_PATH, 303);
      },
      (e, t) =>
        e.code === "METHOD_NOT_AVAILABLE"
          ? fieldState({ method: t("account.sign_in.second_factor.error.required") }, undefined)
          : { errors: [{ text: errorText(t, e) }] },
    );
  });

  app.post(`${SECOND_FACTOR_PATH}/verify`, async (req, reply) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    // A passkey assertion arrives as JSON text in "passkey" (static/passkey.js); the method checks
    // its shape (assertionSchema) before any work, so unparsable text is just a failed proof.
    const passkey = field(body, "passkey", 40_000);
    const response: Record<string, unknown> = passkey
      ? { assertion: parseJson(passkey) }
      : { code: field(body, CODE_FIELD, 40).replace(/[\s-]/g, "") };
    return step(
      req,
      reply,
      async (s) =>
        reply.redirect(applyOutcome(reply, await signIn.verifyChallenge(s, response), opts.cookie), 303),
      (e, t) =>
        e.code !== "VERIFICATION_FAILED"
          ? { errors: [{ text: errorText(t, e) }] }
          : passkey
            ? { errors: [{ text: t("reset.passkey.error.failed") }] }
            : fieldState({ [CODE_FIELD]: t("reset.code.error.wrong") }, undefined),
    );
  });

  app.post(`${SECOND_FACTOR_PATH}/other`, async (req, reply) =>
    step(
      req,
      reply,
      async (s) => {
        await signIn.clearChallenge(s);
        return reply.redirect(SECOND_FACTOR_PATH, 303);
      },
      (e, t) => ({ errors: [{ text: errorText(t, e) }] }),
    ),
  );
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function fieldState(fields: Record<string, string>, username: string | undefined): FormState {
  return {
    errors: Object.entries(fields).map(([name, text]) => ({ fieldId: fieldId(name), text })),
    fieldErrors: fields,
    ...(username !== undefined ? { username } : {}),
  };
}

/**
 * False when the browser says the request came from another site. Fetch metadata first: our pages
 * send no referrer, so a form post carries `Origin: null` and only Sec-Fetch-Site tells same-origin
 * apart; browsers without it are judged by a real Origin; a request with neither is not a browser's
 * cross-site form and passes (the captcha still has to be solved).
 */
export function sameOrigin(req: FastifyRequest): boolean {
  const site = req.headers["sec-fetch-site"];
  if (typeof site === "string") return site === "same-origin" || site === "none";
  const origin = req.headers.origin;
  if (typeof origin !== "string" || origin === "null") return true;
  try {
    return new URL(origin).host === req.host;
  } catch {
    return false;
  }
}
