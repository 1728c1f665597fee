/**
 * The registration flow as a JSON API under /api/v1/account/methods, for clients other than the
 * pages. The same service, the same views; a session cookie and the session's CSRF token in the
 * x-csrf-token header on every POST. Bodies are validated here (zod) before the service sees them.
 * The service's own refusals of what the person typed (an address in the wrong format, a passkey
 * without a name, a questions rule) come back as 400 VALIDATION_FAILED naming the field, the rule
 * and the sentence's message id, so a client can show what the page shows.
 */
import type { FastifyInstance, FastifyReply } from "fastify";
import { z } from "zod";
import { type AccountGuard, csrfOf, requireCsrf } from "../../account/guard.js";
import { METHOD_TYPES } from "../../config/tenant-settings.js";
import { ERRORS, isLatchkeyError } from "../../core/errors.js";
import { hasMessage } from "../../i18n/index.js";
import type { RelyingPartyResolver } from "../../methods/passkey/relying-party.js";
import { accountMeta } from "./pages.js";
import type { RegistrationService } from "./service.js";

export const API_BASE = "/api/v1/account/methods";

const beginBody = z.object({
  action: z.enum(["add", "confirm", "remove"]),
  method: z.enum(METHOD_TYPES).optional(),
  methodId: z.string().min(1).max(64).optional(),
  source: z.enum(["email", "mobile", "office_phone"]).optional(),
});
const stepUpBody = z.object({ method: z.enum(METHOD_TYPES) });
const verifyBody = z.object({
  code: z.string().trim().max(40).optional(),
  answers: z.record(z.string().max(100), z.string().max(200)).optional(),
  assertion: z.unknown().optional(),
});
const collectBody = z.object({
  contact: z.string().max(300).optional(),
  answers: z
    .array(z.object({ questionId: z.string().max(100), answer: z.string().max(1000) }))
    .max(5)
    .optional(),
  name: z.string().max(200).optional(),
});
const confirmBody = z.object({
  code: z.string().trim().max(40).optional(),
  passkey: z.unknown().optional(),
});

/** The message id of a refused input, as the pages word it (the generic one when there is none). */
function refusalMessageId(field: string, rule: string): string {
  const prefix =
    field === "contact"
      ? "account.methods.contact.error."
      : field === "name"
        ? "account.methods.passkey.error."
        : field === "answers"
          ? "account.methods.questions.error."
          : "";
  const id = `${prefix}${rule}`;
  return prefix && hasMessage(id) ? id : ERRORS.VALIDATION_FAILED.messageId;
}

/** A service refusal of the person's input as a clear 400; anything else goes to the error handler. */
function refusal(e: unknown, reply: FastifyReply) {
  if (!isLatchkeyError(e) || e.code !== "VALIDATION_FAILED") throw e;
  const rule = typeof e.context.rule === "string" ? e.context.rule : "";
  // Security-question rules carry no field (the questions module names the question instead).
  const field = typeof e.context.field === "string" ? e.context.field : "answers";
  return reply
    .code(400)
    .header("cache-control", "no-store")
    .send({
      error: {
        code: e.code,
        messageId: refusalMessageId(field, rule),
        fields: [field],
        rule,
        ...(typeof e.context.questionId === "string" ? { questionId: e.context.questionId } : {}),
      },
    });
}

export interface RegistrationApiOptions {
  service: RegistrationService;
  guard: AccountGuard;
  relyingParty: RelyingPartyResolver;
}

export async function registrationApiRoutes(
  app: FastifyInstance,
  opts: RegistrationApiOptions,
): Promise<void> {
  const { service, guard } = opts;
  const meta = (req: Parameters<typeof accountMeta>[0]) => accountMeta(req, opts.relyingParty);

  app.get(API_BASE, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    return reply.header("cache-control", "no-store").send(await service.overview(s));
  });

  app.post(`${API_BASE}/review`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, csrfOf(req));
    await service.markReviewed(s, meta(req));
    return reply.code(204).send();
  });

  app.post(`${API_BASE}/flows`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, csrfOf(req));
    const body = beginBody.parse(req.body);
    try {
      const view = await service.begin(s, meta(req), {
        action: body.action,
        method: body.method ?? "email",
        ...(body.methodId ? { methodId: body.methodId } : {}),
        ...(body.source ? { source: body.source } : {}),
      });
      return reply.code(201).header("cache-control", "no-store").send(view);
    } catch (e) {
      return refusal(e, reply);
    }
  });

  app.get<{ Params: { id: string } }>(`${API_BASE}/flows/:id`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    return reply.header("cache-control", "no-store").send(await service.view(s, req.params.id));
  });

  app.post<{ Params: { id: string } }>(`${API_BASE}/flows/:id/step-up`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, csrfOf(req));
    const body = stepUpBody.parse(req.body);
    return reply
      .header("cache-control", "no-store")
      .send(await service.startStepUp(s, req.params.id, meta(req), body));
  });

  app.post<{ Params: { id: string } }>(`${API_BASE}/flows/:id/step-up/verify`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, csrfOf(req));
    const body = verifyBody.parse(req.body);
    const response: Record<string, unknown> =
      body.assertion !== undefined
        ? { assertion: body.assertion }
        : body.answers
          ? { answers: body.answers }
          : { code: (body.code ?? "").replace(/[\s-]/g, "") };
    return reply
      .header("cache-control", "no-store")
      .send(await service.verifyStepUp(s, req.params.id, meta(req), { response }));
  });

  app.post<{ Params: { id: string } }>(`${API_BASE}/flows/:id/collect`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, csrfOf(req));
    const body = collectBody.parse(req.body);
    try {
      return reply.header("cache-control", "no-store").send(
        await service.collect(s, req.params.id, meta(req), {
          ...(body.contact !== undefined ? { contact: body.contact } : {}),
          ...(body.answers ? { answers: body.answers } : {}),
          ...(body.name !== undefined ? { name: body.name } : {}),
        }),
      );
    } catch (e) {
      return refusal(e, reply);
    }
  });

  app.post<{ Params: { id: string } }>(`${API_BASE}/flows/:id/confirm`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, csrfOf(req));
    const body = confirmBody.parse(req.body);
    return reply.header("cache-control", "no-store").send(
      await service.confirm(s, req.params.id, meta(req), {
        ...(body.code !== undefined ? { code: body.code } : {}),
        ...(body.passkey !== undefined ? { passkey: body.passkey } : {}),
      }),
    );
  });

  app.post<{ Params: { id: string } }>(`${API_BASE}/flows/:id/restart`, async (req, reply) => {
    const s = await guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, csrfOf(req));
    return reply.header("cache-control", "no-store").send(await service.restart(s, req.params.id));
  });
}
