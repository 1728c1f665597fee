/**
 * Starts Debian's Chromium through playwright-core (no browser download). The flags keep Chromium from
 * reaching for the network on its own: in the closed test network those background requests hang and
 * make it misbehave.
 */
import { type Browser, chromium, type LaunchOptions } from "playwright-core";

export const CHROMIUM_PATH = process.env.LATCHKEY_CHROMIUM ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
] as const;

export function launchBrowser(opts: Omit<LaunchOptions, "executablePath"> = {}): Promise<Browser> {
  return chromium.launch({
    ...opts,
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS, ...(opts.args ?? [])],
  });
}
