/**
 * Have I Been Pwned's range API (k-anonymity): send the first 5 hex digits of the password's SHA-1,
 * get back every breached suffix with that prefix, compare locally. With `Add-Padding: true` the
 * response is padded to 800–1,000 lines with count-0 entries so its size says nothing about the
 * prefix; those entries are ignored. The password and its full hash never leave the process.
 *
 * Never call this per keystroke: the hash prefixes of a password's successive prefixes would give
 * the password away one character at a time. The checker calls it only on submit.
 */
import { timingSafeEqual } from "node:crypto";
import { type BreachedChecker, sha1Hex } from "./types.js";

export class HibpUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HibpUnavailableError";
  }
}

export interface HibpOptions {
  /** Default "https://api.pwnedpasswords.com"; tests point it at a local server. */
  baseUrl?: string;
  /** Whole-request timeout in ms. Default 3000. */
  timeoutMs?: number;
  /** Largest response accepted, in bytes. Default 256 KiB (a padded response is ~30 KiB). */
  maxResponseBytes?: number;
  /** Sent as User-Agent, which HIBP asks for. */
  userAgent?: string;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

const SUFFIX_LINE = /^([0-9A-Fa-f]{35}):(\d{1,15})$/;

async function readCapped(res: Response, limit: number): Promise<string> {
  const declared = Number(res.headers.get("content-length") ?? "0");
  if (declared > limit) throw new HibpUnavailableError("range response too large");
  if (res.body === null) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw new HibpUnavailableError("range response too large");
    }
    parts.push(value);
  }
  return Buffer.concat(parts).toString("utf8");
}

/**
 * Whether `suffix` (35 uppercase hex digits) appears with a non-zero count in a range response.
 * Every line is compared in constant time and the scan never stops early, so the time taken does
 * not depend on where (or whether) the suffix appears.
 */
export function rangeResponseContains(body: string, suffix: string): boolean {
  const wanted = Buffer.from(suffix.toUpperCase(), "latin1");
  let found = 0;
  for (const raw of body.split("\n")) {
    const m = SUFFIX_LINE.exec(raw.trim());
    if (m === null) continue;
    const equal = timingSafeEqual(Buffer.from(m[1]!.toUpperCase(), "latin1"), wanted) ? 1 : 0;
    const counted = Number(m[2]) > 0 ? 1 : 0;
    found |= equal & counted;
  }
  return found === 1;
}

export function createHibpRangeChecker(options: HibpOptions = {}): BreachedChecker {
  const baseUrl = (options.baseUrl ?? "https://api.pwnedpasswords.com").replace(/\/+$/, "");
  const timeoutMs = options.timeoutMs ?? 3000;
  const maxBytes = options.maxResponseBytes ?? 256 * 1024;
  const userAgent = options.userAgent ?? "Latchkey-SSPR";
  const doFetch = options.fetch ?? fetch;
  return {
    async isBreached(password: string): Promise<boolean> {
      const hash = sha1Hex(password);
      const prefix = hash.slice(0, 5);
      let res: Response;
      try {
        res = await doFetch(`${baseUrl}/range/${prefix}`, {
          headers: { "Add-Padding": "true", "User-Agent": userAgent, Accept: "text/plain" },
          signal: AbortSignal.timeout(timeoutMs),
          redirect: "error",
        });
      } catch {
        // The cause may be a timeout or a network error; neither says anything about the password.
        throw new HibpUnavailableError("range request failed");
      }
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => undefined);
        throw new HibpUnavailableError(`range request answered ${res.status}`);
      }
      let body: string;
      try {
        body = await readCapped(res, maxBytes);
      } catch (e) {
        if (e instanceof HibpUnavailableError) throw e;
        throw new HibpUnavailableError("range response could not be read");
      }
      return rangeResponseContains(body, hash.slice(5));
    },
  };
}
