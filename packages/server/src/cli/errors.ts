/**
 * How the CLI ends: a configuration error is one line and status 2 (before anything is written);
 * a usage problem the person can fix (unknown tenant, bad option value) is one line and status 1.
 * Nothing else is shown of an unexpected error than its message: a stack can carry data.
 */
import { isConfigError } from "../config/errors.js";

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_CONFIG = 2;
/** A command that exists but is not built yet. */
export const EXIT_NOT_AVAILABLE = 3;

/** An error whose message is written for the person running the command. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** Prints the one line for `err` and returns the exit status. */
export function reportError(
  err: unknown,
  write: (line: string) => void = (l) => process.stderr.write(l),
): number {
  if (isConfigError(err)) {
    write(`${err.line()}\n`);
    return EXIT_CONFIG;
  }
  if (err instanceof CliError) {
    write(`latchkey: ${err.message.replace(/\s+/g, " ")}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  write(`latchkey: unexpected error: ${message.replace(/\s+/g, " ")}\n`);
  return EXIT_FAILURE;
}
