/**
 * The sequence diagram drawn as SVG from the step model, without a browser or Mermaid at run time:
 * one column (box and dashed lifeline) per actor, one numbered arrow per step, a band per phase.
 * Steps the person sees are drawn in the brand colour, background steps in grey, and a step that
 * happens only sometimes carries its condition under its label. All text is XML-escaped.
 */
import { ACTOR_LABELS, type Explanation, type Step } from "./model.js";
import { actorsOf } from "./render-text.js";

export function xmlEscape(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** Greedy word wrap to at most `width` characters a line. */
export function wrap(text: string, width: number, maxLines = 4): string[] {
  const words = text.split(/\s+/).filter(Boolean);
  const lines: string[] = [];
  let cur = "";
  for (const w of words) {
    if (cur && cur.length + 1 + w.length > width) {
      lines.push(cur);
      cur = w;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  if (cur) lines.push(cur);
  if (lines.length > maxLines) {
    const kept = lines.slice(0, maxLines);
    kept[maxLines - 1] = `${kept[maxLines - 1]} …`;
    return kept;
  }
  return lines;
}

const COL = 180;
const MARGIN = 24;
const HEAD = 40;
const LINE = 14;
const CHAR = 6.4; // average width of a 12px sans-serif character

export function renderSvg(e: Explanation, opts: { colour?: string } = {}): string {
  const colour = /^#[0-9a-fA-F]{6}$/.test(opts.colour ?? "") ? (opts.colour as string) : "#1f4e8c";
  const actors = actorsOf(e);
  const x = (a: Step["actor"]) => MARGIN + COL / 2 + actors.indexOf(a) * COL;
  const width = MARGIN * 2 + Math.max(1, actors.length) * COL + 160;
  const body: string[] = [];
  let y = MARGIN + HEAD + 24;
  const titleY = MARGIN - 4;
  let phase = "";
  e.steps.forEach((s, i) => {
    if (s.phase !== phase) {
      phase = s.phase;
      const title = e.phases.find((p) => p.id === phase)?.title ?? phase;
      body.push(
        `<rect x="${MARGIN / 2}" y="${y}" width="${width - MARGIN}" height="22" fill="#eef2f7" rx="3"/>`,
        `<text x="${MARGIN}" y="${y + 15}" class="phase">${xmlEscape(title)}</text>`,
      );
      y += 30;
    }
    const x1 = x(s.actor);
    const x2 = x(s.to ?? s.actor);
    const self = x1 === x2;
    const span = self ? COL * 1.6 : Math.abs(x2 - x1) - 16;
    const chars = Math.max(24, Math.floor(span / CHAR));
    const label = wrap(`${i + 1}. ${s.action}`, chars);
    const cond =
      s.conditions.length > 0 ? wrap(`(${s.conditions.map((c) => c.text).join("; ")})`, chars, 2) : [];
    const textX = self ? x1 + 10 : Math.min(x1, x2) + 8;
    const cls = s.visible ? "seen" : "bg";
    label.forEach((l, k) => {
      body.push(`<text x="${textX}" y="${y + LINE * (k + 1)}" class="${cls}">${xmlEscape(l)}</text>`);
    });
    cond.forEach((l, k) => {
      body.push(
        `<text x="${textX}" y="${y + LINE * (label.length + k + 1)}" class="cond">${xmlEscape(l)}</text>`,
      );
    });
    const ay = y + LINE * (label.length + cond.length) + 8;
    const stroke = s.visible ? colour : "#666666";
    const dash = s.visible ? "" : ' stroke-dasharray="6 3"';
    if (self) {
      body.push(
        `<path d="M${x1} ${ay - 4} h28 v12 h-24" fill="none" stroke="${stroke}" stroke-width="1.5"${dash} marker-end="url(#${s.visible ? "head-seen" : "head-bg"})"/>`,
      );
    } else {
      body.push(
        `<line x1="${x1}" y1="${ay}" x2="${x2 + (x2 > x1 ? -2 : 2)}" y2="${ay}" stroke="${stroke}" stroke-width="1.5"${dash} marker-end="url(#${s.visible ? "head-seen" : "head-bg"})"/>`,
      );
    }
    y = ay + (self ? 18 : 12);
  });
  const height = y + MARGIN;
  const heads = actors
    .map((a) => {
      const cx = x(a);
      return [
        `<line x1="${cx}" y1="${MARGIN + HEAD}" x2="${cx}" y2="${height - MARGIN / 2}" stroke="#b0b8c4" stroke-dasharray="4 4"/>`,
        `<rect x="${cx - COL / 2 + 10}" y="${MARGIN}" width="${COL - 20}" height="${HEAD}" rx="6" fill="#ffffff" stroke="${colour}" stroke-width="1.5"/>`,
        `<text x="${cx}" y="${MARGIN + HEAD / 2 + 5}" class="actor" text-anchor="middle">${xmlEscape(ACTOR_LABELS[a])}</text>`,
      ].join("");
    })
    .join("\n");
  const title = `${e.title} — ${e.tenant.name}`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 10}" viewBox="0 ${titleY - 14} ${width} ${height + 10}" role="img" aria-labelledby="t">
<title id="t">${xmlEscape(title)}</title>
<defs>
<marker id="head-seen" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="${colour}"/></marker>
<marker id="head-bg" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#666666"/></marker>
<style>
text { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 12px; fill: #222222; }
.actor { font-weight: bold; font-size: 13px; }
.phase { font-weight: bold; fill: #1b2a3a; }
.seen { fill: ${colour}; font-weight: bold; }
.bg { fill: #333333; }
.cond { fill: #6b7280; font-style: italic; font-size: 11px; }
.title { font-size: 15px; font-weight: bold; }
</style>
</defs>
<rect x="0" y="${titleY - 14}" width="${width}" height="${height + 10}" fill="#ffffff"/>
<text x="${MARGIN}" y="${titleY}" class="title">${xmlEscape(title)}</text>
${heads}
${body.join("\n")}
</svg>
`;
}
