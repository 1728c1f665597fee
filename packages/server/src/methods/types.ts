/**
 * One interface for every verification method. A method is a strategy: it knows whether a user has
 * it, how to describe it masked, how to start a challenge and how to check the response. The flows
 * (reset now; registration and sign-in later) use methods only through this interface.
 *
 * Phantoms: when `user` is null (unknown user name) or the user does not hold the method, `start`
 * and `verify` must still do the same work (hashing, HMACs, a challenge row) and must never send
 * anything or succeed, so that nothing observable differs.
 */
import type { Kysely } from "kysely";
import type { MethodType, TenantSettings } from "../config/tenant-settings.js";
import type { Clock } from "../core/clock.js";
import type { Random } from "../core/random.js";
import type { ServerSecrets } from "../core/secrets.js";
import type { AuthMethod, Database, Tenant, User } from "../store/schema.js";

export interface MethodServices {
  db: Kysely<Database>;
  clock: Clock;
  random: Random;
  secrets: ServerSecrets;
  /** Queues a message for delivery; never sends inline (a slow provider must not show in the response). */
  enqueue(message: {
    tenantId: string;
    channel: "email" | "sms" | "voice";
    template: string;
    to: string;
    subject?: string;
    text: string;
    html?: string;
    /** The bare code, for providers whose request places it separately; sealed with the message. */
    code?: string;
  }): Promise<void>;
}

export interface ChallengeContext {
  tenant: Tenant;
  settings: TenantSettings;
  flowId: string;
  /** Null for a phantom flow. */
  user: User | null;
  /** The user's registered methods (empty for a phantom). */
  methods: AuthMethod[];
  locale: string;
  /**
   * A value stable for what the person typed (the normalised user name), from which a method
   * derives stand-ins that must look the same on every try, e.g. the questions a phantom is asked.
   * Absent: the flow id is used.
   */
  phantomSeed?: string;
}

/** What the page/API shows to the person for a started challenge. Never a secret. */
export type ChallengePrompt =
  | {
      kind: "code";
      channel: "email" | "sms" | "voice";
      digits: number;
      expiresAt: number;
      sentToMasked: string | null;
    }
  | { kind: "totp"; digits: number }
  | { kind: "questions"; questions: { id: string; text: string }[] }
  | { kind: "passkey"; options: unknown };

export interface StartInput {
  /** Strict disclosure: the address or number the person typed; the code is sent only if it matches. */
  claimedContact?: string;
}

export interface VerifyInput {
  challengeId: string;
  /** Method-specific fields: {code} or {answers: {questionId: answer}}. Validated by the method. */
  response: Record<string, unknown>;
}

export type VerifyResult =
  | { ok: true }
  | { ok: false; reason: "code_wrong" | "code_expired" | "answer_wrong" };

export interface VerificationMethod {
  readonly type: MethodType;
  /** Does this user hold a confirmed registration of the method? */
  isRegistered(methods: AuthMethod[]): boolean;
  /** Guided disclosure: e.g. "Email j•••@c•••.com"; null when not registered. */
  maskedHint(methods: AuthMethod[]): string | null;
  /** Starts a challenge (sends a code, picks questions...). Idempotent per call: each call a new challenge. */
  start(ctx: ChallengeContext, input: StartInput): Promise<{ challengeId: string; prompt: ChallengePrompt }>;
  verify(ctx: ChallengeContext, input: VerifyInput): Promise<VerifyResult>;
}
