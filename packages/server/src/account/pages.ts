/**
 * The signed-in pages of "my account" that are not a flow: the overview, the list of sessions
 * (revoke one, sign out everywhere else) and sign-out. Every route starts with the guard, and every
 * POST checks the session's CSRF token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { AuditSink } from "../audit/emitter.js";
import type { Translate } from "../i18n/index.js";
import { button, definitionList, form, notice } from "../web/components.js";
import { html, type SafeHtml } from "../web/html.js";
import { type AccountGuard, checkCsrf, csrfOf, SIGN_IN_PATH, type SignedIn } from "./guard.js";
import { ACCOUNT_PATHS, sendAccountPage, translatorFor } from "./layout.js";
import { field, formatTime, metaOf } from "./page-helpers.js";
import {
  type AccountSession,
  clearSessionCookie,
  type SessionCookieOptions,
  type SessionService,
} from "./sessions.js";

export interface AccountPageOptions {
  guard: AccountGuard;
  sessions: SessionService;
  audit: AuditSink;
  cookie: SessionCookieOptions;
  /** How many methods the person has registered (usable ones), for the overview. */
  methodCount(s: SignedIn): Promise<number>;
}

/** A short, readable name for a browser from its user agent (no parsing library for one line). */
export function deviceName(userAgent: string | null, t: Translate): string {
  if (!userAgent) return t("account.sessions.unknown");
  const browser = /Edg\//.test(userAgent)
    ? "Edge"
    : /Firefox\//.test(userAgent)
      ? "Firefox"
      : /Chrome\//.test(userAgent)
        ? "Chrome"
        : /Safari\//.test(userAgent)
          ? "Safari"
          : null;
  const os = /Windows/.test(userAgent)
    ? "Windows"
    : /Android/.test(userAgent)
      ? "Android"
      : /iPhone|iPad/.test(userAgent)
        ? "iOS"
        : /Mac OS X/.test(userAgent)
          ? "macOS"
          : /Linux/.test(userAgent)
            ? "Linux"
            : null;
  if (browser && os) return `${browser} on ${os}`;
  return browser ?? os ?? userAgent.slice(0, 60);
}

