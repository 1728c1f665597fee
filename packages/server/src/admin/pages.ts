/**
 * The admin pages of the explainer (issue 7): the explanation of each flow for the tenant's current
 * configuration with its sequence diagram and downloads, the tenant's recent flows and each one's
 * recorded timeline, and "why can't this user reset?". Every route is behind the admin guard and
 * every page is a read-only view.
 *
 * No audit record is written when an administrator views an explanation, a timeline or a user's
 * eligibility: these views change nothing (explain-user.ts only SELECTs and says so), and the portal
 * audits actions, not reads — the same as `latchkey admin explain-user`. If viewing a person's
 * eligibility ever needs to be traced, it is an `admin.*` catalogue event to add here.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { translatorFor } from "../account/layout.js";
import { formatTime } from "../account/page-helpers.js";
import type { UserVerdict } from "../explain/explain-user.js";
import {
  ACTOR_LABELS,
  counts,
  type Explanation,
  FLOW_NAMES,
  type Step,
  summaryLine,
} from "../explain/model.js";
import { renderPptx } from "../explain/render-pptx.js";
import { renderSvg } from "../explain/render-svg.js";
import { renderJson, renderMarkdown, renderMermaid } from "../explain/render-text.js";
import type { Translate } from "../i18n/index.js";
import { button, definitionList, notice } from "../web/components.js";
import { attrs, html, type SafeHtml } from "../web/html.js";
import type { AdminGuard } from "./guard.js";
import { ADMIN_PATHS, sendAdminPage } from "./layout.js";
import type { AdminExplainService } from "./service.js";
import { formatMs, timelineChart, timelineTable } from "./timeline-chart.js";

export interface AdminPagesOptions {
  guard: AdminGuard;
  service: AdminExplainService;
}

const explainQuery = z.object({
  flow: z.enum(FLOW_NAMES).default("reset"),
  kind: z.enum(["cloud", "synced"]).default("cloud"),
  admin: z.enum(["0", "1"]).default("0"),
  download: z.enum(["0", "1"]).optional(),
});
type ExplainQuery = z.infer<typeof explainQuery>;

const flowsQuery = z.object({ page: z.coerce.number().int().min(1).max(100_000).default(1) });
/** Flow ids are random base64url (core/random.ts newId); anything else cannot name a flow. */
const flowIdParam = z.object({ id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/) });
const userName = z.string().trim().min(1).max(256);

/** The downloadable formats: extension, content type, renderer. */
export const DOWNLOADS = {
  md: { type: "text/markdown; charset=utf-8", label: "Markdown" },
  mmd: { type: "text/plain; charset=utf-8", label: "Mermaid" },
  json: { type: "application/json; charset=utf-8", label: "JSON" },
  svg: { type: "image/svg+xml; charset=utf-8", label: "SVG" },
  pptx: {
    type: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    label: "PowerPoint (PPTX)",
  },
} as const;
type DownloadExt = keyof typeof DOWNLOADS;

function queryString(q: ExplainQuery, extra: Record<string, string> = {}): string {
  return new URLSearchParams({ flow: q.flow, kind: q.kind, admin: q.admin, ...extra }).toString();
}

/** A malformed query or name: 400 naming each refused field (the pages' own links never send one). */
function badRequest(reply: FastifyReply, t: Translate, issues: z.ZodError) {
  return reply
    .code(400)
    .type("text/plain; charset=utf-8")
    .header("cache-control", "no-store")
    .send(
      `${t("admin.bad_request")}\n${issues.issues.map((i) => `${i.path.join(".") || "query"}: ${i.message}`).join("\n")}\n`,
    );
}

function stepWho(s: Step): string {
  return s.to && s.to !== s.actor
    ? `${ACTOR_LABELS[s.actor]} → ${ACTOR_LABELS[s.to]}`
    : ACTOR_LABELS[s.actor];
}

