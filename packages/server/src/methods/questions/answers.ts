/**
 * Answers to security questions: how they are normalised before hashing, and the argon2id hashing
 * itself (core/password-hash.ts: 19 MiB, t=2, p=1). A fixed dummy hash stands in for questions a
 * phantom or a user without that question is asked, so every verification costs the same.
 */
import { hashPassword, verifyPassword } from "../../core/password-hash.js";
import { cryptoRandom } from "../../core/random.js";

/** Unicode NFKC, lower-case, trimmed, inner whitespace collapsed: "  Fluffy  the CAT " → "fluffy the cat". */
export function normaliseAnswer(raw: string): string {
  return raw.normalize("NFKC").toLowerCase().normalize("NFKC").trim().replace(/\s+/gu, " ");
}

/** Hashes a normalised answer (purpose-prefixed so an answer hash is never a password hash). */
export function hashAnswer(normalised: string): Promise<string> {
  return hashPassword(`answer\u0000${normalised}`);
}

export function verifyAnswer(hash: string, raw: string): Promise<boolean> {
  return verifyPassword(hash, `answer\u0000${normaliseAnswer(raw)}`);
}

let dummy: Promise<string> | undefined;
/** A hash no answer matches (its input is random and forgotten), computed once per process. */
export function dummyAnswerHash(): Promise<string> {
  dummy ??= hashPassword(cryptoRandom.bytes(32).toString("base64url"));
  return dummy;
}
