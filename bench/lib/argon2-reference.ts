/**
 * The reference operation every Latchkey benchmark measures in the same run: one Argon2id hash at
 * OWASP's 19 MiB, t=2, p=1 with @node-rs/argon2, the parameters core/password-hash.ts uses (fixed
 * here so the reference stays comparable across runs even if production parameters change). Report other
 * costs as ratios to it so noisy neighbours cancel out.
 */
import { randomBytes } from "node:crypto";
import { hash, type Options } from "@node-rs/argon2";
import { type Measurement, measure } from "./stats.js";

export const ARGON2_REFERENCE = Object.freeze({
  // 2 is Algorithm.Argon2id; the enum is an ambient const enum, which isolated modules cannot read.
  algorithm: 2 as NonNullable<Options["algorithm"]>,
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
});

export function measureArgon2Reference(iterations = 60): Promise<Measurement> {
  const salt = randomBytes(16);
  return measure(
    "argon2id 19 MiB t2 p1 hash (reference)",
    iterations,
    (i) => hash(`reference-password-${i}`, { ...ARGON2_REFERENCE, salt }),
    { warmup: 3 },
  );
}