function stepItem(t: Translate, s: Step): SafeHtml {
  return html`<li class="explain-step explain-step-${s.visible ? "visible" : "background"}">
<p class="explain-step-head"><span class="tag tag-${s.visible ? "visible" : "background"}">${s.visible ? t("admin.explain.sees") : t("admin.explain.background")}</span> <span class="explain-who">${stepWho(s)}</span></p>
<p class="explain-action">${s.action}</p>
${
  s.conditions.length > 0 &&
  html`<p class="explain-conditions">${t("admin.explain.only_when")} ${s.conditions.map((c) => c.text).join("; ")}</p>`
}<p class="explain-note">${s.note} <code class="explain-id">${s.id}</code></p>
</li>\n`;
}

function explanationBody(t: Translate, e: Explanation, q: ExplainQuery): SafeHtml {
  const selected = (v: string, cur: string) => (v === cur ? { selected: true } : {});
  const chooser = html`<form method="get" action="${ADMIN_PATHS.explain}" class="explain-chooser">
<div class="field"><label class="label" for="explain-flow">${t("admin.explain.flow")}</label>
<select class="select" id="explain-flow" name="flow">${FLOW_NAMES.map((f) => html`<option${attrs({ value: f, ...selected(f, q.flow) })}>${t(`admin.explain.flow.${f}`)}</option>`)}</select></div>
<div class="field"><label class="label" for="explain-kind">${t("admin.explain.kind")}</label>
<select class="select" id="explain-kind" name="kind">${(["cloud", "synced"] as const).map((k) => html`<option${attrs({ value: k, ...selected(k, q.kind) })}>${t(`admin.explain.kind.${k}`)}</option>`)}</select></div>
<div class="field"><label class="label" for="explain-admin">${t("admin.explain.audience")}</label>
<select class="select" id="explain-admin" name="admin">${(["0", "1"] as const).map((a) => html`<option${attrs({ value: a, ...selected(a, q.admin) })}>${t(`admin.explain.audience.${a}`)}</option>`)}</select></div>
${button({ text: t("admin.explain.show"), variant: "secondary" })}
</form>`;
  if (e.status !== "built") {
    return html`<h1>${e.title}</h1>${chooser}${notice({ kind: "warning", title: t("admin.explain.not_built"), body: e.statusNote ?? "" })}`;
  }
  const c = counts(e);
  const phases: SafeHtml[] = [];
  let n = 0;
  for (const p of e.phases) {
    const steps = e.steps.filter((s) => s.phase === p.id);
    if (steps.length === 0) continue;
    phases.push(html`<h3>${p.title}</h3>
<ol class="explain-steps"${attrs({ start: n + 1 })}>
${steps.map((s) => stepItem(t, s))}</ol>\n`);
    n += steps.length;
  }
  const svgHref = `/admin/explain.svg?${queryString(q)}`;
  return html`<h1>${e.title} <span class="explain-tenant">— ${e.tenant.name}</span></h1>
${chooser}
<p class="explain-summary" id="explain-summary"><strong>${summaryLine(e)}.</strong></p>
<ul class="explain-counts">
<li><span class="count-number">${c.visible}</span> ${t("admin.explain.count_visible")}</li>
<li><span class="count-number">${c.background}</span> ${t("admin.explain.count_background")}</li>
<li><span class="count-number">${e.branches.length}</span> ${t("admin.explain.count_branches")}</li>
</ul>
${e.warnings.length > 0 && notice({ kind: "warning", title: t("admin.explain.warnings"), body: html`<ul>${e.warnings.map((w) => html`<li>${w}</li>`)}</ul>` })}
<h2>${t("admin.explain.configuration")}</h2>
${definitionList(e.facts.map((f) => ({ term: f.label, description: f.value })))}
<h2>${t("admin.explain.downloads")}</h2>
<ul class="explain-downloads">
${(Object.keys(DOWNLOADS) as DownloadExt[]).map(
  (ext) =>
    html`<li><a${attrs({ href: `/admin/explain.${ext}?${queryString(q, { download: "1" })}`, download: `latchkey-${q.flow}-${q.kind}${q.admin === "1" ? "-admin" : ""}.${ext}` })}>${DOWNLOADS[ext].label}</a></li>\n`,
)}</ul>
<h2>${t("admin.explain.steps", { n: e.steps.length })}</h2>
${phases}
${
  e.branches.length > 0 &&
  html`<h2>${t("admin.explain.branches")}</h2>
<ul class="explain-branches">${e.branches.map((s) => stepItem(t, s))}</ul>`
}
<h2>${t("admin.explain.diagram")}</h2>
<div class="explain-diagram"><img${attrs({ src: svgHref, alt: t("admin.explain.diagram_alt", { summary: summaryLine(e) }), class: "explain-diagram-img" })}></div>
<p><a href="${svgHref}">${t("admin.explain.diagram_full")}</a></p>
<h2>${t("admin.explain.security")}</h2>
<h3>${t("admin.explain.sealed")}</h3>
<ul>${e.security.sealed.map((x) => html`<li>${x}</li>`)}</ul>
<h3>${t("admin.explain.never_stored")}</h3>
<ul>${e.security.neverStored.map((x) => html`<li>${x}</li>`)}</ul>
<h3>${t("admin.explain.throttles")}</h3>
<ul>${e.security.throttles.map((x) => html`<li>${x}</li>`)}</ul>`;
}

