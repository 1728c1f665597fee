/**
 * Request bodies of the reset JSON API, validated at the edge. The OpenAPI document is generated
 * from these same schemas (openapi.ts), so the docs cannot drift from what the server accepts.
 */
import { z } from "zod";
import { assertionSchema } from "../../methods/passkey/index.js";

export const identifyBody = z.object({
  username: z
    .string()
    .trim()
    .min(1)
    .max(256)
    .describe("User name, UPN or email address (per tenant settings)."),
  captcha: z.string().min(1).max(4096).describe("The altcha proof-of-work payload (base64)."),
});

export const challengeBody = z.object({
  method: z.enum(["email", "sms", "voice", "totp", "questions", "passkey"]),
  contact: z
    .string()
    .trim()
    .min(3)
    .max(256)
    .optional()
    .describe("Strict mode only: the address or number the person registered."),
});

export const verifyBody = z.object({
  code: z
    .string()
    .trim()
    .regex(/^[0-9]{6,8}$/)
    .optional()
    .describe("A one-time code (email, SMS, voice, authenticator app)."),
  answers: z
    .record(z.string().max(40), z.string().max(200))
    .optional()
    .describe("Security answers by question id."),
  assertion: assertionSchema
    .optional()
    .describe(
      "A passkey assertion (WebAuthn get(), as @simplewebauthn/browser's startAuthentication returns it) for the passkey challenge's options.",
    ),
});

export const passwordCheckBody = z.object({
  password: z.string().max(1024),
});

export const passwordBody = z.object({
  password: z.string().min(1).max(1024),
  confirm: z.string().max(1024),
});

/** "Unlock only" takes nothing: which account and that the gates were passed are the flow's. */
export const unlockBody = z.object({}).strict();
