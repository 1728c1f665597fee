/**
 * The admin pages' frame: the account area's page (portal shell, account navigation, sign-out,
 * CSP headers) with the admin navigation on top and the admin stylesheet.
 */
import type { FastifyReply } from "fastify";
import { type AccountPageOptions, sendAccountPage, translatorFor } from "../account/layout.js";
import type { Translate } from "../i18n/index.js";
import { attrs, html, type SafeHtml } from "../web/html.js";

export const ADMIN_STYLESHEET = "/static/admin.css";

export const ADMIN_PATHS = {
  home: "/admin",
  explain: "/admin/explain",
  flows: "/admin/flows",
  users: "/admin/users",
} as const;

export type AdminSection = "home" | "explain" | "flows" | "users";

export function adminNav(t: Translate, section: AdminSection | null): SafeHtml {
  const items: Array<[AdminSection, string]> = [
    ["home", t("admin.nav.home")],
    ["explain", t("admin.nav.explain")],
    ["flows", t("admin.nav.flows")],
    ["users", t("admin.nav.users")],
  ];
  return html`<nav class="admin-nav" aria-label="${t("admin.nav.label")}">
<ul class="admin-nav-list">
${items.map(
  ([id, text]) =>
    html`<li><a${attrs({
      class: "admin-nav-link",
      href: ADMIN_PATHS[id],
      "aria-current": id === section ? "page" : null,
    })}>${text}</a></li>\n`,
)}</ul>
</nav>`;
}

export interface AdminPageOptions extends Omit<AccountPageOptions, "section" | "stylesheets"> {
  section: AdminSection | null;
  /** False for the 403 page: no admin navigation for someone who may not use it. */
  admin?: boolean;
}

export function sendAdminPage(reply: FastifyReply, opts: AdminPageOptions, status = 200): FastifyReply {
  const t = translatorFor(opts.req);
  const body = opts.admin === false ? opts.body : html`${adminNav(t, opts.section)}${opts.body}`;
  return sendAccountPage(reply, { ...opts, section: null, body, stylesheets: [ADMIN_STYLESHEET] }, status);
}
