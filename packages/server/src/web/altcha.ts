/**
 * The proof-of-work captcha (ALTCHA). The server hands out a challenge: a random salt carrying its
 * expiry, the SHA-256 of salt‖n for a secret random n ≤ maxNumber, and an HMAC of that hash. The
 * browser finds n by brute force (on average maxNumber/2 hashes) and returns {salt, n, hash, HMAC}.
 *
 * verify() checks, in order: shape, the HMAC (constant time), that SHA-256(salt‖n) is the hash, the
 * expiry (against our Clock, not the wall clock), and finally that the HMAC was not used before. The
 * used-signature memory is a `UsedChallengeStore`: in memory per process (one instance only), or the
 * throttle_counters table so a solution cannot be replayed on another instance.
 *
 * Challenges are issued with altcha-lib's createChallenge, so the widget and the library agree on the
 * format; verification is ours so that it uses our clock and a constant-time comparison.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { createChallenge } from "altcha-lib";
import type { Kysely } from "kysely";
import type { Clock } from "../core/clock.js";
import type { Database } from "../store/schema.js";

export interface CaptchaChallenge {
  algorithm: "SHA-256";
  challenge: string;
  maxnumber: number;
  salt: string;
  signature: string;
}

export interface Captcha {
  /** A fresh challenge, the JSON body of GET /api/v1/captcha/challenge. */
  challenge(): Promise<CaptchaChallenge>;
  /** True for a correct, unexpired solution seen for the first time (base64 JSON, as the widget sends). */
  verify(payload: string): Promise<boolean>;
}

/** Remembers used challenge signatures until they expire. */
export interface UsedChallengeStore {
  /**
   * Records `signature` as used until `expiresAt` (epoch ms). Returns false when it was already recorded
   * (a replay). Must be atomic: two concurrent calls with one signature → exactly one true.
   */
  markUsed(signature: string, expiresAt: number): Promise<boolean>;
}

export interface CaptchaOptions {
  /** The server's HMAC key; a captcha-only key is derived from it, so the raw key signs nothing here. */
  hmacKey: Buffer;
  /**
   * The largest secret number. The work is about maxNumber/2 SHA-256 hashes: 100 000 takes well under a
   * second in a current browser using workers, a few seconds on an old phone.
   */
  maxNumber?: number;
  /** How long a challenge may be solved and submitted. Default 10 minutes. */
  expiresInMs?: number;
  clock: Clock;
  /** Default: in memory, this process only (see memoryUsedStore). */
  usedStore?: UsedChallengeStore;
}

export const DEFAULT_MAX_NUMBER = 100_000;
export const DEFAULT_CHALLENGE_LIFETIME_MS = 10 * 60_000;
const MAX_PAYLOAD_LENGTH = 4096;
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Used signatures in a Map, swept as time passes. Fine for a single process; with several instances a
 * solution could be replayed once per instance, so use throttleTableUsedStore there. Entries live only
 * until their challenge expires, and each costs the sender a solved proof of work.
 */
export function memoryUsedStore(clock: Clock): UsedChallengeStore {
  const used = new Map<string, number>();
  let nextSweep = 0;
  return {
    async markUsed(signature, expiresAt) {
      const now = clock.now();
      if (now >= nextSweep) {
        for (const [sig, until] of used) if (until <= now) used.delete(sig);
        nextSweep = now + 60_000;
      }
      const until = used.get(signature);
      if (until !== undefined && until > now) return false;
      used.set(signature, expiresAt);
      return true;
    },
  };
}

/**
 * Used signatures as rows of throttle_counters (key `altcha:<signature>`, locked_until = expiry), so the
 * refusal holds across instances sharing the store. The insert is the atomic check: the primary key
 * (tenant_id, key) lets exactly one of two racing inserts through. Expired rows are deleted now and then.
 */
