import { randomBytes, randomInt } from "node:crypto";

/** Randomness is an interface so tests can make codes predictable without weakening production. */
export interface Random {
  bytes(n: number): Buffer;
  /** Uniform integer in [min, max). */
  int(min: number, max: number): number;
}

export const cryptoRandom: Random = {
  bytes: (n) => randomBytes(n),
  int: (min, max) => randomInt(min, max),
};

/** A url-safe random identifier with 128 bits of entropy. */
export function newId(random: Random = cryptoRandom): string {
  return random.bytes(16).toString("base64url");
}

/** A numeric code of `digits` digits, uniformly drawn (leading zeros kept). */
export function numericCode(digits: number, random: Random = cryptoRandom): string {
  let out = "";
  for (let i = 0; i < digits; i++) out += String(random.int(0, 10));
  return out;
}
