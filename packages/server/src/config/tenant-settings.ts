/**
 * Per-tenant settings: what an administrator changes in the console (policy, methods, gates,
 * disclosure, password rules, throttles, branding, notifications). Stored as JSON on the tenant
 * row and validated by this one schema, which also supplies every default (Entra's where it has one,
 * see ../shared/reference/entra-sspr.md).
 */
import { z } from "zod";

export const METHOD_TYPES = ["email", "sms", "voice", "totp", "questions", "passkey"] as const;
export type MethodType = (typeof METHOD_TYPES)[number];

export const passwordPolicySchema = z
  .object({
    minLength: z.number().int().min(1).max(256).default(8).describe("Minimum length in characters."),
    maxLength: z.number().int().min(8).max(1024).default(256).describe("Maximum length in characters."),
    requireClasses: z
      .number()
      .int()
      .min(0)
      .max(4)
      .default(0)
      .describe(
        "How many of the four character classes (lower, upper, digit, symbol) are required; 0 = none (NIST).",
      ),
    bannedWords: z
      .object({
        enabled: z.boolean().default(true),
        useGlobalList: z.boolean().default(true).describe("Use the list shipped with Latchkey."),
        custom: z
          .array(z.string().min(1).max(64))
          .max(1000)
          .default([])
          .describe("The tenant's own banned terms."),
        minScore: z.number().int().min(1).max(20).default(5).describe("Points needed to pass (Entra: 5)."),
      })
      .prefault({}),
    minStrength: z.number().int().min(0).max(4).default(3).describe("Minimum zxcvbn score (0–4)."),
    breached: z
      .object({
        offline: z
          .boolean()
          .default(true)
          .describe("Check the offline breached-password filter when one is loaded."),
        hibp: z.boolean().default(false).describe("Ask the HIBP range API (k-anonymity, padded)."),
      })
      .prefault({}),
    history: z
      .number()
      .int()
      .min(0)
      .max(24)
      .default(5)
      .describe("Refuse the last N passwords (cloud accounts)."),
  })
  .prefault({});
export type PasswordPolicy = z.infer<typeof passwordPolicySchema>;

export const throttleSchema = z
  .object({
    verifyAttemptsPerMethodPerHour: z.number().int().min(1).max(100).default(5),
    emailsPer10Minutes: z.number().int().min(1).max(100).default(10),
    failedIdentityProofsPer24h: z.number().int().min(1).max(100).default(5),
    lockoutMinutes: z
      .number()
      .int()
      .min(1)
      .max(10080)
      .default(1440)
      .describe("Self-service lockout after a limit is hit."),
    perIpPerMinute: z
      .number()
      .int()
      .min(1)
      .max(10000)
      .default(30)
      .describe("Flow starts per client IP per minute."),
  })
  .prefault({});
export type ThrottleSettings = z.infer<typeof throttleSchema>;

export const questionsSchema = z
  .object({
    registerCount: z.number().int().min(3).max(5).default(3),
    answerCount: z.number().int().min(1).max(5).default(2),
    custom: z
      .array(z.object({ id: z.string().min(1).max(40), text: z.string().min(5).max(200) }))
      .max(20)
      .default([]),
    minAnswerLength: z.number().int().min(1).max(20).default(3),
  })
  .prefault({});

export const tenantSettingsSchema = z
  .object({
    reset: z
      .object({
        enabled: z.boolean().default(true),
        scope: z
          .enum(["none", "group", "all"])
          .default("all")
          .describe("Who may reset: nobody, members of scopeGroup, everybody."),
        scopeGroup: z.string().nullable().default(null),
        gates: z
          .union([z.literal(1), z.literal(2)])
          .default(1)
          .describe("Verification gates for ordinary users (admins always 2)."),
        methods: z.array(z.enum(METHOD_TYPES)).min(1).default(["email", "sms", "totp", "questions"]),
        disclosure: z.enum(["strict", "guided"]).default("strict"),
        identifyBy: z
          .array(z.enum(["username", "upn", "email"]))
          .min(1)
          .default(["username", "upn", "email"]),
        flowLifetimeMinutes: z.number().int().min(5).max(60).default(15),
        codeDigits: z.number().int().min(6).max(8).default(6),
        codeLifetimeMinutes: z.number().int().min(1).max(10).default(5),
        notifyAdminsOnAdminReset: z.boolean().default(true),
        unlock: z
          .object({
            allow: z
              .boolean()
              .default(true)
              .describe(
                'Offer a locked account "unlock only, keep my password" once the person passed the same gates as a reset.',
              ),
            alsoOnReset: z
              .boolean()
              .default(true)
              .describe(
                "A self-service reset also unlocks the account (an Active Directory reset by itself does not).",
              ),
          })
          .prefault({}),
      })
      .prefault({}),
    questions: questionsSchema,
    password: passwordPolicySchema,
    throttles: throttleSchema,
    branding: z
      .object({
        organisationName: z.string().min(1).max(100).default("Example Organisation"),
        helpdeskUrl: z.string().url().nullable().default(null),
        helpdeskText: z.string().max(500).default("Contact your IT helpdesk."),
        primaryColour: z
          .string()
          .regex(/^#[0-9a-fA-F]{6}$/)
          .default("#1f4e8c"),
      })
      .prefault({}),
    account: z
      .object({
        sessionIdleMinutes: z
          .number()
          .int()
          .min(5)
          .max(1440)
          .default(30)
          .describe('A "my account" session ends after this many minutes without a request.'),
        sessionAbsoluteHours: z
          .number()
          .int()
          .min(1)
          .max(720)
          .default(12)
          .describe('A "my account" session ends this many hours after sign-in, however active.'),
        registrationRequired: z
          .boolean()
          .default(true)
          .describe(
            "After sign-in, ask people to register when they have fewer methods than a reset needs (Entra: yes).",
          ),
        reconfirmDays: z
          .number()
          .int()
          .min(0)
          .max(730)
          .default(180)
          .describe("Ask people every N days whether their methods are still right; 0 = never (Entra: 180)."),
        signInFailuresPer15Minutes: z
          .number()
          .int()
          .min(1)
          .max(100)
          .default(10)
          .describe(
            "Wrong passwords (sign-in and password change) per account in 15 minutes before Latchkey pauses them for 15 minutes. Below the directory's lockout threshold, guessing through Latchkey cannot lock directory accounts.",
          ),
      })
      .prefault({}),
    sync: z
      .object({
        maxDeletionsPerFullPass: z
          .number()
          .int()
          .min(0)
          .max(1_000_000)
          .default(500)
          .describe(
            "A full sync pass that would mark more users deleted than this withholds the deletions and alerts instead (like Entra Connect's export deletion threshold); 0 = no limit.",
          ),
        maxDeletionPercent: z
          .number()
          .int()
          .min(0)
          .max(100)
          .default(50)
          .describe(
            "The same guard as a share of the directory's live users (applies when more than 10 would go); 0 = no limit.",
          ),
      })
      .prefault({}),
    notifications: z
      .object({
        adminEmails: z.array(z.string().email()).max(50).default([]),
        contactAdminPerUserPerDay: z.number().int().min(1).max(100).default(3),
        contactAdminPerTenantPerHour: z.number().int().min(1).max(1000).default(20),
      })
      .prefault({}),
  })
  .prefault({});

export type TenantSettings = z.infer<typeof tenantSettingsSchema>;

export function parseTenantSettings(json: string | object): TenantSettings {
  const raw = typeof json === "string" ? (JSON.parse(json) as unknown) : json;
  return tenantSettingsSchema.parse(raw);
}
