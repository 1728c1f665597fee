/**
 * What the demo users have registered, so a newcomer can try every verification method:
 * codes arrive on /demo/outbox, the TOTP secret and the security answers are fixed and printed by
 * `latchkey demo` (they protect nothing: the demo tenant is throwaway and lives in demo mode only).
 */
import { parseTenantSettings } from "../config/tenant-settings.js";
import { registerEmail } from "../methods/email-code/index.js";
import { registerQuestions } from "../methods/questions/index.js";
import { registerPhone } from "../methods/shared/phone.js";
import { registerTotp } from "../methods/totp/index.js";
import type { User } from "../store/schema.js";
import type { DemoSeedContext } from "./demo.js";

/** A well-known base32 secret (RFC 4226 style test value) so the demo can be followed in any app. */
export const DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXP";

export const DEMO_ANSWERS: ReadonlyArray<{ questionId: string; answer: string }> = [
  { questionId: "lk.first-pet", answer: "Fluffy" },
  { questionId: "lk.first-street", answer: "Elm Street" },
  { questionId: "lk.dream-job", answer: "Astronaut" },
];

/** What each demo user holds; printed by `latchkey demo`. */
export const DEMO_METHODS: Readonly<Record<string, readonly string[]>> = {
  alice: ["email", "sms", "questions"],
  bob: ["email", "totp"],
  carol: ["email", "sms", "totp"],
};

export async function seedDemoMethods(ctx: DemoSeedContext): Promise<void> {
  await seedMethodsFor(ctx, ctx.users, DEMO_METHODS);
}

/** Registers (confirmed) what `methods` names for each of `users` that lacks it; idempotent. The
 * hybrid demo uses it for the directory users once they are synced. */
export async function seedMethodsFor(
  ctx: Pick<DemoSeedContext, "db" | "clock" | "secrets" | "tenant">,
  users: readonly User[],
  methods: Readonly<Record<string, readonly string[]>>,
): Promise<void> {
  const settings = parseTenantSettings(ctx.tenant.settings_json);
  for (const user of users) {
    const wanted = methods[user.username];
    if (!wanted) continue;
    const existing = await ctx.db
      .selectFrom("auth_methods")
      .select("type")
      .where("tenant_id", "=", ctx.tenant.id)
      .where("user_id", "=", user.id)
      .execute();
    const has = new Set(existing.map((m) => m.type));
    const base = { tenantId: ctx.tenant.id, userId: user.id, confirmed: true, clock: ctx.clock };
    for (const type of wanted) {
      if (has.has(type)) continue;
      if (type === "email" && user.email) await registerEmail(ctx.db, { ...base, address: user.email });
      if ((type === "sms" || type === "voice") && user.mobile) {
        await registerPhone(ctx.db, { ...base, number: user.mobile, channel: type });
      }
      if (type === "totp") {
        await registerTotp(ctx.db, ctx.secrets, {
          ...base,
          issuer: settings.branding.organisationName,
          accountName: user.upn ?? user.username,
          secretBase32: DEMO_TOTP_SECRET,
        });
      }
      if (type === "questions") {
        await registerQuestions(ctx.db, {
          tenantId: ctx.tenant.id,
          userId: user.id,
          answers: [...DEMO_ANSWERS],
          settings: settings.questions,
          clock: ctx.clock,
        });
      }
    }
  }
}
