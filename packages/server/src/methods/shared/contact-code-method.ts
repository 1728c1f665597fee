/**
 * The one implementation behind email-code, sms-code and voice-code: a numeric code sent to a
 * registered, confirmed contact. The three folders only say which contact field, which channel,
 * how to normalise and mask, and which message to send.
 *
 * Guided disclosure (no claimed contact): the code goes to the user's first confirmed contact and
 * the prompt shows it masked. Strict disclosure (claimed contact given): the typed value is
 * normalised and compared, as HMACs in constant time, with every confirmed contact; the code is
 * sent only on a match, and the prompt is identical either way. A phantom, or a strict mode miss,
 * does the same work (challenge row, code drawn and hashed, message rendered and sealed) and
 * enqueues nothing; its challenge can never pass.
 */
import { z } from "zod";
import type { MethodType } from "../../config/tenant-settings.js";
import { hmacHex, safeEqual, sealData } from "../../core/secrets.js";
import type { AuthMethod } from "../../store/schema.js";
import type { ChallengeContext, ChallengePrompt, MethodServices, VerificationMethod } from "../types.js";
import { createCodeChallenge, normaliseCode, verifyCodeChallenge } from "./challenges.js";
import { phantomMask } from "./contact.js";

export interface ContactCodeSpec {
  type: Extract<MethodType, "email" | "sms" | "voice">;
  /** The key in auth_methods.data_json that holds the contact. */
  field: "address" | "number";
  maskKind: "email" | "phone";
  normalise(raw: string): string | null;
  mask(contact: string): string;
  /** The message for a code; `text` is what SMS and voice deliver, email adds subject and html. */
  render(input: { code: string; ctx: ChallengeContext }): { subject?: string; text: string; html?: string };
}

export interface RegisteredContact {
  methodId: string;
  contact: string;
}

const contactSchemas = {
  address: z.object({ address: z.string() }),
  number: z.object({ number: z.string() }),
};

/** The user's confirmed contacts of this type, oldest first; rows that do not parse are skipped. */
export function confirmedContacts(
  spec: Pick<ContactCodeSpec, "type" | "field" | "normalise">,
  methods: AuthMethod[],
): RegisteredContact[] {
  const schema = contactSchemas[spec.field];
  const out: RegisteredContact[] = [];
  const rows = methods
    .filter((m) => m.type === spec.type && m.confirmed_at !== null)
    .sort((a, b) => a.created_at - b.created_at);
  for (const m of rows) {
    try {
      const parsed = schema.safeParse(JSON.parse(m.data_json));
      const raw = parsed.success ? (parsed.data as Record<string, string>)[spec.field] : undefined;
      const contact = typeof raw === "string" ? spec.normalise(raw) : null;
      if (contact) out.push({ methodId: m.id, contact });
    } catch {
      // A damaged row is as good as no registration; it must not break the flow.
    }
  }
  return out;
}

/** What a phantom's start parses instead of a registration, so it does the same work. */
function standIn(spec: ContactCodeSpec): AuthMethod {
  return {
    id: "",
    tenant_id: "",
    user_id: "",
    type: spec.type,
    label: null,
    data_json: JSON.stringify({
      [spec.field]: spec.field === "address" ? "nobody@example.invalid" : "+10000000000",
    }),
    confirmed_at: 0,
    last_used_at: null,
    created_at: 0,
  };
}

export function createContactCodeMethod(services: MethodServices, spec: ContactCodeSpec): VerificationMethod {
  const contactMac = (value: string) => hmacHex(services.secrets, `contact:${spec.type}`, value);

  return {
    type: spec.type,

    isRegistered(methods) {
      return confirmedContacts(spec, methods).length > 0;
    },

    maskedHint(methods) {
      const first = confirmedContacts(spec, methods)[0];
      return first ? spec.mask(first.contact) : null;
    },

    async start(ctx, input) {
      const { clock, secrets } = services;
      const userId = ctx.user?.id ?? null;
      const phantom = userId === null;
      // A phantom parses and compares a stand-in registration, so it does the same work; the
      // stand-in can never become the target.
      const contacts = confirmedContacts(
        spec,
        phantom ? [standIn(spec)] : ctx.methods.filter((m) => m.user_id === userId),
      ).map((c) => ({ ...c, real: !phantom }));
      const strict = input.claimedContact !== undefined;

      let target: string | null = null;
      if (strict) {
        const typed = contactMac(spec.normalise(input.claimedContact ?? "") ?? "");
        // Every candidate is compared (and at least one, a dummy, when there are none).
        const candidates =
          contacts.length > 0 ? contacts : [{ methodId: "", contact: "\u0000", real: false }];
        for (const c of candidates) {
          const hit = safeEqual(contactMac(c.contact), typed);
          if (hit && c.real && target === null) target = c.contact;
        }
      } else {
        target = contacts.find((c) => c.real)?.contact ?? null;
      }

      const live = userId !== null && target !== null;
      const expiresAt = clock.now() + ctx.settings.reset.codeLifetimeMinutes * 60_000;
      const digits = ctx.settings.reset.codeDigits;
      const { challengeId, code } = await createCodeChallenge(services, {
        tenantId: ctx.tenant.id,
        flowId: ctx.flowId,
        userId,
        methodType: spec.type,
        expiresAt,
        digits,
        live,
      });
      const content = spec.render({ code, ctx });
      if (live && target !== null) {
        await services.enqueue({
          tenantId: ctx.tenant.id,
          channel: spec.type,
          template: "verification.code",
          to: target,
          ...content,
          code,
        });
      } else {
        // The sealing the outbox would have done, so both paths cost about the same; the result is dropped.
        sealData(secrets, JSON.stringify({ to: "", ...content, code }), "outbox:discarded");
      }
      const prompt: ChallengePrompt = {
        kind: "code",
        channel: spec.type,
        digits,
        expiresAt,
        sentToMasked: strict
          ? null
          : target !== null
            ? spec.mask(target)
            : phantomMask(secrets, spec.maskKind, ctx.flowId),
      };
      return { challengeId, prompt };
    },

    async verify(ctx, input) {
      return verifyCodeChallenge(services, {
        tenantId: ctx.tenant.id,
        flowId: ctx.flowId,
        methodType: spec.type,
        challengeId: input.challengeId,
        userId: ctx.user?.id ?? null,
        code: normaliseCode(input.response.code, ctx.settings.reset.codeDigits),
      });
    },
  };
}
