/**
 * Security questions. The user registers `registerCount` questions (from the shipped catalogue or
 * the tenant's own) with answers; a reset asks `answerCount` of them, chosen at random each time.
 *
 * auth_methods row: type 'questions', data_json {questions: [{id, hash}]} where hash is an argon2id
 * PHC string of the normalised answer (see answers.ts). No answer is ever stored or logged.
 *
 * Verification runs every argon2 verification, even after a wrong answer, and runs them against a
 * fixed dummy hash for a question the user does not have (a phantom), so the time does not say
 * which answer was wrong or whether the user exists. It passes only when every answer matches.
 * A challenge takes one try: a wrong answer spends it, and the next start draws new questions
 * (as Entra re-rolls them).
 */
import type { Kysely } from "kysely";
import { z } from "zod";
import type { TenantSettings } from "../../config/tenant-settings.js";
import { type Clock, systemClock } from "../../core/clock.js";
import { LatchkeyError } from "../../core/errors.js";
import { cryptoRandom, newId, type Random } from "../../core/random.js";
import { hmacHex, type ServerSecrets } from "../../core/secrets.js";
import type { AuthMethod, Database } from "../../store/schema.js";
import { challengeState, consumeChallenge, countAttempt, createChallenge } from "../shared/challenges.js";
import type { MethodServices, VerificationMethod } from "../types.js";
import { dummyAnswerHash, hashAnswer, normaliseAnswer, verifyAnswer } from "./answers.js";
import { availableQuestions } from "./catalogue.js";

export { normaliseAnswer } from "./answers.js";
export { availableQuestions, QUESTION_CATALOGUE, type SecurityQuestion } from "./catalogue.js";

export const MAX_QUESTIONS = 5;
export const MAX_ANSWER_LENGTH = 200;

const dataSchema = z.object({
  questions: z.array(z.object({ id: z.string(), hash: z.string() })),
});

type QuestionSettings = TenantSettings["questions"];

export interface RegisterQuestionsInput {
  tenantId: string;
  userId: string;
  answers: { questionId: string; answer: string }[];
  settings: QuestionSettings;
  clock?: Clock;
  random?: Random;
}

function refuse(rule: string, questionId?: string): LatchkeyError {
  return new LatchkeyError("VALIDATION_FAILED", `security questions: ${rule}`, {
    rule,
    ...(questionId ? { questionId } : {}),
  });
}

/**
 * Replaces the user's security questions. Refuses (VALIDATION_FAILED, context.rule) fewer than
 * registerCount or more than 5 answers, unknown or repeated questions, answers shorter than
 * minAnswerLength or longer than 200 after normalisation, and the same answer twice.
 */
export async function registerQuestions(
  db: Kysely<Database>,
  input: RegisterQuestionsInput,
): Promise<string> {
  const { settings } = input;
  const known = availableQuestions(settings.custom);
  const n = input.answers.length;
  if (n < settings.registerCount || n > Math.max(MAX_QUESTIONS, settings.registerCount))
    throw refuse("count");
  const seenQuestions = new Set<string>();
  const seenAnswers = new Set<string>();
  for (const { questionId, answer } of input.answers) {
    if (!known.has(questionId)) throw refuse("unknown_question", questionId);
    if (seenQuestions.has(questionId)) throw refuse("duplicate_question", questionId);
    seenQuestions.add(questionId);
    const norm = normaliseAnswer(answer);
    const length = [...norm].length;
    if (length < settings.minAnswerLength) throw refuse("too_short", questionId);
    if (length > MAX_ANSWER_LENGTH) throw refuse("too_long", questionId);
    if (seenAnswers.has(norm)) throw refuse("duplicate_answer", questionId);
    seenAnswers.add(norm);
  }
  const questions = await Promise.all(
    input.answers.map(async (a) => ({ id: a.questionId, hash: await hashAnswer(normaliseAnswer(a.answer)) })),
  );
  const id = newId(input.random ?? cryptoRandom);
  const now = (input.clock ?? systemClock).now();
  await db.transaction().execute(async (trx) => {
    await trx
      .deleteFrom("auth_methods")
      .where("tenant_id", "=", input.tenantId)
      .where("user_id", "=", input.userId)
      .where("type", "=", "questions")
      .execute();
    await trx
      .insertInto("auth_methods")
      .values({
        id,
        tenant_id: input.tenantId,
        user_id: input.userId,
        type: "questions",
        label: `${questions.length} security questions`,
        data_json: JSON.stringify({ questions }),
        confirmed_at: now,
        last_used_at: null,
        created_at: now,
      })
      .execute();
  });
  return id;
}

/** The user's registered question ids and hashes (from the first confirmed, readable row). */
function registeredQuestions(methods: AuthMethod[], userId: string | null): Map<string, string> {
  const out = new Map<string, string>();
  if (userId === null) return out;
  for (const m of methods) {
    if (m.type !== "questions" || m.confirmed_at === null || m.user_id !== userId) continue;
    try {
      for (const q of dataSchema.parse(JSON.parse(m.data_json)).questions) out.set(q.id, q.hash);
      return out;
    } catch {
      // A damaged row counts as no registration.
    }
  }
  return out;
}

