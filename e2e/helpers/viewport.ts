/**
 * The narrow-screen check: every portal page must work at 360 CSS px (a common small phone) without
 * horizontal scrolling.
 */
import type { Page } from "playwright-core";

export const NARROW = { width: 360, height: 740 } as const;

export interface OverflowReport {
  scrollWidth: number;
  /** Elements whose right edge passes the viewport, for the failure message. */
  offenders: string[];
}

export async function horizontalOverflow(page: Page): Promise<OverflowReport> {
  return page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const offenders: string[] = [];
    for (const el of Array.from(document.body.querySelectorAll("*"))) {
      const r = el.getBoundingClientRect();
      // Content spilling out of a narrower box (long words, <pre>) counts when the box lets it show.
      const spills = getComputedStyle(el).overflowX === "visible" ? r.left + el.scrollWidth : r.right;
      const right = Math.max(r.right, spills);
      if (r.width > 0 && right > width + 0.5) {
        const id = el.id ? `#${el.id}` : "";
        const cls =
          typeof el.className === "string" && el.className
            ? `.${el.className.trim().split(/\s+/).join(".")}`
            : "";
        offenders.push(`${el.tagName.toLowerCase()}${id}${cls} (right edge ${Math.round(right)})`);
      }
    }
    // The innermost offenders are the useful ones: their ancestors only inherit the overflow.
    return { scrollWidth: document.documentElement.scrollWidth, offenders: offenders.reverse().slice(0, 10) };
  });
}

/** Sets a 360×740 viewport and throws, naming the widest elements, if the page scrolls sideways. */
export async function at360(page: Page): Promise<void> {
  await page.setViewportSize(NARROW);
  // Let layout settle (fonts, custom elements) before measuring.
  await page.evaluate(
    () => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))),
  );
  const report = await horizontalOverflow(page);
  if (report.scrollWidth > NARROW.width) {
    throw new Error(
      `page is ${report.scrollWidth}px wide at ${NARROW.width}px: ${report.offenders.join(", ") || "no single element found"}`,
    );
  }
}