function verdictBody(t: Translate, v: UserVerdict): SafeHtml {
  const who = v.user
    ? t("admin.user.who", {
        name: v.user.username,
        kind: v.user.kind,
        role: v.user.admin ? t("admin.user.role_admin") : t("admin.user.role_user"),
      })
    : v.ambiguous
      ? t("admin.user.ambiguous")
      : t("admin.user.unknown");
  return html`<h1>${t("admin.user.title", { name: v.query })}</h1>
<p>${who}</p>
${notice({
  kind: v.eligible ? "success" : "warning",
  body: v.eligible ? t("admin.user.eligible") : t("admin.user.not_eligible", { check: v.firstFailing ?? "" }),
})}
${definitionList([
  { term: t("admin.user.required_gates"), description: String(v.requiredGates) },
  { term: t("admin.user.registered"), description: v.registered.join(", ") || t("admin.user.none") },
  { term: t("admin.user.usable"), description: v.usable.join(", ") || t("admin.user.none") },
])}
<h2>${t("admin.user.checks")}</h2>
<div class="table-scroll" role="region" aria-labelledby="checks-caption" tabindex="0">
<table class="admin-table">
<caption id="checks-caption" class="visually-hidden">${t("admin.user.checks")}</caption>
<thead><tr><th scope="col">${t("admin.user.col.check")}</th><th scope="col">${t("admin.user.col.result")}</th><th scope="col">${t("admin.user.col.detail")}</th><th scope="col">${t("admin.user.col.fix")}</th></tr></thead>
<tbody>
${v.checks.map(
  (c) =>
    html`<tr${attrs({ class: c.ok ? "check-pass" : "check-fail", "data-check": c.id })}><th scope="row"><code>${c.id}</code></th><td><span class="tag tag-${c.ok ? "pass" : "fail"}">${c.ok ? t("admin.user.pass") : t("admin.user.fail")}</span></td><td>${c.detail}</td><td>${c.fix}</td></tr>\n`,
)}</tbody>
</table>
</div>
<p class="admin-readonly">${t("admin.user.read_only")}</p>`;
}

function userForm(t: Translate, value = ""): SafeHtml {
  return html`<form method="get" action="${ADMIN_PATHS.users}" class="admin-user-form">
<div class="field"><label class="label" for="user-name">${t("admin.user.name_label")}</label>
<p class="hint" id="user-name-hint">${t("admin.user.name_hint")}</p>
<input class="input" id="user-name" name="name" type="text" autocomplete="off" spellcheck="false" autocapitalize="none" maxlength="256" aria-describedby="user-name-hint" value="${value}"></div>
${button({ text: t("admin.user.check") })}
</form>`;
}

