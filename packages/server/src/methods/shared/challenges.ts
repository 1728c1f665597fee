/**
 * Challenge rows shared by every method: creation, the counted attempt, and single use.
 *
 * Codes are stored only as HMAC-SHA256(server key, "challenge:<id>", code). A challenge that must
 * never pass (phantom user, strict-mode contact that matched nothing) stores an HMAC under another
 * purpose ("challenge-void:<id>"), so its row has the same shape and the same work was done, yet no
 * code can ever match it. Single use is a conditional update (`used_at is null`), so two concurrent
 * verifications of one right code cannot both succeed.
 */
import type { Kysely } from "kysely";
import type { Clock } from "../../core/clock.js";
import { newId, numericCode, type Random } from "../../core/random.js";
import { hmacHex, type ServerSecrets, safeEqual } from "../../core/secrets.js";
import type { Database } from "../../store/schema.js";
import type { VerifyResult } from "../types.js";

/** Wrong tries one challenge accepts; after that it is spent and a new one must be started. */
export const MAX_ATTEMPTS_PER_CHALLENGE = 5;

export interface ChallengeServices {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  secrets: ServerSecrets;
}

export interface ChallengeKey {
  tenantId: string;
  flowId: string;
  methodType: string;
  challengeId: string;
}

function codePurpose(challengeId: string, live: boolean): string {
  return `${live ? "challenge" : "challenge-void"}:${challengeId}`;
}

export interface NewChallenge {
  tenantId: string;
  flowId: string;
  userId: string | null;
  methodType: string;
  expiresAt: number;
  /** Public, method-specific data (e.g. the question ids asked). */
  data?: Record<string, unknown>;
}

/** A challenge that holds no code (TOTP, questions). */
export async function createChallenge(s: ChallengeServices, c: NewChallenge): Promise<string> {
  const id = newId(s.random);
  await s.db
    .insertInto("challenges")
    .values({
      id,
      tenant_id: c.tenantId,
      flow_id: c.flowId,
      user_id: c.userId,
      method_type: c.methodType,
      code_hmac: null,
      data_json: JSON.stringify(c.data ?? {}),
      attempts: 0,
      expires_at: c.expiresAt,
      used_at: null,
      created_at: s.clock.now(),
    })
    .execute();
  return id;
}

/**
 * A challenge with a fresh numeric code. `live` false makes it unpassable (see the module comment);
 * the code is still drawn and hashed so both paths cost the same.
 */
export async function createCodeChallenge(
  s: ChallengeServices,
  c: NewChallenge & { digits: number; live: boolean },
): Promise<{ challengeId: string; code: string }> {
  const id = newId(s.random);
  const code = numericCode(c.digits, s.random);
  await s.db
    .insertInto("challenges")
    .values({
      id,
      tenant_id: c.tenantId,
      flow_id: c.flowId,
      user_id: c.userId,
      method_type: c.methodType,
      code_hmac: hmacHex(s.secrets, codePurpose(id, c.live), code),
      data_json: JSON.stringify(c.data ?? {}),
      attempts: 0,
      expires_at: c.expiresAt,
      used_at: null,
      created_at: s.clock.now(),
    })
    .execute();
  return { challengeId: id, code };
}

export interface CountedChallenge {
  id: string;
  userId: string | null;
  codeHmac: string | null;
  dataJson: string;
  attempts: number;
  expiresAt: number;
  usedAt: number | null;
}

/**
 * Counts one attempt on the challenge (atomically) and returns the row as it is after counting,
 * or null when no challenge of this flow and method has that id.
 */
export async function countAttempt(s: ChallengeServices, k: ChallengeKey): Promise<CountedChallenge | null> {
  const row = await s.db
    .updateTable("challenges")
    .set((eb) => ({ attempts: eb("attempts", "+", 1) }))
    .where("id", "=", k.challengeId)
    .where("tenant_id", "=", k.tenantId)
    .where("flow_id", "=", k.flowId)
    .where("method_type", "=", k.methodType)
    .returning(["id", "user_id", "code_hmac", "data_json", "attempts", "expires_at", "used_at"])
    .executeTakeFirst();
  if (!row) return null;
  return {
    id: row.id,
    userId: row.user_id,
    codeHmac: row.code_hmac,
    dataJson: row.data_json,
    attempts: Number(row.attempts),
    expiresAt: Number(row.expires_at),
    usedAt: row.used_at === null ? null : Number(row.used_at),
  };
}

/** Why a counted challenge cannot pass whatever the answer, or null when it still can. */
export function challengeState(
  c: CountedChallenge,
  now: number,
  userId: string | null,
  maxAttempts = MAX_ATTEMPTS_PER_CHALLENGE,
): "expired" | "foreign" | null {
  if (c.usedAt !== null || c.expiresAt <= now || c.attempts > maxAttempts) return "expired";
  if (userId === null || c.userId !== userId) return "foreign";
  return null;
}

/** Marks the challenge used if nobody did first and it has not expired; true when this call won. */
export async function consumeChallenge(s: ChallengeServices, k: ChallengeKey): Promise<boolean> {
  const now = s.clock.now();
  const res = await s.db
    .updateTable("challenges")
    .set({ used_at: now })
    .where("id", "=", k.challengeId)
    .where("tenant_id", "=", k.tenantId)
    .where("flow_id", "=", k.flowId)
    .where("used_at", "is", null)
    .where("expires_at", ">", now)
    .executeTakeFirst();
  return res.numUpdatedRows === 1n;
}

/** "123 456" / "123-456" → "123456"; anything else that is not all digits → "" (never matches). */
export function normaliseCode(raw: unknown, digits: number): string {
  if (typeof raw !== "string" || raw.length > 64) return "";
  const s = raw.replace(/[\s-]/g, "");
  return s.length === digits && /^\d+$/.test(s) ? s : "";
}

/**
 * Verifies a code against its challenge. Always counts the attempt and computes the HMAC, whether
 * or not the challenge exists, is spent or belongs to a phantom.
 */
export async function verifyCodeChallenge(
  s: ChallengeServices,
  k: ChallengeKey & { userId: string | null; code: string },
): Promise<VerifyResult> {
  const row = await countAttempt(s, k);
  const candidate = hmacHex(s.secrets, codePurpose(k.challengeId, true), k.code);
  const stored = row?.codeHmac ?? null;
  const matches = stored !== null && k.code !== "" && safeEqual(candidate, stored);
  if (!row) return { ok: false, reason: "code_wrong" };
  const state = challengeState(row, s.clock.now(), k.userId);
  if (state === "expired") return { ok: false, reason: "code_expired" };
  if (state === "foreign" || !matches) return { ok: false, reason: "code_wrong" };
  if (!(await consumeChallenge(s, k))) return { ok: false, reason: "code_expired" };
  return { ok: true };
}
