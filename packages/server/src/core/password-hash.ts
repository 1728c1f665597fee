/**
 * Password hashing for the accounts Latchkey holds itself (cloud accounts, history, demo users):
 * argon2id with the OWASP minimum (19 MiB, t=2, p=1), PHC strings at rest. The native module is
 * imported on first use so that commands which never hash (migrate, docs, --help) start faster.
 */
import type { Options } from "@node-rs/argon2";

/** The parameters every new hash uses; verify reads them back from the PHC string. */
export const ARGON2_PARAMS = {
  // 2 is Algorithm.Argon2id; the enum is an ambient const enum, which isolated modules cannot read.
  algorithm: 2 as NonNullable<Options["algorithm"]>,
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
} as const satisfies Options;

let argon2: Promise<typeof import("@node-rs/argon2")> | undefined;
function lib(): Promise<typeof import("@node-rs/argon2")> {
  argon2 ??= import("@node-rs/argon2");
  return argon2;
}

/** Hashes `password` with argon2id; returns a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`). */
export async function hashPassword(password: string): Promise<string> {
  return (await lib()).hash(password, ARGON2_PARAMS);
}

/**
 * True when `password` matches `hash`. A malformed or foreign hash answers false rather than
 * throwing, so a damaged row can never turn into a 500 that tells an attacker something.
 */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await (await lib()).verify(hash, password);
  } catch {
    return false;
  }
}
