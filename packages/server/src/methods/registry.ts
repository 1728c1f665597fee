/**
 * All verification methods, built once from the services they share. The flows look a method up
 * by its type and use it only through the VerificationMethod interface.
 */
import type { MethodType } from "../config/tenant-settings.js";
import { createEmailCodeMethod } from "./email-code/index.js";
import { createPasskeyMethod } from "./passkey/index.js";
import { createQuestionsMethod } from "./questions/index.js";
import { createSmsCodeMethod } from "./sms-code/index.js";
import { createTotpMethod } from "./totp/index.js";
import type { MethodServices, VerificationMethod } from "./types.js";
import { createVoiceCodeMethod } from "./voice-code/index.js";

export type ImplementedMethodType = MethodType;

export type MethodRegistry = Readonly<Record<ImplementedMethodType, VerificationMethod>>;

export function createMethods(services: MethodServices): MethodRegistry {
  return {
    email: createEmailCodeMethod(services),
    sms: createSmsCodeMethod(services),
    voice: createVoiceCodeMethod(services),
    totp: createTotpMethod(services),
    questions: createQuestionsMethod(services),
    passkey: createPasskeyMethod(services),
  };
}

/** The method of a type, or null when it is not implemented (yet). */
export function methodFor(registry: MethodRegistry, type: MethodType): VerificationMethod | null {
  return registry[type] ?? null;
}
