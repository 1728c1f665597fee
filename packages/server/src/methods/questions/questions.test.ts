import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFixture, type Fixture, seededRandom } from "../testing/fixtures.js";
import type { ChallengeContext, VerificationMethod } from "../types.js";
import { createQuestionsMethod, normaliseAnswer, QUESTION_CATALOGUE, registerQuestions } from "./index.js";

const ANSWERS: Record<string, string> = {
  "lk.first-pet": "  Fluffy  the CAT ",
  "lk.first-street": "Rue de la Paix",
  "lk.childhood-hero": "Ada Lovelace",
  "lk.first-car": "Citroën 2CV",
  "acme.mascot": "Quokka Jones",
};
const custom = [{ id: "acme.mascot", text: "What was the name of the first team mascot you designed?" }];
let fx: Fixture;
let method: VerificationMethod;

beforeAll(async () => {
  fx = await createFixture({
    settings: { questions: { registerCount: 5, answerCount: 3, custom, minAnswerLength: 3 } },
  });
  method = createQuestionsMethod(fx.services);
  await registerQuestions(fx.store.db, {
    tenantId: fx.tenant.id,
    userId: fx.user.id,
    settings: fx.settings.questions,
    answers: Object.entries(ANSWERS).map(([questionId, answer]) => ({ questionId, answer })),
    clock: fx.clock,
  });
});

afterAll(async () => {
  const everything = (await fx.dumpEverything()).toLowerCase();
  for (const a of [...Object.values(ANSWERS), "wrong answer here"]) {
    for (const form of [a.toLowerCase(), normaliseAnswer(a), a.trim().toLowerCase()]) {
      expect(everything.includes(form), `answer "${form}" found in the database`).toBe(false);
    }
  }
  await fx.close();
});

async function ask(ctx?: ChallengeContext) {
  const c = ctx ?? (await fx.ctx(fx.user));
  const started = await method.start(c, {});
  if (started.prompt.kind !== "questions") throw new Error("not a questions prompt");
  return { ctx: c, challengeId: started.challengeId, questions: started.prompt.questions };
}

function rightAnswers(ids: string[], transform: (s: string) => string = (s) => s): Record<string, string> {
  return Object.fromEntries(ids.map((id) => [id, transform(ANSWERS[id] ?? "")]));
}

describe("normaliseAnswer", () => {
  it("folds case, width and spacing", () => {
    expect(normaliseAnswer("  Fluffy  the CAT ")).toBe("fluffy the cat");
    expect(normaliseAnswer("Ｆｌｕｆｆｙ\tthe\u00a0cat")).toBe("fluffy the cat");
    expect(normaliseAnswer("Cafe\u0301")).toBe(normaliseAnswer("Café"));
    expect(normaliseAnswer("STRASSE")).toBe("strasse");
  });
});

