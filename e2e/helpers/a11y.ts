/**
 * Accessibility checks with axe-core, run inside the page under test.
 *
 * Our pages send a strict CSP (script-src 'self'), so axe cannot be injected as a <script> with inline
 * content (page.addScriptTag({ content }) is refused) and we will not weaken the page with
 * `bypassCSP`, which would also hide CSP mistakes from the same test. Instead axe's source is evaluated
 * through the DevTools protocol (page.evaluate with a string), which the page's CSP does not govern.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { AxeResults, Result, RunOptions } from "axe-core";
import type { Page } from "playwright-core";

/** WCAG 2.0 A/AA, 2.1 A/AA and 2.2 AA (the target-size rule). */
export const A11Y_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"] as const;

let axeSource: string | undefined;
function source(): string {
  if (axeSource === undefined) {
    const require = createRequire(import.meta.url);
    axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
  }
  return axeSource;
}

export interface A11yOptions {
  /** CSS selectors to limit the check to (default: the whole document). */
  include?: string[];
  /** Rule ids to switch off, each with the reason in the caller's code. */
  disableRules?: string[];
}

/** Runs axe with A11Y_TAGS and returns the violations (an empty array when the page passes). */
export async function checkA11y(page: Page, opts: A11yOptions = {}): Promise<Result[]> {
  const loaded = await page.evaluate("typeof window.axe === 'object'");
  if (!loaded) await page.evaluate(source());
  const options: RunOptions = {
    runOnly: { type: "tag", values: [...A11Y_TAGS] },
    resultTypes: ["violations"],
    rules: Object.fromEntries((opts.disableRules ?? []).map((id) => [id, { enabled: false }])),
  };
  const results = await page.evaluate(
    async ({ include, options }) => {
      // biome-ignore lint/suspicious/noExplicitAny: axe is a global the evaluated source defined; the page has no types for it.
      const axe = (window as any).axe;
      const context = include?.length ? { include: include.map((s: string) => [s]) } : document;
      return (await axe.run(context, options)) as AxeResults;
    },
    { include: opts.include, options },
  );
  return results.violations;
}

/** A readable summary of violations for an assertion message. */
export function formatViolations(violations: readonly Result[]): string {
  return violations
    .map((v) => {
      const nodes = v.nodes
        .map((n) => `    ${n.target.join(" ")}: ${n.failureSummary?.replace(/\n/g, " ")}`)
        .join("\n");
      return `${v.id} (${v.impact}): ${v.help}\n${nodes}`;
    })
    .join("\n");
}
