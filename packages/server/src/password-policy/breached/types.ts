/**
 * Breached-password checks: is this exact password in a known breach corpus? Two implementations,
 * both keyed by SHA-1 as Have I Been Pwned publishes it: an offline filter loaded from a file and the
 * HIBP range API. Either throws when it cannot answer; the checker then fails the rule closed.
 */
import { createHash } from "node:crypto";

export interface BreachedChecker {
  isBreached(password: string): Promise<boolean>;
}

/** SHA-1 of the UTF-8 encoding, as 40 uppercase hex digits (HIBP's format). */
export function sha1Hex(password: string): string {
  return createHash("sha1").update(password, "utf8").digest("hex").toUpperCase();
}

/** SHA-1 of the UTF-8 encoding, as 20 bytes. */
export function sha1Bytes(password: string): Buffer {
  return createHash("sha1").update(password, "utf8").digest();
}