export function throttleTableUsedStore(
  db: Kysely<Database>,
  opts: { clock: Clock; tenantId?: string; sweepEveryMs?: number },
): UsedChallengeStore {
  // The captcha guards pages before any tenant is known, so its rows live under a fixed pseudo-tenant.
  const tenantId = opts.tenantId ?? "_system";
  const sweepEveryMs = opts.sweepEveryMs ?? 60_000;
  let nextSweep = 0;
  return {
    async markUsed(signature, expiresAt) {
      const now = opts.clock.now();
      if (now >= nextSweep) {
        nextSweep = now + sweepEveryMs;
        await db
          .deleteFrom("throttle_counters")
          .where("tenant_id", "=", tenantId)
          .where("key", "like", "altcha:%")
          .where("locked_until", "<=", now)
          .execute();
      }
      const result = await db
        .insertInto("throttle_counters")
        .values({
          tenant_id: tenantId,
          key: `altcha:${signature}`,
          window_start: now,
          count: 1,
          locked_until: expiresAt,
        })
        .onConflict((oc) => oc.columns(["tenant_id", "key"]).doNothing())
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
    },
  };
}

/** Derives the captcha's own key, so the server key is never used directly for a second purpose. */
function captchaKey(hmacKey: Buffer): string {
  return createHmac("sha256", hmacKey).update("latchkey/altcha/v1").digest("hex");
}

interface Solution {
  algorithm: "SHA-256";
  challenge: string;
  number: number;
  salt: string;
  signature: string;
}

function parsePayload(payload: string, maxNumber: number): Solution | null {
  if (typeof payload !== "string" || payload.length === 0 || payload.length > MAX_PAYLOAD_LENGTH) return null;
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(payload, "base64").toString("utf8"));
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const v = value as Record<string, unknown>;
  if (v.algorithm !== "SHA-256") return null;
  if (typeof v.challenge !== "string" || !HEX64.test(v.challenge)) return null;
  if (typeof v.signature !== "string" || !HEX64.test(v.signature)) return null;
  if (typeof v.salt !== "string" || v.salt.length > 512) return null;
  if (
    typeof v.number !== "number" ||
    !Number.isSafeInteger(v.number) ||
    v.number < 0 ||
    v.number > maxNumber
  ) {
    return null;
  }
  return {
    algorithm: "SHA-256",
    challenge: v.challenge,
    number: v.number,
    salt: v.salt,
    signature: v.signature,
  };
}

/** The expiry (epoch ms) carried in the salt's `?expires=<seconds>` parameter, or null. */
function saltExpiry(salt: string): number | null {
  const query = salt.split("?")[1];
  if (query === undefined) return null;
  const expires = new URLSearchParams(query.replace(/&$/, "")).get("expires");
  if (expires === null || !/^\d{1,12}$/.test(expires)) return null;
  return Number(expires) * 1000;
}

export function createCaptcha(opts: CaptchaOptions): Captcha {
  const key = captchaKey(opts.hmacKey);
  const keyBuffer = Buffer.from(key, "utf8");
  const maxNumber = opts.maxNumber ?? DEFAULT_MAX_NUMBER;
  const lifetime = opts.expiresInMs ?? DEFAULT_CHALLENGE_LIFETIME_MS;
  const used = opts.usedStore ?? memoryUsedStore(opts.clock);
  if (!Number.isSafeInteger(maxNumber) || maxNumber < 1)
    throw new Error("captcha: maxNumber must be a positive integer");
  if (lifetime < 1000) throw new Error("captcha: expiresInMs must be at least one second");

  return {
    async challenge() {
      const c = await createChallenge({
        algorithm: "SHA-256",
        hmacKey: key,
        maxNumber,
        expires: new Date(opts.clock.now() + lifetime),
      });
      return {
        algorithm: "SHA-256",
        challenge: c.challenge,
        maxnumber: maxNumber,
        salt: c.salt,
        signature: c.signature,
      };
    },

    async verify(payload) {
      const s = parsePayload(payload, maxNumber);
      if (!s) return false;
      const expected = createHmac("sha256", keyBuffer).update(s.challenge).digest();
      if (!timingSafeEqual(expected, Buffer.from(s.signature, "hex"))) return false;
      const hash = createHash("sha256")
        .update(s.salt + String(s.number))
        .digest("hex");
      if (hash !== s.challenge) return false;
      // Every challenge we issue carries an expiry inside the signed salt; one without is not ours.
      const expiresAt = saltExpiry(s.salt);
      if (expiresAt === null || expiresAt <= opts.clock.now()) return false;
      return used.markUsed(s.signature, expiresAt);
    },
  };
}
