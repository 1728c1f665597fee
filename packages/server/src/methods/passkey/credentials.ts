/**
 * Passkey registrations as auth_methods rows, and the WebAuthn user handle.
 *
 * auth_methods row: type 'passkey', label = the name the person gave it, data_json
 * {credentialId, publicKey, counter, transports, rpId, origin, deviceType, backedUp, aaguid}:
 * base64url credential id and COSE public key (neither is a secret), the signature counter, and the
 * relying party it was made for, which is what every assertion with it is checked against.
 */
import type { Kysely } from "kysely";
import { z } from "zod";
import { type Clock, systemClock } from "../../core/clock.js";
import { cryptoRandom, newId, type Random } from "../../core/random.js";
import { hmacHex, type ServerSecrets } from "../../core/secrets.js";
import type { AuthMethod, Database } from "../../store/schema.js";

export const PASSKEY_NAME_MAX = 60;
/** More than anyone needs; it bounds the per-verification work and the excludeCredentials list. */
export const MAX_PASSKEYS_PER_USER = 10;

export const passkeyDataSchema = z.object({
  credentialId: z.string().min(1).max(1400),
  publicKey: z.string().min(1).max(2000),
  counter: z.number().int().min(0),
  transports: z.array(z.string().max(20)).max(10).default([]),
  rpId: z.string().min(1).max(253),
  origin: z.string().min(1).max(300),
  deviceType: z.enum(["singleDevice", "multiDevice"]).optional(),
  backedUp: z.boolean().optional(),
  aaguid: z.string().max(64).optional(),
});
export type PasskeyData = z.infer<typeof passkeyDataSchema>;

export interface StoredPasskey {
  methodId: string;
  label: string;
  dataJson: string;
  data: PasskeyData;
}

/** The user's confirmed, readable passkeys, oldest first; damaged rows are skipped. */
export function storedPasskeys(methods: AuthMethod[], userId: string | null): StoredPasskey[] {
  if (userId === null) return [];
  const out: StoredPasskey[] = [];
  for (const m of [...methods].sort((a, b) => a.created_at - b.created_at)) {
    if (m.type !== "passkey" || m.confirmed_at === null || m.user_id !== userId) continue;
    try {
      const data = passkeyDataSchema.parse(JSON.parse(m.data_json));
      out.push({ methodId: m.id, label: m.label ?? "", dataJson: m.data_json, data });
    } catch {
      // A damaged row is as good as no registration; it must not break a flow.
    }
  }
  return out;
}

/**
 * The WebAuthn user handle of a user: 32 bytes derived from the server key and the user id, so it
 * needs no column, says nothing about the person, and is the same on every registration (an
 * authenticator then keeps one passkey per account and site).
 */
export function webauthnUserId(
  secrets: ServerSecrets,
  tenantId: string,
  userId: string,
): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(Buffer.from(hmacHex(secrets, "webauthn.user", `${tenantId}\u0000${userId}`), "hex"));
}

export interface SavePasskeyInput {
  tenantId: string;
  userId: string;
  name: string;
  data: PasskeyData;
  clock?: Clock;
  random?: Random;
}

/** Stores a verified registration; returns the auth_methods id. */
export async function savePasskey(db: Kysely<Database>, input: SavePasskeyInput): Promise<string> {
  const id = newId(input.random ?? cryptoRandom);
  const now = (input.clock ?? systemClock).now();
  await db
    .insertInto("auth_methods")
    .values({
      id,
      tenant_id: input.tenantId,
      user_id: input.userId,
      type: "passkey",
      label: input.name.slice(0, PASSKEY_NAME_MAX),
      data_json: JSON.stringify(passkeyDataSchema.parse(input.data)),
      confirmed_at: now,
      last_used_at: null,
      created_at: now,
    })
    .execute();
  return id;
}

/**
 * Whether a credential id is registered to anybody in the tenant. The WebAuthn spec asks a relying
 * party to refuse a credential id it already holds (a registration replayed into another account).
 */
export async function credentialIdTaken(
  db: Kysely<Database>,
  tenantId: string,
  credentialId: string,
): Promise<boolean> {
  // A substring match narrows the rows ("_" in base64url is a LIKE wildcard: it can only widen the
  // match); the parse below decides.
  const rows = await db
    .selectFrom("auth_methods")
    .select(["data_json"])
    .where("tenant_id", "=", tenantId)
    .where("type", "=", "passkey")
    .where("data_json", "like", `%${credentialId}%`)
    .execute();
  return rows.some((r) => {
    try {
      return passkeyDataSchema.parse(JSON.parse(r.data_json)).credentialId === credentialId;
    } catch {
      return false;
    }
  });
}
