/**
 * Keyboard-only interaction: reach a control with Tab (never a click or .focus()), then act on it with
 * keys, as a person without a mouse does. tabTo fails if the control cannot be reached, which is itself
 * an accessibility bug (a focus trap, a missing tabindex, a control hidden from the tab order).
 */
import type { Locator, Page } from "playwright-core";

export interface TabOptions {
  /** Give up after this many presses. */
  maxTabs?: number;
  /** Tab backwards. */
  reverse?: boolean;
}

async function isFocused(target: Locator): Promise<boolean> {
  // A locator that does not resolve is not focused; other errors must surface.
  if ((await target.count()) === 0) return false;
  return target.evaluate((el) => el === document.activeElement);
}

/** A short description of the focused element, for failure messages. */
export async function describeFocus(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!el || el === document.body) return "<body>";
    const name =
      el.getAttribute("aria-label") ??
      (el as HTMLInputElement).labels?.[0]?.textContent ??
      el.textContent ??
      "";
    return `<${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ""}> ${name.trim().slice(0, 60)}`;
  });
}

/** Presses Tab until `target` has focus; returns the number of presses. */
export async function tabTo(page: Page, target: Locator, opts: TabOptions = {}): Promise<number> {
  const max = opts.maxTabs ?? 60;
  const key = opts.reverse ? "Shift+Tab" : "Tab";
  const path: string[] = [];
  for (let i = 1; i <= max; i++) {
    await page.keyboard.press(key);
    if (await isFocused(target)) return i;
    path.push(await describeFocus(page));
  }
  throw new Error(`not reachable by ${key} within ${max} presses; focus went: ${path.join(" → ")}`);
}

/** Tabs to `target` and presses Enter (links, submit buttons). */
export async function tabAndEnter(page: Page, target: Locator, opts?: TabOptions): Promise<void> {
  await tabTo(page, target, opts);
  await page.keyboard.press("Enter");
}

/** Tabs to `target` and presses Space (buttons, checkboxes, radios). */
export async function tabAndSpace(page: Page, target: Locator, opts?: TabOptions): Promise<void> {
  await tabTo(page, target, opts);
  await page.keyboard.press("Space");
}

/** Tabs to a text field and types into it, key by key. */
export async function tabAndType(
  page: Page,
  target: Locator,
  text: string,
  opts?: TabOptions,
): Promise<void> {
  await tabTo(page, target, opts);
  await page.keyboard.type(text);
}
