/**
 * The explainer's deck and diagram, checked by real readers: the PPTX is converted to PDF by
 * LibreOffice headless (Debian's libreoffice-impress, installed by test-env/ensure-packages.sh) and
 * read back with pdftotext — one page per planned slide, each slide's title and the tenant on them;
 * the SVG is rendered in Chromium without a console error, with one arrow per step laid out.
 * Nothing here is skipped when a tool is missing: the test fails instead.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseTenantSettings } from "../packages/server/src/config/tenant-settings.js";
import { randomSecrets } from "../packages/server/src/core/secrets.js";
import { type ExplainContext, implementedMethods } from "../packages/server/src/explain/context.js";
import { deckPlan, renderPptx } from "../packages/server/src/explain/render-pptx.js";
import { renderSvg } from "../packages/server/src/explain/render-svg.js";
import { explainReset } from "../packages/server/src/explain/reset.js";
import { createMethods } from "../packages/server/src/methods/registry.js";
import { launchBrowser } from "./helpers/browser.js";

const dir = mkdtempSync(join(tmpdir(), "lk-explain-deck-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ctx: ExplainContext = {
  tenant: { name: "Fabrikam & Co", slug: "fabrikam" },
  settings: parseTenantSettings({
    reset: { gates: 2, disclosure: "strict" },
    throttles: { lockoutMinutes: 720 },
  }),
  implemented: implementedMethods(
    createMethods({
      db: undefined as never,
      clock: { now: () => 0 },
      random: undefined as never,
      secrets: randomSecrets(),
      enqueue: async () => {
        throw new Error("never sends");
      },
    }),
  ),
  channels: { email: true, sms: true, voice: false },
  directories: [{ id: "corp-ad", dialects: ["ad"], agentsEnrolled: 2, agentsOnline: 1 }],
  now: Date.UTC(2026, 10, 27),
};
const explanation = explainReset(ctx, { userKind: "synced", admin: true });

/** pdftotext's text, whitespace folded (a title may wrap inside its box). */
const fold = (s: string) => s.replace(/\s+/g, " ");

describe("the slide deck", () => {
  it("converts to PDF with LibreOffice: one page per planned slide, titles, tenant, date, throttles", async () => {
    const pptx = join(dir, "reset.pptx");
    writeFileSync(pptx, await renderPptx(explanation));
    // The PPTX holds native shapes and text, no picture.
    const listing = execFileSync("unzip", ["-l", pptx], { encoding: "utf8" });
    expect(listing).not.toMatch(/ppt\/media\/\S/);
    // A profile of our own, so a concurrent LibreOffice (or a user's) cannot lock the conversion.
    execFileSync(
      "soffice",
      [
        `-env:UserInstallation=file://${join(dir, "profile")}`,
        "--headless",
        "--convert-to",
        "pdf",
        "--outdir",
        dir,
        pptx,
      ],
      { stdio: "pipe", timeout: 180_000 },
    );
    const pdf = join(dir, "reset.pdf");
    const info = execFileSync("pdfinfo", [pdf], { encoding: "utf8" });
    const plan = deckPlan(explanation);
    expect(Number(/Pages:\s+(\d+)/.exec(info)?.[1])).toBe(plan.length);
    execFileSync("pdftotext", [pdf, join(dir, "reset.txt")]);
    const pages = readFileSync(join(dir, "reset.txt"), "utf8").split("\f");
    plan.forEach((slide, i) => {
      const title = slide.title.replace(/\s+/g, " ");
      expect(fold(pages[i] ?? ""), `slide ${i + 1}`).toContain(title);
    });
    const first = fold(pages[0] ?? "");
    expect(first).toContain("Fabrikam & Co");
    expect(first).toContain("2026-11-27");
    const all = fold(pages.join(" "));
    // (a line break may swallow a hyphen: "self-service" can come back as "selfservice")
    expect(all).toContain("failed identity proofs in 24 hours lock it for 720 minutes");
    expect(all).toContain("Verification codes: only their HMAC-SHA256 is stored");
    // Every step's number appears on a phase slide (the arrows' labels).
    const phasePages = plan.map((p, i) => (p.kind === "phase" ? fold(pages[i] ?? "") : "")).join(" ");
    for (let n = 1; n <= explanation.steps.length; n++) expect(phasePages).toContain(`${n}. `);
  });

  it("has speaker notes for every step", async () => {
    const pptx = join(dir, "notes.pptx");
    writeFileSync(pptx, await renderPptx(explanation));
    const names = execFileSync("unzip", ["-Z1", pptx], { encoding: "utf8" })
      .split("\n")
      .filter((n) => /^ppt\/notesSlides\/notesSlide\d+\.xml$/.test(n));
    const notes = names
      .map((n) => execFileSync("unzip", ["-p", pptx, n], { encoding: "utf8" }))
      .join(" ")
      .replace(/&apos;/g, "'")
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">")
      .replace(/&amp;/g, "&");
    explanation.steps.forEach((s, i) => {
      expect(notes, s.id).toContain(`${i + 1}. `);
      expect(notes, s.id).toContain(s.note);
    });
  });
});

describe("the SVG diagram", () => {
  it("renders in Chromium without console errors, one visible arrow per step", async () => {
    const svg = renderSvg(explanation);
    const browser = await launchBrowser();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("console", (m) => {
        if (m.type() === "error") errors.push(m.text());
      });
      page.on("pageerror", (e) => errors.push(e.message));
      const file = join(dir, "reset.svg");
      writeFileSync(file, svg);
      await page.goto(`file://${file}`);
      const shape = await page.evaluate(() => {
        const root = document.documentElement as unknown as SVGSVGElement;
        const arrows = [...document.querySelectorAll("[marker-end]")] as SVGGraphicsElement[];
        return {
          tag: root.tagName,
          width: root.getBBox().width,
          arrows: arrows.length,
          drawn: arrows.filter((a) => a.getBBox().width > 0).length,
          text: root.textContent ?? "",
        };
      });
      expect(errors).toEqual([]);
      expect(shape.tag).toBe("svg");
      expect(shape.width).toBeGreaterThan(800);
      expect(shape.arrows).toBe(explanation.steps.length);
      expect(shape.drawn).toBe(explanation.steps.length);
      expect(shape.text).toContain("Fabrikam & Co");
      expect(shape.text).toContain("Mail/SMS provider");
    } finally {
      await browser.close();
    }
  });
});