describe("registerQuestions", () => {
  const base = () => ({ tenantId: fx.tenant.id, settings: fx.settings.questions, clock: fx.clock });
  const five = (over: Partial<Record<number, { questionId: string; answer: string }>> = {}) =>
    QUESTION_CATALOGUE.slice(0, 5).map(
      (q, i) => over[i] ?? { questionId: q.id, answer: `answer number ${i}` },
    );

  it("refuses what Entra refuses", async () => {
    const bob = await fx.addUser("bob-reg");
    const reg = (answers: { questionId: string; answer: string }[]) =>
      registerQuestions(fx.store.db, { ...base(), userId: bob.id, answers });
    await expect(reg(five().slice(0, 4))).rejects.toMatchObject({
      code: "VALIDATION_FAILED",
      context: { rule: "count" },
    });
    await expect(reg(five({ 0: { questionId: "nope", answer: "whatever" } }))).rejects.toMatchObject({
      context: { rule: "unknown_question" },
    });
    const dupQ = five({ 1: { questionId: QUESTION_CATALOGUE[0]?.id ?? "", answer: "other answer" } });
    await expect(reg(dupQ)).rejects.toMatchObject({ context: { rule: "duplicate_question" } });
    await expect(
      reg(five({ 2: { questionId: QUESTION_CATALOGUE[2]?.id ?? "", answer: "  ab  " } })),
    ).rejects.toMatchObject({
      context: { rule: "too_short" },
    });
    await expect(
      reg(five({ 3: { questionId: QUESTION_CATALOGUE[3]?.id ?? "", answer: "ANSWER  number 0" } })),
    ).rejects.toMatchObject({
      context: { rule: "duplicate_answer" },
    });
    const err: unknown = await reg(
      five({ 2: { questionId: QUESTION_CATALOGUE[2]?.id ?? "", answer: "xy" } }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).not.toContain("xy");
    expect(await fx.methods(bob.id)).toHaveLength(0);
  });

  it("stores ids and argon2id hashes only, and replaces an earlier registration", async () => {
    const carol = await fx.addUser("carol-reg");
    await registerQuestions(fx.store.db, { ...base(), userId: carol.id, answers: five() });
    await registerQuestions(fx.store.db, { ...base(), userId: carol.id, answers: five() });
    const rows = await fx.methods(carol.id);
    expect(rows).toHaveLength(1);
    const data = JSON.parse(rows[0]?.data_json ?? "{}") as { questions: { id: string; hash: string }[] };
    expect(data.questions.map((q) => q.id)).toEqual(QUESTION_CATALOGUE.slice(0, 5).map((q) => q.id));
    for (const q of data.questions) expect(q.hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it("ships at least twelve questions with unique stable ids", () => {
    expect(QUESTION_CATALOGUE.length).toBeGreaterThanOrEqual(12);
    expect(new Set(QUESTION_CATALOGUE.map((q) => q.id)).size).toBe(QUESTION_CATALOGUE.length);
    for (const q of QUESTION_CATALOGUE) expect(q.id).toMatch(/^lk\.[a-z-]+$/);
  });
});

describe("questions method", () => {
  it("asks answerCount of the user's questions, with their text", async () => {
    const { questions } = await ask();
    expect(questions).toHaveLength(3);
    for (const q of questions) {
      expect(Object.keys(ANSWERS)).toContain(q.id);
      expect(q.text.length).toBeGreaterThan(10);
    }
    expect(new Set(questions.map((q) => q.id)).size).toBe(3);
    expect(questions.find((q) => q.id === "acme.mascot")?.text ?? custom[0]?.text).toBe(custom[0]?.text);
  });

  it("passes when every answer matches after normalisation", async () => {
    const { ctx, challengeId, questions } = await ask();
    const answers = rightAnswers(
      questions.map((q) => q.id),
      (s) => `  ${s.toUpperCase().replace(" ", "   ")} `,
    );
    expect(await method.verify(ctx, { challengeId, response: { answers } })).toEqual({ ok: true });
    // Single use.
    expect(await method.verify(ctx, { challengeId, response: { answers } })).toEqual({
      ok: false,
      reason: "code_expired",
    });
  });

  it("is all or nothing, and a wrong answer spends the challenge", async () => {
    const { ctx, challengeId, questions } = await ask();
    const ids = questions.map((q) => q.id);
    const answers = rightAnswers(ids);
    answers[ids[2] ?? ""] = "wrong answer here";
    expect(await method.verify(ctx, { challengeId, response: { answers } })).toEqual({
      ok: false,
      reason: "answer_wrong",
    });
    expect(await method.verify(ctx, { challengeId, response: { answers: rightAnswers(ids) } })).toEqual({
      ok: false,
      reason: "code_expired",
    });
    // A missing answer is a wrong one.
    const again = await ask();
    const partial = rightAnswers(again.questions.map((q) => q.id).slice(0, 2));
    expect(
      await method.verify(again.ctx, { challengeId: again.challengeId, response: { answers: partial } }),
    ).toEqual({
      ok: false,
      reason: "answer_wrong",
    });
  });

  it("answers for questions that were not asked do not count", async () => {
    const { ctx, challengeId, questions } = await ask();
    const asked = new Set(questions.map((q) => q.id));
    const notAsked = Object.keys(ANSWERS).filter((id) => !asked.has(id));
    expect(await method.verify(ctx, { challengeId, response: { answers: rightAnswers(notAsked) } })).toEqual({
      ok: false,
      reason: "answer_wrong",
    });
  });

  it("draws the questions at random, covering every combination", async () => {
    const seeded = createQuestionsMethod({ ...fx.services, random: seededRandom(7) });
    const seen = new Map<string, number>();
    for (let i = 0; i < 200; i++) {
      const started = await seeded.start(await fx.ctx(fx.user), {});
      if (started.prompt.kind !== "questions") throw new Error("not a questions prompt");
      const key = started.prompt.questions
        .map((q) => q.id)
        .sort()
        .join("|");
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    // C(5,3) = 10 combinations, each expected 20 times in 200 draws.
    expect(seen.size).toBe(10);
    for (const n of seen.values()) expect(n).toBeGreaterThan(5);
  });

  it("refuses after the challenge expired", async () => {
    const { ctx, challengeId, questions } = await ask();
    fx.clock.advance(fx.settings.reset.flowLifetimeMinutes * 60_000);
    const answers = rightAnswers(questions.map((q) => q.id));
    expect(await method.verify(ctx, { challengeId, response: { answers } })).toEqual({
      ok: false,
      reason: "code_expired",
    });
  });

  it("phantoms get plausible questions and never pass", async () => {
    const ctx = await fx.ctx(null);
    const { challengeId, questions } = await ask(ctx);
    expect(questions).toHaveLength(3);
    const catalogue = new Set([...QUESTION_CATALOGUE.map((q) => q.id), "acme.mascot"]);
    for (const q of questions) expect(catalogue.has(q.id)).toBe(true);
    const answers = Object.fromEntries(questions.map((q) => [q.id, ANSWERS[q.id] ?? "anything at all"]));
    expect(await method.verify(ctx, { challengeId, response: { answers } })).toEqual({
      ok: false,
      reason: "answer_wrong",
    });
  });

  it("another user cannot answer alice's challenge", async () => {
    const { ctx, challengeId, questions } = await ask();
    const mallory = await fx.addUser("mallory-q");
    const answers = rightAnswers(questions.map((q) => q.id));
    expect(
      await method.verify({ ...ctx, user: mallory, methods: [] }, { challengeId, response: { answers } }),
    ).toEqual({
      ok: false,
      reason: "answer_wrong",
    });
  });

  it("survives malformed responses", async () => {
    for (const bad of [undefined, "text", ["a"], { "lk.first-pet": 42 }, { x: "y".repeat(5000) }]) {
      const { ctx, challengeId } = await ask();
      expect(await method.verify(ctx, { challengeId, response: { answers: bad } })).toEqual({
        ok: false,
        reason: "answer_wrong",
      });
    }
    const ctx = await fx.ctx(fx.user);
    expect(await method.verify(ctx, { challengeId: "missing", response: { answers: {} } })).toEqual({
      ok: false,
      reason: "answer_wrong",
    });
  });

  it("knows whether the user registered", async () => {
    expect(method.isRegistered(await fx.methods())).toBe(true);
    expect(method.isRegistered([])).toBe(false);
    expect(method.maskedHint([])).toBeNull();
  });
});
