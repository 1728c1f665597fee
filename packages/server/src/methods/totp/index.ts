/**
 * TOTP (RFC 6238) from an authenticator app: SHA-1, 6 digits, 30 s steps, accepted one step
 * either side of the server's clock.
 *
 * auth_methods row: type 'totp', data_json {secretSealed, lastCounter}. The base32 secret is
 * sealed with the data key and the associated data `totp:<methodId>` (a sealed secret copied to
 * another row does not open). `lastCounter` is the last time step accepted; a step at or before
 * it is refused, and it moves by compare-and-set on the whole data_json, so one code cannot pass
 * twice even under concurrency.
 *
 * Every candidate step is computed and compared in constant time, whether or not an earlier one
 * matched; a phantom (or a user without TOTP) is checked against a throwaway secret and fails.
 */
import type { Kysely } from "kysely";
import { Secret, TOTP } from "otpauth";
import { z } from "zod";
import { type Clock, systemClock } from "../../core/clock.js";
import { cryptoRandom, newId, type Random } from "../../core/random.js";
import { openData, type ServerSecrets, safeEqual, sealData } from "../../core/secrets.js";
import type { AuthMethod, Database } from "../../store/schema.js";
import {
  challengeState,
  consumeChallenge,
  countAttempt,
  createChallenge,
  normaliseCode,
} from "../shared/challenges.js";
import type { MethodServices, VerificationMethod } from "../types.js";

export const TOTP_ALGORITHM = "SHA1";
export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** Steps accepted either side of the current one. */
export const TOTP_WINDOW = 1;

const dataSchema = z.object({
  secretSealed: z.string(),
  lastCounter: z.number().int().nullable().default(null),
});

function aad(methodId: string): string {
  return `totp:${methodId}`;
}

/** A new random 160-bit secret, base32 (what authenticator apps take). */
export function generateTotpSecret(random: Random = cryptoRandom): string {
  return new Secret({ buffer: Uint8Array.from(random.bytes(20)).buffer }).base32;
}

export interface TotpUriInput {
  secretBase32: string;
  /** Shown in the app as the account's owner, e.g. the organisation name. */
  issuer: string;
  /** Shown as the account, e.g. the UPN. */
  accountName: string;
}

/** The otpauth:// URI an authenticator app scans (as a QR code). */
export function totpUri(input: TotpUriInput): string {
  return new TOTP({
    issuer: input.issuer,
    label: input.accountName,
    secret: Secret.fromBase32(input.secretBase32),
    algorithm: TOTP_ALGORITHM,
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD_SECONDS,
  }).toString();
}

export interface RegisterTotpInput {
  tenantId: string;
  userId: string;
  issuer: string;
  accountName: string;
  confirmed: boolean;
  /** Use this secret instead of a fresh one (fixtures); base32. */
  secretBase32?: string;
  clock?: Clock;
  random?: Random;
}

/** Registers a TOTP authenticator; returns the secret and URI to show once, and the method id. */
export async function registerTotp(
  db: Kysely<Database>,
  secrets: ServerSecrets,
  input: RegisterTotpInput,
): Promise<{ methodId: string; secretBase32: string; uri: string }> {
  const random = input.random ?? cryptoRandom;
  const now = (input.clock ?? systemClock).now();
  const secretBase32 = input.secretBase32 ?? generateTotpSecret(random);
  Secret.fromBase32(secretBase32); // throws on a malformed fixture before anything is stored
  const methodId = newId(random);
  await db
    .insertInto("auth_methods")
    .values({
      id: methodId,
      tenant_id: input.tenantId,
      user_id: input.userId,
      type: "totp",
      label: "Authenticator app",
      data_json: JSON.stringify({
        secretSealed: sealData(secrets, secretBase32, aad(methodId)),
        lastCounter: null,
      }),
      confirmed_at: input.confirmed ? now : null,
      last_used_at: null,
      created_at: now,
    })
    .execute();
  return {
    methodId,
    secretBase32,
    uri: totpUri({ secretBase32, issuer: input.issuer, accountName: input.accountName }),
  };
}

interface Registration {
  methodId: string;
  dataJson: string;
  secret: Secret;
  lastCounter: number | null;
}