export async function accountPages(app: FastifyInstance, opts: AccountPageOptions): Promise<void> {
  const { guard, sessions } = opts;

  app.get(ACCOUNT_PATHS.overview, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    const t = translatorFor(req);
    const count = await opts.methodCount(s);
    const changed = s.user.password_changed_at;
    return sendAccountPage(reply, {
      req,
      signedIn: s,
      section: "overview",
      title: t("account.overview.title"),
      body: html`<h1>${t("account.overview.title")}</h1>
<p class="lead">${t("account.overview.lead")}</p>
<h2>${t("account.nav.methods")}</h2>
<p>${t("account.overview.methods", { count })}</p>
<p><a href="${ACCOUNT_PATHS.methods}">${t("account.overview.methods_link")}</a></p>
<h2>${t("account.nav.password")}</h2>
${changed ? html`<p>${t("account.overview.password_changed", { time: formatTime(changed) })}</p>` : null}
<p><a href="${ACCOUNT_PATHS.password}">${t("account.overview.password_link")}</a></p>
<h2>${t("account.nav.sessions")}</h2>
<p><a href="${ACCOUNT_PATHS.sessions}">${t("account.overview.sessions_link")}</a></p>`,
    });
  });

  function renderSessions(
    req: FastifyRequest,
    reply: FastifyReply,
    s: SignedIn,
    list: AccountSession[],
    banner?: SafeHtml,
    status = 200,
  ): FastifyReply {
    const t = translatorFor(req);
    const others = list.filter((x) => x.id !== s.session.id);
    const current = list.find((x) => x.id === s.session.id) ?? s.session;
    const item = (
      x: AccountSession,
      isCurrent: boolean,
    ) => html`<li class="session${isCurrent ? " session-current" : ""}">
<h2>${isCurrent ? t("account.sessions.this_browser") : deviceName(x.user_agent, t)}</h2>
${definitionList([
  { term: t("account.sessions.device"), description: deviceName(x.user_agent, t) },
  { term: t("account.sessions.ip"), description: x.ip ?? t("account.sessions.unknown") },
  { term: t("account.sessions.created"), description: formatTime(x.created_at) },
  { term: t("account.sessions.last_seen"), description: formatTime(x.last_seen_at) },
])}
${
  isCurrent
    ? null
    : form({
        action: `${ACCOUNT_PATHS.sessions}/revoke`,
        csrf: s.csrfToken,
        body: html`<input type="hidden" name="id" value="${x.id}">
<button type="submit" class="button button-secondary">${t("account.sessions.revoke")}<span class="visually-hidden"> ${t("account.sessions.revoke_context", { time: formatTime(x.created_at) })}</span></button>`,
      })
}
</li>`;
    return sendAccountPage(
      reply,
      {
        req,
        signedIn: s,
        section: "sessions",
        title: t("account.sessions.title"),
        body: html`${banner}<h1>${t("account.sessions.title")}</h1>
<p class="lead">${t("account.sessions.lead")}</p>
<ul class="session-list">
${item(current, true)}
${others.map((x) => item(x, false))}
</ul>
${
  others.length === 0
    ? html`<p>${t("account.sessions.none_other")}</p>`
    : form({
        action: `${ACCOUNT_PATHS.sessions}/revoke-others`,
        csrf: s.csrfToken,
        body: button({ text: t("account.sessions.revoke_all") }),
      })
}`,
      },
      status,
    );
  }

  app.get(ACCOUNT_PATHS.sessions, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    return renderSessions(req, reply, s, await sessions.list(s.user));
  });

  app.post(`${ACCOUNT_PATHS.sessions}/revoke`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    const t = translatorFor(req);
    if (!checkCsrf(s, csrfOf(req))) {
      const banner = notice({ kind: "warning", body: t("error.csrf_mismatch"), role: "alert" });
      return renderSessions(req, reply, s, await sessions.list(s.user), banner, 403);
    }
    const id = field(req.body, "id", 64);
    const done = id !== s.session.id && (await sessions.revoke(id, s.user));
    if (done) await audit(s, req, "one", 1);
    const banner = done
      ? notice({ kind: "success", body: t("account.sessions.revoked"), role: "status" })
      : undefined;
    return renderSessions(req, reply, s, await sessions.list(s.user), banner);
  });

  app.post(`${ACCOUNT_PATHS.sessions}/revoke-others`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    const t = translatorFor(req);
    if (!checkCsrf(s, csrfOf(req))) {
      const banner = notice({ kind: "warning", body: t("error.csrf_mismatch"), role: "alert" });
      return renderSessions(req, reply, s, await sessions.list(s.user), banner, 403);
    }
    const count = await sessions.revokeAllFor(s.user, s.session.id);
    await audit(s, req, "others", count);
    const banner = notice({
      kind: "success",
      body: t("account.sessions.revoked_all", { count }),
      role: "status",
    });
    return renderSessions(req, reply, s, await sessions.list(s.user), banner);
  });

  app.post(ACCOUNT_PATHS.signOut, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    if (!checkCsrf(s, csrfOf(req))) return reply.redirect(ACCOUNT_PATHS.overview, 303);
    await sessions.revoke(s.session.id, s.user);
    await audit(s, req, "current", 1);
    clearSessionCookie(reply, opts.cookie);
    return reply.redirect(`${SIGN_IN_PATH}?signed_out=1`, 303);
  });

  async function audit(s: SignedIn, req: FastifyRequest, which: "one" | "others" | "current", count: number) {
    const meta = metaOf(req);
    await opts.audit.emit({
      tenantId: s.tenant.id,
      event: which === "others" ? "sessions.revoked" : "session.revoked",
      result: "info",
      actor: s.user.id,
      target: s.user.id,
      ip: meta.ip,
      userAgent: meta.userAgent,
      details: { which, count },
    });
  }
}
