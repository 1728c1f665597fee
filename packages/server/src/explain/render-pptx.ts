/**
 * The explanation as an editable PowerPoint deck (pptxgenjs): a title slide with the tenant and the
 * date, one slide per phase drawn with native shapes (actor boxes, dashed lifelines, arrow lines,
 * text boxes — nothing is a picture, so every word and arrow can be edited), the numbered step list,
 * and a closing slide with the security properties from the tenant's real values. Each slide's
 * speaker notes explain its steps in plain words.
 *
 * deckPlan() says which slides the deck has; the deck test converts the file to PDF with LibreOffice
 * and checks the page count and titles against it.
 */
import PptxGenJSModule from "pptxgenjs";
import { ACTOR_LABELS, type Actor, counts, type Explanation, type Step, summaryLine } from "./model.js";
import { xmlEscape } from "./render-svg.js";
import { actorsOf } from "./render-text.js";

// pptxgenjs' types describe a CommonJS module whose `default` is the class; Node's ESM import gives
// the class itself (dist/pptxgen.es.js), so the value is retyped once here.
const PptxGenJS = PptxGenJSModule as unknown as typeof PptxGenJSModule.default;
type Slide = ReturnType<InstanceType<typeof PptxGenJS>["addSlide"]>;

/** Steps drawn on one phase slide, and rows on one step-list slide. */
const STEPS_PER_SLIDE = 9;
const ROWS_PER_SLIDE = 12;

export type PlannedSlide =
  | { kind: "title"; title: string }
  | { kind: "phase"; title: string; steps: { step: Step; n: number }[] }
  | { kind: "list"; title: string; steps: { step: Step; n: number }[] }
  | { kind: "status"; title: string }
  | { kind: "security"; title: string };

function chunks<T>(xs: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += size) out.push(xs.slice(i, i + size));
  return out;
}

export function deckTitle(e: Explanation): string {
  return `${e.title}: how it works`;
}

export function deckPlan(e: Explanation): PlannedSlide[] {
  const plan: PlannedSlide[] = [{ kind: "title", title: deckTitle(e) }];
  if (e.status !== "built") {
    plan.push({ kind: "status", title: `${e.title}: not available in this build` });
    plan.push({ kind: "security", title: "Security properties" });
    return plan;
  }
  const numbered = e.steps.map((step, i) => ({ step, n: i + 1 }));
  for (const p of e.phases) {
    const parts = chunks(
      numbered.filter((x) => x.step.phase === p.id),
      STEPS_PER_SLIDE,
    );
    for (const [i, steps] of parts.entries()) {
      plan.push({
        kind: "phase",
        title: parts.length > 1 ? `${p.title} (${i + 1}/${parts.length})` : p.title,
        steps,
      });
    }
  }
  const lists = chunks(numbered, ROWS_PER_SLIDE);
  for (const [i, steps] of lists.entries()) {
    plan.push({
      kind: "list",
      title: lists.length > 1 ? `All steps (${i + 1}/${lists.length})` : "All steps",
      steps,
    });
  }
  plan.push({ kind: "security", title: "Security properties" });
  return plan;
}

const W = 13.333;
const FONT = "Liberation Sans";

function who(s: Step): string {
  return s.to && s.to !== s.actor
    ? `${ACTOR_LABELS[s.actor]} → ${ACTOR_LABELS[s.to]}`
    : ACTOR_LABELS[s.actor];
}

function noteOf(s: Step, n: number): string {
  const when = s.conditions.length > 0 ? ` (${s.conditions.map((c) => c.text).join("; ")})` : "";
  return `${n}. ${who(s)}: ${s.action}${when}. ${s.note}`;
}

