/**
 * The admin pages' gate: the account area's session guard first (no session: the guard has already
 * redirected to the sign-in page, where administrators pass their second factor like everyone),
 * then `users.is_admin`. A signed-in person who is not an administrator gets a 403 page that says so
 * rather than a redirect, so they are not sent round in circles.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { AccountGuard, SignedIn } from "../account/guard.js";
import { translatorFor } from "../account/layout.js";
import { html } from "../web/html.js";
import { sendAdminPage } from "./layout.js";

export type AdminGuard = (req: FastifyRequest, reply: FastifyReply) => Promise<SignedIn | null>;

export function adminGuard(accountGuard: AccountGuard): AdminGuard {
  return async (req, reply) => {
    const signedIn = await accountGuard(req, reply);
    if (!signedIn) return null;
    if (signedIn.user.is_admin === 1) return signedIn;
    const t = translatorFor(req);
    await sendAdminPage(
      reply,
      {
        req,
        signedIn,
        section: null,
        admin: false,
        title: t("admin.forbidden.title"),
        body: html`<h1>${t("admin.forbidden.title")}</h1>
<p>${t("admin.forbidden.body")}</p>
<p><a href="/account">${t("admin.forbidden.back")}</a></p>`,
      },
      403,
    );
    return null;
  };
}
