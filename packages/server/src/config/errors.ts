/**
 * A configuration that is invalid or insecure. It names the key, what is wrong and how to fix it, and
 * renders as exactly one line: the CLI prints `line()` to stderr and exits with status 2.
 * The text never holds a configured value: a value may be a secret put in the wrong place.
 */
import { LatchkeyError } from "../core/errors.js";

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

export class ConfigError extends LatchkeyError {
  /** Key path (`server.port`, `directories[0].url`), a variable (`LATCHKEY_SERVER__PORT`) or `--config`. */
  readonly key: string;
  readonly problem: string;
  readonly fix: string;

  constructor(key: string, problem: string, fix: string) {
    const k = oneLine(key) || "(root)";
    super("CONFIG_INVALID", `config error at ${k}: ${oneLine(problem)}; ${oneLine(fix)}`, { key: k });
    this.name = "ConfigError";
    this.key = k;
    this.problem = oneLine(problem);
    this.fix = oneLine(fix);
  }

  /** The line the CLI prints. */
  line(): string {
    return `latchkey: ${this.message}`;
  }
}

export function isConfigError(e: unknown): e is ConfigError {
  return e instanceof ConfigError;
}

/** `["directories", 0, "url"]` → `directories[0].url` */
export function keyPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}
