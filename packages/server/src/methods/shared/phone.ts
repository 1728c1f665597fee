/**
 * What SMS and voice codes share: the phone contact spec and registration. The number is stored in
 * E.164 in data_json {number}; a registration is per channel (type 'sms' or 'voice').
 */
import type { Kysely } from "kysely";
import type { Clock } from "../../core/clock.js";
import type { Random } from "../../core/random.js";
import type { Database } from "../../store/schema.js";
import { maskPhone, normalisePhone } from "./contact.js";
import type { ContactCodeSpec } from "./contact-code-method.js";
import { invalidContact, registerContact } from "./register-contact.js";

export function phoneSpec(type: "sms" | "voice", render: ContactCodeSpec["render"]): ContactCodeSpec {
  return { type, field: "number", maskKind: "phone", normalise: normalisePhone, mask: maskPhone, render };
}

export interface RegisterPhoneInput {
  tenantId: string;
  userId: string;
  /** Any common notation; stored as E.164. */
  number: string;
  /** Which channel the number is registered for. */
  channel: "sms" | "voice";
  confirmed: boolean;
  clock?: Clock;
  random?: Random;
}

/** Registers (or confirms) a phone number for SMS or voice codes; returns the auth_methods id. */
export async function registerPhone(db: Kysely<Database>, input: RegisterPhoneInput): Promise<string> {
  const number = normalisePhone(input.number);
  if (!number) throw invalidContact("phone number");
  return registerContact(db, {
    ...input,
    contact: number,
    type: input.channel,
    field: "number",
    label: maskPhone(number),
  });
}
