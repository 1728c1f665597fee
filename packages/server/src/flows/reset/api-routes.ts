/**
 * The reset flow as a JSON API under /api/v1/reset. Same service, same checks as the pages.
 * The flow id travels in the URL and, with the binding secret, in the HttpOnly cookie; the CSRF
 * token in the `x-csrf-token` header.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import { isLatchkeyError, LatchkeyError } from "../../core/errors.js";
import type { Tenant } from "../../store/schema.js";
import {
  challengeBody,
  identifyBody,
  passwordBody,
  passwordCheckBody,
  unlockBody,
  verifyBody,
} from "./api-schemas.js";
import { type CookieOptions, readBinding, setBinding } from "./binding-cookie.js";
import type { RequestMeta } from "./ports.js";
import { PasswordRejectedError, type ResetService, type StepInput } from "./service.js";

export interface ResetRouteOptions {
  service: ResetService;
  getTenant(req: FastifyRequest): Promise<Tenant>;
  cookie: CookieOptions;
}

export function requestMeta(req: FastifyRequest): RequestMeta {
  const lang = String(req.headers["accept-language"] ?? "en")
    .slice(0, 2)
    .toLowerCase();
  return {
    ip: req.ip ?? null,
    userAgent: typeof req.headers["user-agent"] === "string" ? req.headers["user-agent"].slice(0, 300) : null,
    locale: /^[a-z]{2}$/.test(lang) ? lang : "en",
  };
}

function parse<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const field = r.error.issues[0]?.path.join(".") ?? "";
    throw new LatchkeyError("VALIDATION_FAILED", `invalid ${field}`, { field });
  }
  return r.data;
}

export async function resetApiRoutes(app: FastifyInstance, opts: ResetRouteOptions): Promise<void> {
  const { service } = opts;

  async function step(req: FastifyRequest<{ Params: { flowId: string } }>): Promise<StepInput> {
    const bound = readBinding(req);
    const csrf = req.headers["x-csrf-token"];
    return {
      tenant: await opts.getTenant(req),
      flowId: req.params.flowId,
      // The cookie must name the same flow as the URL; otherwise the binding is absent.
      binding: bound?.flowId === req.params.flowId ? bound.binding : undefined,
      csrf: typeof csrf === "string" ? csrf : "",
      meta: requestMeta(req),
    };
  }

  /**
   * The directory's refusal by its own message id, so a client can show the sentence the reset page
   * shows; the flow stays at new_password. Anything else goes to the error handler.
   */
  function directoryRefusal(e: unknown, reply: FastifyReply) {
    if (
      isLatchkeyError(e) &&
      (e.code === "PASSWORD_SET_FAILED" || e.code === "UNLOCK_FAILED") &&
      typeof e.context.messageId === "string"
    ) {
      return reply
        .code(e.status)
        .header("cache-control", "no-store")
        .send({ error: { code: e.code, messageId: e.context.messageId } });
    }
    throw e;
  }

  const flowParams = {
    type: "object",
    properties: { flowId: { type: "string", maxLength: 64 } },
    required: ["flowId"],
  } as const;

  app.post("/api/v1/reset/flows", async (req, reply: FastifyReply) => {
    const tenant = await opts.getTenant(req);
    const { view, binding } = await service.start(tenant, requestMeta(req));
    setBinding(reply, view.flowId, binding, opts.cookie);
    return reply.code(201).send({ flow: view });
  });

  app.get<{ Params: { flowId: string } }>(
    "/api/v1/reset/flows/:flowId",
    { schema: { params: flowParams } },
    async (req) => {
      const s = await step(req);
      return { flow: await service.view(s.tenant, s.flowId, s.binding) };
    },
  );

  app.post<{ Params: { flowId: string } }>(
    "/api/v1/reset/flows/:flowId/identify",
    { schema: { params: flowParams } },
    async (req) => ({ flow: await service.identify(await step(req), parse(identifyBody, req.body)) }),
  );

  app.post<{ Params: { flowId: string } }>(
    "/api/v1/reset/flows/:flowId/challenge",
    { schema: { params: flowParams } },
    async (req) => {
      const body = parse(challengeBody, req.body);
      return {
        flow: await service.startChallenge(await step(req), {
          method: body.method,
          ...(body.contact !== undefined ? { contact: body.contact } : {}),
        }),
      };
    },
  );

  app.post<{ Params: { flowId: string } }>(
    "/api/v1/reset/flows/:flowId/verify",
    { schema: { params: flowParams } },
    async (req) => {
      const body = parse(verifyBody, req.body);
      const response: Record<string, unknown> = {};
      if (body.code !== undefined) response.code = body.code;
      if (body.answers !== undefined) response.answers = body.answers;
      if (body.assertion !== undefined) response.assertion = body.assertion;
      return { flow: await service.verifyChallenge(await step(req), { response }) };
    },
  );

  app.post<{ Params: { flowId: string } }>(
    "/api/v1/reset/flows/:flowId/password/check",
    { schema: { params: flowParams } },
    async (req) => {
      const body = parse(passwordCheckBody, req.body);
      return { verdict: await service.checkPassword(await step(req), body.password) };
    },
  );

  app.post<{ Params: { flowId: string } }>(
    "/api/v1/reset/flows/:flowId/password",
    { schema: { params: flowParams } },
    async (req, reply) => {
      const body = parse(passwordBody, req.body);
      try {
        return { flow: await service.setPassword(await step(req), body) };
      } catch (e) {
        if (e instanceof PasswordRejectedError) {
          return reply.code(400).send({
            error: { code: e.code, messageId: e.messageId },
            verdict: e.verdict,
          });
        }
        // A directory that outlives the wait is not an error: the flow answers in state "pending".
        return directoryRefusal(e, reply);
      }
    },
  );

  app.post<{ Params: { flowId: string } }>(
    "/api/v1/reset/flows/:flowId/unlock",
    { schema: { params: flowParams } },
    async (req, reply) => {
      parse(unlockBody, req.body);
      try {
        return { flow: await service.unlock(await step(req)) };
      } catch (e) {
        return directoryRefusal(e, reply);
      }
    },
  );

  app.post<{ Params: { flowId: string } }>(
    "/api/v1/reset/flows/:flowId/contact-admin",
    { schema: { params: flowParams } },
    async (req) => ({ flow: await service.contactAdmin(await step(req)) }),
  );
}
