/**
 * Voice code: a call that reads a numeric code, digit by digit and twice, to a registered,
 * confirmed number. auth_methods row: type 'voice', data_json {number} in E.164.
 * Behaviour (guided/strict, phantoms) is shared: see ../shared/contact-code-method.ts.
 */
import { verificationCodeVoice } from "../../notify/templates.js";
import { createContactCodeMethod } from "../shared/contact-code-method.js";
import { phoneSpec } from "../shared/phone.js";
import type { MethodServices, VerificationMethod } from "../types.js";

export { type RegisterPhoneInput, registerPhone } from "../shared/phone.js";

export const voiceCodeSpec = phoneSpec("voice", ({ code, ctx }) => ({
  text: verificationCodeVoice(
    {
      code,
      organisationName: ctx.settings.branding.organisationName,
      minutes: ctx.settings.reset.codeLifetimeMinutes,
    },
    ctx.locale,
  ),
}));

export function createVoiceCodeMethod(services: MethodServices): VerificationMethod {
  return createContactCodeMethod(services, voiceCodeSpec);
}
