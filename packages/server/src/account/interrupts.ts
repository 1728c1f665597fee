/**
 * The interrupts after sign-in, as Entra does them: "register now" when the tenant requires
 * registration and the person has fewer usable methods than a reset would ask of them, and "are
 * these still right?" every `reconfirmDays` days (0 = never). The method pages render them
 * (/account/methods?interrupt=register|review); this module only decides which one is due.
 */
import type { MethodType, TenantSettings } from "../config/tenant-settings.js";
import { gatesFor, methodsAllowedFor } from "../flows/reset/eligibility.js";
import type { VerificationMethod } from "../methods/types.js";
import type { AuthMethod, User } from "../store/schema.js";

export type Interrupt = "register" | "review";

export const INTERRUPT_PATHS: Readonly<Record<Interrupt, string>> = {
  register: "/account/methods?interrupt=register",
  review: "/account/methods?interrupt=review",
};

const DAY = 86_400_000;

export function interruptFor(p: {
  settings: TenantSettings;
  user: User;
  methods: AuthMethod[];
  registry: Partial<Record<MethodType, VerificationMethod>>;
  now: number;
}): Interrupt | null {
  const { settings, user, methods } = p;
  const implemented = (Object.keys(p.registry) as MethodType[]).filter((t) => p.registry[t]);
  const usable = methodsAllowedFor(settings, user, implemented).filter((t) =>
    p.registry[t]?.isRegistered(methods),
  );
  if (settings.account.registrationRequired && usable.length < gatesFor(settings, user)) return "register";
  const days = settings.account.reconfirmDays;
  if (days === 0 || usable.length === 0) return null;
  // Never reviewed: the last time a method was confirmed counts, since confirming it was a review.
  const confirmed = methods.map((m) => m.confirmed_at ?? 0);
  const last = user.methods_reviewed_at ?? Math.max(0, ...confirmed);
  return p.now - last >= days * DAY ? "review" : null;
}