export async function renderPptx(e: Explanation, opts: { colour?: string } = {}): Promise<Buffer> {
  const colour = (/^#[0-9a-fA-F]{6}$/.test(opts.colour ?? "") ? (opts.colour as string) : "#1f4e8c").slice(1);
  const pres = new PptxGenJS();
  pres.layout = "LAYOUT_WIDE";
  pres.title = deckTitle(e);
  // pptxgenjs 4.0.1 writes <Company> into docProps/app.xml without escaping it (title and author are
  // escaped): a tenant named "A & B" made a file LibreOffice refused. Escaped here, once.
  pres.company = xmlEscape(e.tenant.name);
  pres.author = "Latchkey";
  const date = new Date(e.generatedAt).toISOString().slice(0, 10);
  const actors = actorsOf(e);
  const colW = (W - 0.6) / Math.max(1, actors.length);
  const cx = (a: Actor) => 0.3 + colW * (actors.indexOf(a) + 0.5);

  const header = (slide: Slide, title: string) => {
    slide.addText(title, {
      x: 0.3,
      y: 0.2,
      w: W - 0.6,
      h: 0.6,
      fontFace: FONT,
      fontSize: 26,
      bold: true,
      color: colour,
    });
  };

  for (const planned of deckPlan(e)) {
    const slide = pres.addSlide();
    if (planned.kind === "title") {
      slide.background = { color: colour };
      slide.addText(planned.title, {
        x: 0.6,
        y: 2.0,
        w: W - 1.2,
        h: 1.2,
        fontFace: FONT,
        fontSize: 40,
        bold: true,
        color: "FFFFFF",
      });
      slide.addText(`${e.tenant.name} · ${date}`, {
        x: 0.6,
        y: 3.3,
        w: W - 1.2,
        h: 0.6,
        fontFace: FONT,
        fontSize: 22,
        color: "FFFFFF",
      });
      slide.addText(e.status === "built" ? `${summaryLine(e)}.` : (e.statusNote ?? ""), {
        x: 0.6,
        y: 4.1,
        w: W - 1.2,
        h: 1.0,
        fontFace: FONT,
        fontSize: 16,
        color: "FFFFFF",
      });
      const c = counts(e);
      slide.addNotes(
        e.status === "built"
          ? `This deck explains ${e.title.toLowerCase()} exactly as ${e.tenant.name} has configured it on ${date}. The person sees ${c.visible} steps; ${c.background} happen in the background. ${e.facts.map((f) => `${f.label}: ${f.value}.`).join(" ")}`
          : (e.statusNote ?? ""),
      );
      continue;
    }
    header(slide, planned.title);
    if (planned.kind === "status") {
      slide.addText(e.statusNote ?? "", {
        x: 0.5,
        y: 1.2,
        w: W - 1,
        h: 2,
        fontFace: FONT,
        fontSize: 18,
        color: "333333",
      });
      slide.addNotes(e.statusNote ?? "");
      continue;
    }
    if (planned.kind === "phase") {
      const top = 1.0;
      const boxH = 0.5;
      const rowH = 0.62;
      const bottom = top + boxH + 0.15 + planned.steps.length * rowH + 0.1;
      for (const a of actors) {
        slide.addShape(pres.ShapeType.roundRect, {
          x: cx(a) - colW / 2 + 0.08,
          y: top,
          w: colW - 0.16,
          h: boxH,
          fill: { color: "FFFFFF" },
          line: { color: colour, width: 1.25 },
          rectRadius: 0.08,
        });
        slide.addText(ACTOR_LABELS[a], {
          x: cx(a) - colW / 2 + 0.08,
          y: top,
          w: colW - 0.16,
          h: boxH,
          align: "center",
          valign: "middle",
          fontFace: FONT,
          fontSize: 12,
          bold: true,
          color: "1B2A3A",
        });
        slide.addShape(pres.ShapeType.line, {
          x: cx(a),
          y: top + boxH,
          w: 0,
          h: bottom - top - boxH,
          line: { color: "B0B8C4", width: 1, dashType: "dash" },
        });
      }
      planned.steps.forEach(({ step: s, n }, i) => {
        const y = top + boxH + 0.15 + i * rowH;
        const x1 = cx(s.actor);
        const x2 = cx(s.to ?? s.actor);
        const lineColour = s.visible ? colour : "666666";
        const label = `${n}. ${s.action}${s.conditions.length > 0 ? ` (${s.conditions.map((c) => c.text).join("; ")})` : ""}`;
        if (x1 === x2) {
          slide.addShape(pres.ShapeType.line, {
            x: x1,
            y: y + 0.46,
            w: 0.35,
            h: 0,
            line: {
              color: lineColour,
              width: 1.5,
              beginArrowType: "triangle",
              dashType: s.visible ? "solid" : "dash",
            },
          });
          slide.addText(label, {
            x: x1 + 0.05,
            y,
            w: Math.min(5.5, W - 0.3 - x1),
            h: 0.42,
            fontFace: FONT,
            fontSize: 10,
            bold: s.visible,
            color: s.visible ? colour : "333333",
            valign: "bottom",
            fit: "shrink",
          });
        } else {
          const left = Math.min(x1, x2);
          const span = Math.abs(x2 - x1);
          slide.addShape(pres.ShapeType.line, {
            x: left,
            y: y + 0.46,
            w: span,
            h: 0,
            line: {
              color: lineColour,
              width: 1.5,
              dashType: s.visible ? "solid" : "dash",
              ...(x2 > x1 ? { endArrowType: "triangle" as const } : { beginArrowType: "triangle" as const }),
            },
          });
          slide.addText(label, {
            x: left + 0.05,
            y,
            w: Math.max(span, 3.2),
            h: 0.42,
            fontFace: FONT,
            fontSize: 10,
            bold: s.visible,
            color: s.visible ? colour : "333333",
            valign: "bottom",
            fit: "shrink",
          });
        }
      });
      slide.addNotes(planned.steps.map(({ step, n }) => noteOf(step, n)).join("\n\n"));
      continue;
    }
    if (planned.kind === "list") {
      const head = ["#", "Who", "What", "Seen by the person"].map((t) => ({
        text: t,
        options: { bold: true, color: "FFFFFF", fill: { color: colour } },
      }));
      const rows = planned.steps.map(({ step: s, n }) => [
        { text: String(n) },
        { text: who(s) },
        {
          text: `${s.action}${s.conditions.length > 0 ? ` (${s.conditions.map((c) => c.text).join("; ")})` : ""}`,
        },
        { text: s.visible ? "yes" : "background" },
      ]);
      slide.addTable([head, ...rows], {
        x: 0.3,
        y: 1.0,
        w: W - 0.6,
        colW: [0.5, 2.6, 8.4, 1.23],
        fontFace: FONT,
        fontSize: 10,
        border: { type: "solid", color: "D0D7E2", pt: 0.75 },
        valign: "middle",
      });
      slide.addNotes(planned.steps.map(({ step, n }) => noteOf(step, n)).join("\n\n"));
      continue;
    }
    // security
    const blocks: [string, string[]][] = [
      ["What is sealed", e.security.sealed],
      ["What is never stored", e.security.neverStored],
      ["Throttles (this tenant's values)", e.security.throttles],
    ];
    blocks.forEach(([title, items], i) => {
      const x = 0.3 + i * ((W - 0.6) / 3);
      slide.addText(
        [
          { text: title, options: { bold: true, fontSize: 15, color: colour, breakLine: true } },
          ...items.map((t) => ({
            text: t,
            options: { bullet: true, fontSize: 11, color: "222222", breakLine: true },
          })),
        ],
        { x, y: 1.0, w: (W - 0.6) / 3 - 0.15, h: 6.0, fontFace: FONT, valign: "top", paraSpaceAfter: 4 },
      );
    });
    slide.addNotes(
      `Sealed: ${e.security.sealed.join(". ")}. Never stored: ${e.security.neverStored.join(". ")}. Throttles: ${e.security.throttles.join(". ")}.`,
    );
  }
  const out = await pres.write({ outputType: "nodebuffer" });
  return out as Buffer;
}