/** `count` distinct items of `items`, uniformly at random (partial Fisher–Yates). */
export function pickRandom<T>(items: readonly T[], count: number, random: Random): T[] {
  const a = [...items];
  const k = Math.min(count, a.length);
  for (let i = 0; i < k; i++) {
    const j = random.int(i, a.length);
    const t = a[i] as T;
    a[i] = a[j] as T;
    a[j] = t;
  }
  return a.slice(0, k);
}

const answersSchema = z.record(z.string().max(100), z.string().max(1000));

/**
 * `count` question ids chosen from `ids` by an HMAC of the seed under the server key: the same for
 * the same seed, unpredictable without the key.
 */
export function standInQuestions(
  secrets: ServerSecrets,
  ids: readonly string[],
  count: number,
  seed: string,
): string[] {
  return ids
    .map((id) => ({ id, rank: hmacHex(secrets, "questions:stand-in", `${seed}\u0000${id}`) }))
    .sort((a, b) => (a.rank < b.rank ? -1 : a.rank > b.rank ? 1 : 0))
    .slice(0, count)
    .map((x) => x.id);
}

export function createQuestionsMethod(services: MethodServices): VerificationMethod {
  return {
    type: "questions",

    isRegistered(methods) {
      return methods.some((m) => m.type === "questions" && m.confirmed_at !== null);
    },

    maskedHint(methods) {
      return methods.some((m) => m.type === "questions" && m.confirmed_at !== null)
        ? "Security questions"
        : null;
    },

    async start(ctx) {
      const userId = ctx.user?.id ?? null;
      const texts = availableQuestions(ctx.settings.questions.custom);
      const registered = registeredQuestions(ctx.methods, userId);
      // Only questions whose text still exists can be asked. A phantom (or a user without questions)
      // is asked from stand-ins: registerCount questions fixed per typed name. Drawing from the whole
      // catalogue told a phantom from a real user in strict mode: a real user's questions repeat
      // (the enumeration test saw 13 distinct questions over 12 tries against 3). The stand-ins are
      // derived every time, so both paths do that work.
      const standIns = standInQuestions(
        services.secrets,
        [...texts.keys()],
        ctx.settings.questions.registerCount,
        ctx.phantomSeed ?? ctx.flowId,
      );
      const own = [...registered.keys()].filter((id) => texts.has(id));
      const pool = userId !== null && own.length > 0 ? own : standIns;
      const ids = pickRandom(pool, ctx.settings.questions.answerCount, services.random);
      const challengeId = await createChallenge(services, {
        tenantId: ctx.tenant.id,
        flowId: ctx.flowId,
        userId,
        methodType: "questions",
        expiresAt: services.clock.now() + ctx.settings.reset.flowLifetimeMinutes * 60_000,
        data: { questionIds: ids },
      });
      return {
        challengeId,
        prompt: { kind: "questions", questions: ids.map((id) => ({ id, text: texts.get(id) ?? "" })) },
      };
    },

    async verify(ctx, input) {
      const { db, clock } = services;
      const userId = ctx.user?.id ?? null;
      const key = {
        tenantId: ctx.tenant.id,
        flowId: ctx.flowId,
        methodType: "questions",
        challengeId: input.challengeId,
      };
      const row = await countAttempt(services, key);
      let askedIds: string[] = [];
      try {
        askedIds = z
          .object({ questionIds: z.array(z.string()) })
          .parse(JSON.parse(row?.dataJson ?? "{}")).questionIds;
      } catch {
        askedIds = [];
      }
      // Without a usable challenge, still spend the time of a normal verification.
      const ids =
        askedIds.length > 0
          ? askedIds
          : Array.from({ length: ctx.settings.questions.answerCount }, (_, i) => `\u0000${i}`);
      const parsed = answersSchema.safeParse(input.response.answers);
      const answers: Record<string, string> = parsed.success ? parsed.data : {};

      // Fresh from the store: a re-registration since the flow began must count.
      const rows = await db
        .selectFrom("auth_methods")
        .selectAll()
        .where("tenant_id", "=", ctx.tenant.id)
        .where("user_id", "=", userId ?? "")
        .where("type", "=", "questions")
        .execute();
      const registered = registeredQuestions(rows, userId);
      const dummy = await dummyAnswerHash();
      const results = await Promise.all(
        ids.map(async (id) => {
          const hash = registered.get(id);
          const ok = await verifyAnswer(hash ?? dummy, answers[id] ?? "");
          return ok && hash !== undefined;
        }),
      );
      const allMatch = askedIds.length > 0 && results.every(Boolean);

      if (!row) return { ok: false, reason: "answer_wrong" };
      const state = challengeState(row, clock.now(), userId);
      if (state === "expired") return { ok: false, reason: "code_expired" };
      const won = await consumeChallenge(services, key);
      if (state === "foreign" || !allMatch) return { ok: false, reason: "answer_wrong" };
      if (!won) return { ok: false, reason: "code_expired" };
      await db
        .updateTable("auth_methods")
        .set({ last_used_at: clock.now() })
        .where("tenant_id", "=", ctx.tenant.id)
        .where("user_id", "=", userId ?? "")
        .where("type", "=", "questions")
        .execute();
      return { ok: true };
    },
  };
}
