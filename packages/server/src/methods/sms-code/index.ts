/**
 * SMS code: a numeric code texted to a registered, confirmed number.
 * auth_methods row: type 'sms', data_json {number} in E.164.
 * Behaviour (guided/strict, phantoms) is shared: see ../shared/contact-code-method.ts.
 */
import { verificationCodeSms } from "../../notify/templates.js";
import { createContactCodeMethod } from "../shared/contact-code-method.js";
import { phoneSpec } from "../shared/phone.js";
import type { MethodServices, VerificationMethod } from "../types.js";

export { type RegisterPhoneInput, registerPhone } from "../shared/phone.js";

export const smsCodeSpec = phoneSpec("sms", ({ code, ctx }) => ({
  text: verificationCodeSms(
    {
      code,
      organisationName: ctx.settings.branding.organisationName,
      minutes: ctx.settings.reset.codeLifetimeMinutes,
    },
    ctx.locale,
  ),
}));

export function createSmsCodeMethod(services: MethodServices): VerificationMethod {
  return createContactCodeMethod(services, smsCodeSpec);
}
