/**
 * Explanations as plain text, Markdown, JSON and a Mermaid sequence diagram. All four read the same
 * step list; none adds or drops a step.
 */
import { ACTOR_LABELS, type Actor, counts, type Explanation, type Step, summaryLine } from "./model.js";

function condText(s: Step): string {
  return s.conditions.length > 0 ? ` [${s.conditions.map((c) => c.text).join("; ")}]` : "";
}

function who(s: Step): string {
  return s.to && s.to !== s.actor
    ? `${ACTOR_LABELS[s.actor]} → ${ACTOR_LABELS[s.to]}`
    : ACTOR_LABELS[s.actor];
}

export function renderText(e: Explanation): string {
  const lines: string[] = [];
  if (e.status !== "built") {
    lines.push(`${e.title}: not available in this build.`, "", e.statusNote ?? "", "");
    return lines.join("\n");
  }
  lines.push(`${summaryLine(e)}.`, "");
  for (const f of e.facts) lines.push(`  ${f.label}: ${f.value}`);
  lines.push("");
  let phase = "";
  e.steps.forEach((s, i) => {
    if (s.phase !== phase) {
      phase = s.phase;
      lines.push(`${e.phases.find((p) => p.id === phase)?.title ?? phase}`);
    }
    lines.push(
      `${String(i + 1).padStart(3)}. ${s.visible ? "[person sees]" : "[background] "} ${who(s)}: ${s.action}${condText(s)}  (${s.id})`,
    );
  });
  if (e.branches.length > 0) {
    lines.push("", "Off the main path");
    for (const s of e.branches) lines.push(`   - ${who(s)}: ${s.action}${condText(s)}  (${s.id})`);
  }
  if (e.warnings.length > 0) {
    lines.push("", "Warnings");
    for (const w of e.warnings) lines.push(`   ! ${w}`);
  }
  lines.push("");
  return lines.join("\n");
}

const mdEscape = (s: string) => s.replace(/([\\`*_[\]|<>])/g, "\\$1");

export function renderMarkdown(e: Explanation): string {
  const out: string[] = [`# ${mdEscape(e.title)} — ${mdEscape(e.tenant.name)}`, ""];
  if (e.status !== "built") {
    out.push(`**Not available in this build.** ${mdEscape(e.statusNote ?? "")}`, "");
    return out.join("\n");
  }
  const c = counts(e);
  out.push(`**${mdEscape(summaryLine(e))}.**`, "");
  out.push("| | |", "|---|---|");
  for (const f of e.facts) out.push(`| ${mdEscape(f.label)} | ${mdEscape(f.value)} |`);
  out.push("", `## Steps (${c.visible} seen by the person, ${c.background} in the background)`, "");
  let phase = "";
  e.steps.forEach((s, i) => {
    if (s.phase !== phase) {
      phase = s.phase;
      out.push("", `### ${mdEscape(e.phases.find((p) => p.id === phase)?.title ?? phase)}`, "");
    }
    out.push(
      `${i + 1}. ${s.visible ? "**The person sees:**" : "*Background:*"} ${mdEscape(who(s))} — ${mdEscape(s.action)}${mdEscape(condText(s))} \`${s.id}\`  `,
      `   ${mdEscape(s.note)}`,
    );
  });
  if (e.branches.length > 0) {
    out.push("", "## Off the main path", "");
    for (const s of e.branches)
      out.push(`- ${mdEscape(who(s))} — ${mdEscape(s.action)}${mdEscape(condText(s))} \`${s.id}\``);
  }
  out.push("", "## Security properties", "");
  out.push("**Sealed:**", "", ...e.security.sealed.map((x) => `- ${mdEscape(x)}`), "");
  out.push("**Never stored:**", "", ...e.security.neverStored.map((x) => `- ${mdEscape(x)}`), "");
  out.push("**Throttles:**", "", ...e.security.throttles.map((x) => `- ${mdEscape(x)}`), "");
  if (e.warnings.length > 0) out.push("## Warnings", "", ...e.warnings.map((w) => `- ${mdEscape(w)}`), "");
  return out.join("\n");
}

export function renderJson(e: Explanation): string {
  return `${JSON.stringify({ ...e, counts: counts(e), summary: summaryLine(e) }, null, 2)}\n`;
}

/** The actors a diagram needs, in the fixed left-to-right order. */
export function actorsOf(e: Explanation): Actor[] {
  const used = new Set<Actor>();
  for (const s of e.steps) {
    used.add(s.actor);
    if (s.to) used.add(s.to);
  }
  return (Object.keys(ACTOR_LABELS) as Actor[]).filter((a) => used.has(a));
}

/** Mermaid treats `;` and `#` specially in messages; keep the words, drop the syntax. */
const mmd = (s: string) => s.replace(/[;#]/g, ",").replace(/[<>]/g, "").replace(/\s+/g, " ").trim();

export function renderMermaid(e: Explanation): string {
  const out = ["sequenceDiagram", "    autonumber"];
  if (e.status !== "built") {
    out.push(`    Note over Person: ${mmd(`${e.title}: not available in this build`)}`);
    return `${out.join("\n")}\n`;
  }
  const actors = actorsOf(e);
  for (const a of actors) out.push(`    participant ${a} as ${ACTOR_LABELS[a]}`);
  const first = actors[0] ?? "server";
  const lastActor = actors[actors.length - 1] ?? "server";
  let phase = "";
  for (const s of e.steps) {
    if (s.phase !== phase) {
      phase = s.phase;
      out.push(
        `    Note over ${first},${lastActor}: ${mmd(e.phases.find((p) => p.id === phase)?.title ?? phase)}`,
      );
    }
    const arrow = s.visible ? "->>" : "-)";
    const line = `${s.actor}${arrow}${s.to ?? s.actor}: ${mmd(s.action)}`;
    if (s.conditions.length > 0) {
      out.push(`    opt ${mmd(s.conditions.map((c) => c.text).join(", "))}`, `        ${line}`, "    end");
    } else out.push(`    ${line}`);
  }
  return `${out.join("\n")}\n`;
}
