/**
 * The page shell every portal page is rendered into: an accessible HTML5 document with a skip link,
 * the organisation's header, one <main>, the helpdesk footer, our stylesheet and the tenant's colour
 * (/brand.css, because the CSP forbids inline style). Scripts are external and deferred only; every
 * page works without them.
 */
import type { TenantSettings } from "../config/tenant-settings.js";
import { t } from "../i18n/index.js";
import { attrs, html, type SafeHtml, safeUrl } from "./html.js";

export type Branding = TenantSettings["branding"];

/** A same-origin script. `module: true` for ES modules (deferred by nature). */
export interface ScriptRef {
  src: string;
  module?: boolean;
}

export interface PageOptions {
  /** The page's own title (usually the text of its h1); the organisation name is appended. */
  title: string;
  /** A supported locale, e.g. "en". Sets <html lang> and the language of the page chrome. */
  lang: string;
  branding: Branding;
  body: SafeHtml;
  /** The flow's CSRF token, exposed as <meta name="csrf-token"> for scripts. */
  csrf?: string;
  /** Same-origin script paths (e.g. "/static/password-rules.js"), loaded with `defer`. */
  scripts?: ReadonlyArray<string | ScriptRef>;
  /** Extra same-origin stylesheets (e.g. the captcha widget's). */
  stylesheets?: readonly string[];
  /** The tenant slug, passed to /brand.css so the colour is the tenant's. */
  tenant?: string;
  /** The page shows validation errors: the title gets the "Error:" prefix screen readers announce first. */
  hasErrors?: boolean;
}

/** The stylesheet and script every page loads. */
export const BASE_STYLESHEET = "/static/latchkey.css";
export const BASE_SCRIPT = "/static/latchkey.js";
/** Declared so browsers do not ask for /favicon.ico (a 404 in every page's console otherwise). */
export const FAVICON = "/static/favicon.svg";

function sameOrigin(path: string): string {
  // A leading single slash only: "//host/x" is protocol-relative, i.e. another origin.
  if (!/^\/(?!\/)[^\s"'<>\\]*$/.test(path)) throw new Error(`renderPage: not a same-origin path: ${path}`);
  return path;
}

export function brandStylesheetHref(tenant?: string): string {
  return tenant ? `/brand.css?tenant=${encodeURIComponent(tenant)}` : "/brand.css";
}

export function renderPage(opts: PageOptions): string {
  const { branding, lang } = opts;
  const pageTitle = t(lang, "common.page_title", {
    page: opts.title,
    organisation: branding.organisationName,
  });
  const title = opts.hasErrors ? `${t(lang, "common.error_prefix")} ${pageTitle}` : pageTitle;
  const stylesheets = [BASE_STYLESHEET, brandStylesheetHref(opts.tenant), ...(opts.stylesheets ?? [])];
  const scripts: ScriptRef[] = [
    { src: BASE_SCRIPT },
    ...(opts.scripts ?? []).map((s) => (typeof s === "string" ? { src: s } : s)),
  ];

  // A helpdesk URL with another scheme (settings allow any URL) is shown as text only, never as a link.
  const helpdesk =
    branding.helpdeskUrl && safeUrl(branding.helpdeskUrl) === branding.helpdeskUrl
      ? html`<a href="${branding.helpdeskUrl}">${branding.helpdeskText}</a>`
      : branding.helpdeskText;

  const page = html`<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
${opts.csrf !== undefined && html`<meta name="csrf-token" content="${opts.csrf}">`}
<title>${title}</title>
<link rel="icon" href="${FAVICON}" type="image/svg+xml">
${stylesheets.map((href) => html`<link rel="stylesheet" href="${sameOrigin(href)}">\n`)}${scripts.map(
  (s) =>
    html`<script${attrs({ src: sameOrigin(s.src), type: s.module ? "module" : null, defer: !s.module })}></script>\n`,
)}</head>
<body>
<a class="skip-link" href="#main">${t(lang, "common.skip_link")}</a>
<header class="site-header">
<div class="container">
<p class="site-header-org">${branding.organisationName}</p>
<p class="site-header-service">${t(lang, "common.service_name")}</p>
</div>
</header>
<div class="container">
<main id="main" tabindex="-1">
${opts.body}
</main>
</div>
<footer class="site-footer">
<div class="container">
<h2 class="site-footer-heading">${t(lang, "common.helpdesk_heading")}</h2>
<p>${helpdesk}</p>
<p class="site-footer-meta">${t(lang, "common.footer.powered_by")}</p>
</div>
</footer>
</body>
</html>
`;
  return page.toString();
}
