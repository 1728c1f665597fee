/**
 * Reading secrets from files. A secret file must be a regular file readable by its owner only
 * (mode & 0o077 === 0): a key that other local users can read is a key that has leaked.
 * Every failure is a ConfigError naming the key that pointed at the file.
 */
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { ConfigError } from "./errors.js";

function describeMode(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

/** Checks the file exists, is a regular file and is not group/world accessible. */
export function checkSecretFile(path: string, key: string): void {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    throw new ConfigError(
      key,
      `the file ${path} does not exist or cannot be read`,
      "create it or correct the path",
    );
  }
  if (!st.isFile()) throw new ConfigError(key, `${path} is not a regular file`, "point it at a file");
  if (process.platform !== "win32" && (st.mode & 0o077) !== 0) {
    throw new ConfigError(
      key,
      `the secret file ${path} is readable by group or others (mode ${describeMode(st.mode)})`,
      `run: chmod 600 ${path}`,
    );
  }
}

/** Reads a secret file after checking it; surrounding whitespace (a trailing newline) is dropped. */
export function readSecretFile(path: string, key: string): string {
  checkSecretFile(path, key);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new ConfigError(key, `the file ${path} cannot be read by this user`, "fix its owner or path");
  }
  const value = text.trim();
  if (!value) throw new ConfigError(key, `the file ${path} is empty`, "write the secret into it");
  return value;
}

/** Checks a non-secret file the server will read (a CA certificate, a filter file). */
export function checkReadableFile(path: string, key: string): void {
  try {
    if (!statSync(path).isFile()) throw new Error("not a file");
    accessSync(path, constants.R_OK);
  } catch {
    throw new ConfigError(
      key,
      `the file ${path} does not exist or cannot be read`,
      "create it or correct the path",
    );
  }
}

/**
 * Decodes a 32-byte key written as 64 hex digits or as base64/base64url. Anything else is refused:
 * a pass phrase is not a key.
 */
export function decodeKey(text: string, key: string, fix: string): Buffer {
  const t = text.trim();
  let buf: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(t)) buf = Buffer.from(t, "hex");
  else if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(t))
    buf = Buffer.from(t.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (buf?.length !== 32) {
    throw new ConfigError(key, "the key is not 32 bytes written as base64 or hex", fix);
  }
  if (buf.every((b) => b === buf[0])) {
    throw new ConfigError(key, "the key is a single repeated byte, not random", fix);
  }
  return buf;
}
