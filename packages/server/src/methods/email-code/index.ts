/**
 * Email code: a numeric code sent to a registered, confirmed address.
 * auth_methods row: type 'email', data_json {address} (normalised: trimmed, lower-case).
 * Behaviour (guided/strict, phantoms) is shared with SMS and voice: see ../shared/contact-code-method.ts.
 */
import type { Kysely } from "kysely";
import type { Clock } from "../../core/clock.js";
import type { Random } from "../../core/random.js";
import { verificationCodeEmail } from "../../notify/templates.js";
import type { Database } from "../../store/schema.js";
import { maskEmail, normaliseEmail } from "../shared/contact.js";
import { type ContactCodeSpec, createContactCodeMethod } from "../shared/contact-code-method.js";
import { invalidContact, registerContact } from "../shared/register-contact.js";
import type { MethodServices, VerificationMethod } from "../types.js";

export const emailCodeSpec: ContactCodeSpec = {
  type: "email",
  field: "address",
  maskKind: "email",
  normalise: normaliseEmail,
  mask: maskEmail,
  render: ({ code, ctx }) =>
    verificationCodeEmail(
      {
        code,
        organisationName: ctx.settings.branding.organisationName,
        minutes: ctx.settings.reset.codeLifetimeMinutes,
      },
      ctx.locale,
    ),
};

export function createEmailCodeMethod(services: MethodServices): VerificationMethod {
  return createContactCodeMethod(services, emailCodeSpec);
}

export interface RegisterEmailInput {
  tenantId: string;
  userId: string;
  address: string;
  confirmed: boolean;
  clock?: Clock;
  random?: Random;
}

/** Registers (or confirms) an email address for a user; returns the auth_methods id. */
export async function registerEmail(db: Kysely<Database>, input: RegisterEmailInput): Promise<string> {
  const address = normaliseEmail(input.address);
  if (!address) throw invalidContact("email");
  return registerContact(db, {
    ...input,
    contact: address,
    type: "email",
    field: "address",
    label: maskEmail(address),
  });
}
