/**
 * The "my account" area's page frame: the portal shell (web/layout.ts) plus the account navigation
 * (overview, methods, password, sessions) and a sign-out button, which is a POST form with the
 * session's CSRF token so that no other site can sign a person out. Every account page — the
 * method-registration pages too — is sent through `sendAccountPage`, so the navigation, the CSP
 * headers and the CSRF meta tag are the same everywhere.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { parseTenantSettings } from "../config/tenant-settings.js";
import { negotiateLocale, type Translate, translator } from "../i18n/index.js";
import type { Tenant } from "../store/schema.js";
import { button, errorSummary, type FieldError, form } from "../web/components.js";
import { attrs, html, type SafeHtml } from "../web/html.js";
import type { ScriptRef } from "../web/layout.js";
import { renderPage } from "../web/layout.js";
import { sendPage } from "../web/security-headers.js";
import type { SignedIn } from "./guard.js";

export const ACCOUNT_PATHS = {
  overview: "/account",
  methods: "/account/methods",
  password: "/account/password",
  sessions: "/account/sessions",
  signIn: "/account/sign-in",
  signOut: "/account/sign-out",
} as const;

export type AccountSection = "overview" | "methods" | "password" | "sessions";

/** The account area's own stylesheet (navigation, session list). */
export const ACCOUNT_STYLESHEET = "/static/account.css";

export function localeOf(req: FastifyRequest): string {
  return negotiateLocale(req.headers["accept-language"]);
}

export function translatorFor(req: FastifyRequest): Translate {
  return translator(localeOf(req));
}

/** The navigation of the account area; `section` is marked aria-current="page". */
export function accountNav(t: Translate, section: AccountSection | null, csrf: string): SafeHtml {
  const items: Array<[AccountSection, string]> = [
    ["overview", t("account.nav.overview")],
    ["methods", t("account.nav.methods")],
    ["password", t("account.nav.password")],
    ["sessions", t("account.nav.sessions")],
  ];
  return html`<nav class="account-nav" aria-label="${t("account.nav.label")}">
<ul class="account-nav-list">
${items.map(
  ([id, text]) =>
    html`<li><a${attrs({
      class: "account-nav-link",
      href: ACCOUNT_PATHS[id],
      "aria-current": id === section ? "page" : null,
    })}>${text}</a></li>\n`,
)}</ul>
${form({
  action: ACCOUNT_PATHS.signOut,
  csrf,
  id: "sign-out",
  body: button({ text: t("account.nav.sign_out"), variant: "secondary" }),
})}
</nav>`;
}

export interface AccountPageOptions {
  req: FastifyRequest;
  /** The signed-in person; null for the pages before sign-in (sign-in, second factor, expired password). */
  signedIn: SignedIn | null;
  /** The tenant, when there is no signed-in person yet. */
  tenant?: Tenant;
  /** Which navigation item is current; null: none (e.g. an interrupt). */
  section: AccountSection | null;
  /** The page title (usually the text of its h1). */
  title: string;
  body: SafeHtml;
  /** Validation errors: shown in the error summary at the top, and the title gets "Error:". */
  errors?: readonly FieldError[];
  /** The CSRF token for a page before sign-in (a flow's); signed-in pages use the session's. */
  csrf?: string;
  scripts?: ReadonlyArray<string | ScriptRef>;
  stylesheets?: readonly string[];
}

export function renderAccountPage(opts: AccountPageOptions): string {
  const lang = localeOf(opts.req);
  const t = translator(lang);
  const tenant = opts.signedIn?.tenant ?? opts.tenant;
  if (!tenant) throw new Error("renderAccountPage: a tenant or a signed-in person is required");
  const settings = parseTenantSettings(tenant.settings_json);
  const csrf = opts.signedIn?.csrfToken ?? opts.csrf;
  const errors = opts.errors ?? [];
  const who = opts.signedIn
    ? (opts.signedIn.user.display_name ?? opts.signedIn.user.upn ?? opts.signedIn.user.username)
    : null;
  return renderPage({
    title: opts.title,
    lang,
    branding: settings.branding,
    tenant: tenant.slug,
    ...(csrf !== undefined ? { csrf } : {}),
    hasErrors: errors.length > 0,
    body: html`${
      opts.signedIn
        ? html`<p class="account-who">${t("account.signed_in_as", { name: who ?? "" })}</p>
${accountNav(t, opts.section, opts.signedIn.csrfToken)}`
        : null
    }${errors.length > 0 ? errorSummary({ errors, t }) : null}${opts.body}`,
    scripts: opts.scripts ?? [],
    stylesheets: [ACCOUNT_STYLESHEET, ...(opts.stylesheets ?? [])],
  });
}

/** Renders and sends an account page with the portal's page headers (CSP, no-store). */
export function sendAccountPage(reply: FastifyReply, opts: AccountPageOptions, status = 200): FastifyReply {
  return sendPage(reply, renderAccountPage(opts), status);
}