export async function adminPages(app: FastifyInstance, opts: AdminPagesOptions): Promise<void> {
  const { guard, service } = opts;

  app.get(ADMIN_PATHS.home, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    const t = translatorFor(req);
    return sendAdminPage(reply, {
      req,
      signedIn: s,
      section: "home",
      title: t("admin.home.title"),
      body: html`<h1>${t("admin.home.title")}</h1>
<p>${t("admin.home.lead")}</p>
<ul class="admin-links">
<li><a href="${ADMIN_PATHS.explain}">${t("admin.home.explain")}</a></li>
<li><a href="${ADMIN_PATHS.flows}">${t("admin.home.flows")}</a></li>
</ul>
<h2>${t("admin.user.form_heading")}</h2>
${userForm(t)}`,
    });
  });

  app.get(ADMIN_PATHS.explain, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    const t = translatorFor(req);
    const q = explainQuery.safeParse(req.query);
    if (!q.success) return badRequest(reply, t, q.error);
    const { explanation } = await service.explanation(s.tenant, q.data.flow, {
      userKind: q.data.kind,
      admin: q.data.admin === "1",
    });
    return sendAdminPage(reply, {
      req,
      signedIn: s,
      section: "explain",
      title: explanation.title,
      body: explanationBody(t, explanation, q.data),
    });
  });

  for (const ext of Object.keys(DOWNLOADS) as DownloadExt[]) {
    app.get(`/admin/explain.${ext}`, async (req, reply) => {
      const s = await guard(req, reply);
      if (!s) return reply;
      const t = translatorFor(req);
      const q = explainQuery.safeParse(req.query);
      if (!q.success) return badRequest(reply, t, q.error);
      const { explanation, colour } = await service.explanation(s.tenant, q.data.flow, {
        userKind: q.data.kind,
        admin: q.data.admin === "1",
      });
      const body =
        ext === "md"
          ? renderMarkdown(explanation)
          : ext === "mmd"
            ? renderMermaid(explanation)
            : ext === "json"
              ? renderJson(explanation)
              : ext === "svg"
                ? renderSvg(explanation, { colour })
                : await renderPptx(explanation, { colour });
      const name = `latchkey-${q.data.flow}-${q.data.kind}${q.data.admin === "1" ? "-admin" : ""}.${ext}`;
      // The SVG is also the page's <img>: inline unless asked as a download. Its own <style> is all
      // it may use (no script, nothing loaded), whoever opens it directly.
      const inline = ext === "svg" && q.data.download !== "1";
      return reply
        .code(200)
        .header("content-type", DOWNLOADS[ext].type)
        .header("content-disposition", inline ? "inline" : `attachment; filename="${name}"`)
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
        .send(body);
    });
  }

  app.get(ADMIN_PATHS.flows, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    const t = translatorFor(req);
    const q = flowsQuery.safeParse(req.query);
    if (!q.success) return badRequest(reply, t, q.error);
    const page = q.data.page;
    const { rows, more } = await service.recentFlows(s.tenant, page - 1);
    const table =
      rows.length === 0
        ? html`<p>${t("admin.flows.none")}</p>`
        : html`<div class="table-scroll" role="region" aria-labelledby="flows-caption" tabindex="0">
<table class="admin-table">
<caption id="flows-caption" class="visually-hidden">${t("admin.flows.title")}</caption>
<thead><tr><th scope="col">${t("admin.flows.col.id")}</th><th scope="col">${t("admin.flows.col.type")}</th><th scope="col">${t("admin.flows.col.state")}</th><th scope="col">${t("admin.flows.col.user")}</th><th scope="col">${t("admin.flows.col.started")}</th><th scope="col">${t("admin.flows.col.duration")}</th></tr></thead>
<tbody>
${rows.map(
  (r) =>
    html`<tr><td><a class="flow-id" href="${`${ADMIN_PATHS.flows}/${r.id}`}">${r.id}</a></td><td>${r.type}</td><td>${r.state}</td><td>${r.username ?? (r.phantom ? t("admin.flows.phantom") : t("admin.flows.no_user"))}</td><td>${formatTime(r.createdAt)}</td><td>${formatMs(r.durationMs)}</td></tr>\n`,
)}</tbody>
</table>
</div>`;
    const pager = html`<nav class="admin-pager" aria-label="${t("admin.flows.pages")}">
${page > 1 && html`<a rel="prev" href="${`${ADMIN_PATHS.flows}?page=${page - 1}`}">${t("admin.flows.newer")}</a>`}
${more && html`<a rel="next" href="${`${ADMIN_PATHS.flows}?page=${page + 1}`}">${t("admin.flows.older")}</a>`}
</nav>`;
    return sendAdminPage(reply, {
      req,
      signedIn: s,
      section: "flows",
      title: t("admin.flows.title"),
      body: html`<h1>${t("admin.flows.title")}</h1>
<p>${t("admin.flows.lead", { page })}</p>
${table}
${pager}`,
    });
  });

  app.get(`${ADMIN_PATHS.flows}/:id`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    const t = translatorFor(req);
    const p = flowIdParam.safeParse(req.params);
    const found = p.success ? await service.timeline(s.tenant, p.data.id) : null;
    if (!found) {
      return sendAdminPage(
        reply,
        {
          req,
          signedIn: s,
          section: "flows",
          title: t("admin.timeline.not_found"),
          body: html`<h1>${t("admin.timeline.not_found")}</h1>
<p>${t("admin.timeline.not_found_body")}</p>
<p><a href="${ADMIN_PATHS.flows}">${t("admin.timeline.back")}</a></p>`,
        },
        404,
      );
    }
    const { timeline: tl, labels, username } = found;
    const title = t("admin.timeline.title", { type: tl.type });
    return sendAdminPage(reply, {
      req,
      signedIn: s,
      section: "flows",
      title,
      body: html`<h1>${title}</h1>
${definitionList([
  { term: t("admin.flows.col.id"), description: html`<code>${tl.flowId}</code>` },
  { term: t("admin.flows.col.state"), description: tl.state },
  {
    term: t("admin.flows.col.user"),
    description: username ?? (tl.phantom ? t("admin.flows.phantom") : t("admin.flows.no_user")),
  },
  { term: t("admin.flows.col.started"), description: formatTime(tl.createdAt) },
  { term: t("admin.timeline.entries"), description: String(tl.entries.length) },
])}
${
  tl.entries.length === 0
    ? html`<p>${t("admin.timeline.empty")}</p>`
    : html`${timelineChart(tl, labels, t)}
<h2 id="tl-steps-heading">${t("admin.timeline.steps_heading")}</h2>
${timelineTable(tl, labels, t)}`
}
<p><a href="${ADMIN_PATHS.flows}">${t("admin.timeline.back")}</a></p>`,
    });
  });

  async function userPage(req: FastifyRequest, reply: FastifyReply, raw: unknown) {
    const s = await guard(req, reply);
    if (!s) return reply;
    const t = translatorFor(req);
    if (raw === undefined || raw === "") {
      return sendAdminPage(reply, {
        req,
        signedIn: s,
        section: "users",
        title: t("admin.user.form_heading"),
        body: html`<h1>${t("admin.user.form_heading")}</h1>
${userForm(t)}`,
      });
    }
    const name = userName.safeParse(raw);
    if (!name.success) return badRequest(reply, t, name.error);
    const verdict = await service.explainUser(s.tenant, name.data);
    return sendAdminPage(reply, {
      req,
      signedIn: s,
      section: "users",
      title: t("admin.user.title", { name: name.data }),
      body: html`${verdictBody(t, verdict)}
<h2>${t("admin.user.another")}</h2>
${userForm(t)}`,
    });
  }

  app.get<{ Querystring: { name?: unknown } }>(ADMIN_PATHS.users, async (req, reply) =>
    userPage(req, reply, req.query.name),
  );
  app.get<{ Params: { name: string } }>(`${ADMIN_PATHS.users}/:name/explain`, async (req, reply) =>
    userPage(req, reply, req.params.name),
  );
}
