/**
 * The agent's logger: pino (JSON lines on stdout) with every secret-bearing key redacted, behind a
 * small interface so tests can capture what would be logged and check no secret is in it.
 */
import { pino } from "pino";

export type LogFn = (obj: Record<string, unknown>, msg?: string) => void;

export interface AgentLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** Keys whose values are never logged, wherever they appear (one or two levels deep). */
export const REDACTED_KEYS = [
  "password",
  "bindPassword",
  "token",
  "signature",
  "private",
  "privateKey",
  "nonce",
  "unicodePwd",
  "userPassword",
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): AgentLogger {
  const paths = REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);
  const options = { level, base: { program: "latchkey-agent" }, redact: { paths, censor: "[redacted]" } };
  return destination ? pino(options, destination) : pino(options);
}

/** A logger that drops everything. */
export const silentLogger: AgentLogger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/** A logger that keeps every line in memory (tests). */
export function memoryLogger(): AgentLogger & {
  lines: { level: string; msg: string; obj: Record<string, unknown> }[];
} {
  const lines: { level: string; msg: string; obj: Record<string, unknown> }[] = [];
  const at =
    (level: string): LogFn =>
    (obj, msg) => {
      lines.push({ level, msg: msg ?? "", obj });
    };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
