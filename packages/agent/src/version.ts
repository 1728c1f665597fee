/** The agent's version, from its package.json (sent in `hello` and the enrollment request). */
import { readFileSync } from "node:fs";

let cached: string | undefined;

export function agentVersion(): string {
  if (cached === undefined) {
    try {
      cached = (
        JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
      ).version;
    } catch {
      cached = "0.0.0";
    }
  }
  return cached;
}
