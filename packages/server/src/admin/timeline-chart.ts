/**
 * One flow's recorded timeline drawn as a bar chart: a row per step, the bar placed by the step's
 * start (from the flow's creation) and sized by its duration (an instant gets a thin tick), the
 * actor named on each row. Steps the person sees, background steps, the agent's and directory's
 * legs and failed steps each get their own class, drawn distinctly by admin.css and named in the
 * legend. The chart is inline SVG with presentation attributes only (no style attribute, no script:
 * the CSP refuses both); it carries a title and description, and the table of steps that follows
 * it on the page is the same data for screen readers and for copying.
 */
import { ACTOR_LABELS } from "../explain/model.js";
import type { Timeline, TimelineEntry } from "../explain/timeline.js";
import type { Translate } from "../i18n/index.js";
import { html, join, raw, type SafeHtml } from "../web/html.js";

const WIDTH = 640;
const LABEL = 250;
const ROW = 26;
const TOP = 30;
const BAR = 16;

export type BarKind = "visible" | "background" | "agent" | "directory" | "failed";

export function barKind(e: TimelineEntry): BarKind {
  if (e.result === "failed") return "failed";
  if (e.actor === "agent") return "agent";
  if (e.actor === "directory") return "directory";
  return e.visible ? "visible" : "background";
}

/** "12 ms", "1.4 s" — what the chart's axis and the table show. */
export function formatMs(ms: number): string {
  if (ms < 1) return `${Math.round(ms * 100) / 100} ms`;
  if (ms < 1000) return `${Math.round(ms * 10) / 10} ms`;
  return `${Math.round(ms / 100) / 10} s`;
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

export function timelineChart(t: Timeline, labels: Map<string, string>, tr: Translate): SafeHtml {
  const entries = t.entries;
  const end = Math.max(t.createdAt + 1, ...entries.map((e) => e.at + (e.durationMs ?? 0)));
  const span = end - t.createdAt;
  const plot = WIDTH - LABEL - 10;
  const xOf = (at: number) => LABEL + ((at - t.createdAt) / span) * plot;
  const height = TOP + entries.length * ROW + 10;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const x = LABEL + f * plot;
    return html`<line class="tl-grid" x1="${x.toFixed(1)}" y1="${TOP - 6}" x2="${x.toFixed(1)}" y2="${height - 6}"></line>
<text class="tl-axis" x="${x.toFixed(1)}" y="${TOP - 12}" text-anchor="${f === 0 ? "start" : f === 1 ? "end" : "middle"}">${formatMs(f * span)}</text>`;
  });
  const rows = entries.map((e, i) => {
    const y = TOP + i * ROW;
    const x = xOf(e.at);
    const w = Math.max(3, ((e.durationMs ?? 0) / span) * plot);
    const kind = barKind(e);
    const label = labels.get(e.stepId) ?? e.stepId;
    return html`<g class="tl-row">
<text class="tl-label" x="0" y="${y + 12}">${clip(`${ACTOR_LABELS[e.actor]}: ${label}`, 38)}</text>
<rect class="tl-bar tl-${kind}" x="${Math.min(x, WIDTH - 13).toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${BAR}" rx="2"><title>${`${label} — ${ACTOR_LABELS[e.actor]}, +${formatMs(e.at - t.createdAt)}${e.durationMs === null ? "" : `, ${formatMs(e.durationMs)}`}`}</title></rect>
</g>`;
  });
  const desc = tr("admin.timeline.chart_desc", {
    n: entries.length,
    total: formatMs(span),
  });
  return html`<figure class="tl-figure">
<div class="tl-scroll" role="region" aria-label="${tr("admin.timeline.chart_title", { id: t.flowId })}" tabindex="0">
<svg class="tl-chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-labelledby="tl-title tl-desc" focusable="false">
<title id="tl-title">${tr("admin.timeline.chart_title", { id: t.flowId })}</title>
<desc id="tl-desc">${desc}</desc>
${ticks}
${rows}
</svg>
</div>
<figcaption>${legend(tr)}</figcaption>
</figure>`;
}

export function legend(tr: Translate): SafeHtml {
  const kinds: BarKind[] = ["visible", "background", "agent", "directory", "failed"];
  return html`<ul class="tl-legend">
${join(
  kinds.map(
    (k) =>
      html`<li><svg class="tl-swatch" viewBox="0 0 16 16" aria-hidden="true" focusable="false"><rect class="tl-bar tl-${k}" x="0" y="2" width="16" height="12" rx="2"></rect></svg> ${tr(`admin.timeline.legend.${k}`)}</li>\n`,
  ),
)}</ul>`;
}

/** The chart's rows as a table: the same entries, each with its numbers and detail. */
export function timelineTable(t: Timeline, labels: Map<string, string>, tr: Translate): SafeHtml {
  return html`<div class="table-scroll" role="region" aria-labelledby="tl-steps-heading" tabindex="0">
<table class="admin-table tl-table">
<caption class="visually-hidden">${tr("admin.timeline.steps_heading")}</caption>
<thead><tr><th scope="col">#</th><th scope="col">${tr("admin.timeline.col.step")}</th><th scope="col">${tr("admin.timeline.col.actor")}</th><th scope="col">${tr("admin.timeline.col.seen")}</th><th scope="col">${tr("admin.timeline.col.at")}</th><th scope="col">${tr("admin.timeline.col.took")}</th><th scope="col">${tr("admin.timeline.col.result")}</th><th scope="col">${tr("admin.timeline.col.detail")}</th></tr></thead>
<tbody>
${t.entries.map(
  (e, i) =>
    html`<tr class="tl-tr-${barKind(e)}"><td>${i + 1}</td><td>${labels.get(e.stepId) ?? tr("admin.timeline.not_in_explanation")} <code>${e.stepId}</code></td><td>${ACTOR_LABELS[e.actor]}</td><td>${e.visible ? tr("admin.explain.sees") : tr("admin.explain.background")}</td><td>+${formatMs(e.at - t.createdAt)}</td><td>${e.durationMs === null ? raw("&mdash;") : formatMs(e.durationMs)}</td><td>${e.result}</td><td>${e.detail ?? ""}</td></tr>\n`,
)}</tbody>
</table>
</div>`;
}
