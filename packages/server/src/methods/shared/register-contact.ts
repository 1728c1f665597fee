/**
 * Registration of contact methods (email, SMS, voice) for the demo seeder, tests and, later, the
 * registration flow. Idempotent: registering a contact the user already has returns its row,
 * confirming it when asked.
 */
import type { Kysely } from "kysely";
import { type Clock, systemClock } from "../../core/clock.js";
import { LatchkeyError } from "../../core/errors.js";
import { cryptoRandom, newId, type Random } from "../../core/random.js";
import type { Database } from "../../store/schema.js";

export interface RegisterContactInput {
  tenantId: string;
  userId: string;
  /** Already normalised. */
  contact: string;
  type: "email" | "sms" | "voice";
  field: "address" | "number";
  label: string;
  confirmed: boolean;
  clock?: Clock;
  random?: Random;
}

export async function registerContact(db: Kysely<Database>, input: RegisterContactInput): Promise<string> {
  const now = (input.clock ?? systemClock).now();
  const existing = await db
    .selectFrom("auth_methods")
    .select(["id", "data_json", "confirmed_at"])
    .where("tenant_id", "=", input.tenantId)
    .where("user_id", "=", input.userId)
    .where("type", "=", input.type)
    .execute();
  for (const row of existing) {
    let value: unknown;
    try {
      value = (JSON.parse(row.data_json) as Record<string, unknown>)[input.field];
    } catch {
      continue;
    }
    if (value !== input.contact) continue;
    if (input.confirmed && row.confirmed_at === null) {
      await db.updateTable("auth_methods").set({ confirmed_at: now }).where("id", "=", row.id).execute();
    }
    return row.id;
  }
  const id = newId(input.random ?? cryptoRandom);
  await db
    .insertInto("auth_methods")
    .values({
      id,
      tenant_id: input.tenantId,
      user_id: input.userId,
      type: input.type,
      label: input.label,
      data_json: JSON.stringify({ [input.field]: input.contact }),
      confirmed_at: input.confirmed ? now : null,
      last_used_at: null,
      created_at: now,
    })
    .execute();
  return id;
}

export function invalidContact(kind: string): LatchkeyError {
  return new LatchkeyError("VALIDATION_FAILED", `not a valid ${kind}`, { field: kind });
}
