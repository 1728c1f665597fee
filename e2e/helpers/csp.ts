/**
 * Watches a page for Content-Security-Policy violations. Chromium reports each refused inline script,
 * inline style, eval or foreign load as a console error starting "Refused to …"; any such message in a
 * test means a page or a script we ship breaks our own CSP.
 */
import type { Page } from "playwright-core";

export interface CspWatch {
  /** The violation messages seen so far. */
  readonly violations: string[];
  /** Console errors and uncaught page errors seen so far (CSP or not). */
  readonly errors: string[];
}

const CSP_MESSAGE =
  /Content Security Policy|Refused to (?:execute|apply|load|connect|evaluate|frame|create)/i;

export function watchCsp(page: Page): CspWatch {
  const watch = { violations: [] as string[], errors: [] as string[] };
  page.on("console", (msg) => {
    if (msg.type() !== "error" && msg.type() !== "warning") return;
    const text = msg.text();
    if (CSP_MESSAGE.test(text)) watch.violations.push(text);
    else if (msg.type() === "error") watch.errors.push(text);
  });
  page.on("pageerror", (err) => {
    watch.errors.push(String(err));
  });
  return watch;
}