function registrations(methods: AuthMethod[], userId: string | null, secrets: ServerSecrets): Registration[] {
  if (userId === null) return [];
  const out: Registration[] = [];
  for (const m of methods) {
    if (m.type !== "totp" || m.confirmed_at === null || m.user_id !== userId) continue;
    try {
      const data = dataSchema.parse(JSON.parse(m.data_json));
      const secret = Secret.fromBase32(openData(secrets, data.secretSealed, aad(m.id)));
      out.push({ methodId: m.id, dataJson: m.data_json, secret, lastCounter: data.lastCounter });
    } catch {
      // Unreadable (damaged row, rotated key): as good as not registered; never a crash.
    }
  }
  return out;
}

const throwawaySecret = new Secret({ size: 20 });

export function createTotpMethod(services: MethodServices): VerificationMethod {
  const periodMs = TOTP_PERIOD_SECONDS * 1000;

  return {
    type: "totp",

    isRegistered(methods) {
      return methods.some((m) => m.type === "totp" && m.confirmed_at !== null);
    },

    maskedHint(methods) {
      return methods.some((m) => m.type === "totp" && m.confirmed_at !== null) ? "Authenticator app" : null;
    },

    async start(ctx) {
      const challengeId = await createChallenge(services, {
        tenantId: ctx.tenant.id,
        flowId: ctx.flowId,
        userId: ctx.user?.id ?? null,
        methodType: "totp",
        expiresAt: services.clock.now() + ctx.settings.reset.codeLifetimeMinutes * 60_000,
      });
      return { challengeId, prompt: { kind: "totp", digits: TOTP_DIGITS } };
    },

    async verify(ctx, input) {
      const { db, clock, secrets } = services;
      const userId = ctx.user?.id ?? null;
      const key = {
        tenantId: ctx.tenant.id,
        flowId: ctx.flowId,
        methodType: "totp",
        challengeId: input.challengeId,
      };
      const row = await countAttempt(services, key);
      const token = normaliseCode(input.response.code, TOTP_DIGITS);
      const now = clock.now();
      const counterNow = Math.floor(now / periodMs);

      // Read fresh rather than from ctx.methods: lastCounter may have moved since the flow loaded them.
      const rows = await db
        .selectFrom("auth_methods")
        .selectAll()
        .where("tenant_id", "=", ctx.tenant.id)
        .where("user_id", "=", userId ?? "")
        .where("type", "=", "totp")
        .execute();
      const regs = registrations(rows, userId, secrets);
      const candidates =
        regs.length > 0 ? regs : [{ methodId: "", dataJson: "", secret: throwawaySecret, lastCounter: null }];
      let match: { reg: Registration; counter: number } | null = null;
      for (const reg of candidates) {
        for (let d = -TOTP_WINDOW; d <= TOTP_WINDOW; d++) {
          const expected = TOTP.generate({
            secret: reg.secret,
            algorithm: TOTP_ALGORITHM,
            digits: TOTP_DIGITS,
            period: TOTP_PERIOD_SECONDS,
            timestamp: (counterNow + d) * periodMs,
          });
          // "" never equals a 6-digit token, but the comparison still runs.
          const same = safeEqual(expected, token === "" ? "\u0000".repeat(TOTP_DIGITS) : token);
          if (same && reg.methodId !== "" && match === null) match = { reg, counter: counterNow + d };
        }
      }

      if (!row) return { ok: false, reason: "code_wrong" };
      const state = challengeState(row, now, userId);
      if (state === "expired") return { ok: false, reason: "code_expired" };
      if (state === "foreign" || match === null) return { ok: false, reason: "code_wrong" };
      const { reg, counter } = match;
      if (reg.lastCounter !== null && counter <= reg.lastCounter) return { ok: false, reason: "code_wrong" };

      const data = dataSchema.parse(JSON.parse(reg.dataJson));
      const res = await db
        .updateTable("auth_methods")
        .set({ data_json: JSON.stringify({ ...data, lastCounter: counter }), last_used_at: now })
        .where("id", "=", reg.methodId)
        .where("data_json", "=", reg.dataJson)
        .executeTakeFirst();
      if (res.numUpdatedRows !== 1n) return { ok: false, reason: "code_wrong" };
      if (!(await consumeChallenge(services, key))) return { ok: false, reason: "code_expired" };
      return { ok: true };
    },
  };
}
