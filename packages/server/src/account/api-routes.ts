/**
 * "My account" as a JSON API under /api/v1/account, with the same services and checks as the pages.
 * Inputs are validated with zod at the edge (VALIDATION_FAILED names the field); errors are the
 * registry's typed codes (the app's error handler writes them). Signed-in routes go through the
 * guard (401 SESSION_REQUIRED) and state changes need the session's CSRF token in `x-csrf-token`;
 * the sign-in's second step and the forced change are bound to their flow cookies like the pages.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { LatchkeyError } from "../core/errors.js";
import { CHANGE_COOKIE } from "../flows/change/pages.js";
import type { ChangeService, ForcedView } from "../flows/change/service.js";
import { PasswordRejectedError } from "../flows/reset/service.js";
import { applyOutcome, SIGN_IN_COOKIE, sameOrigin } from "../flows/sign-in/pages.js";
import type { SignInOutcome, SignInService } from "../flows/sign-in/service.js";
import type { Tenant } from "../store/schema.js";
import { clearFlowCookie, readFlowCookie } from "./flow-store.js";
import { type AccountGuard, csrfOf, requireCsrf, safeNext } from "./guard.js";
import { translatorFor } from "./layout.js";
import { metaOf, type RuleList, verdictJson } from "./page-helpers.js";
import { clearSessionCookie, type SessionCookieOptions, type SessionService } from "./sessions.js";

export interface AccountApiOptions {
  guard: AccountGuard;
  sessions: SessionService;
  signIn: SignInService;
  change: ChangeService;
  getTenant(req: FastifyRequest): Promise<Tenant>;
  cookie: SessionCookieOptions;
  ruleList: RuleList;
}

const password = z.string().min(1).max(1024);
const signInBody = z.object({
  username: z.string().trim().min(1).max(256),
  password,
  captcha: z.string().min(1).max(4096),
  next: z.string().max(500).optional(),
});
const challengeBody = z.object({ method: z.string().min(1).max(20) });
const verifyBody = z.object({ response: z.record(z.string(), z.unknown()) });
const changeBody = z.object({ oldPassword: password, newPassword: password, confirm: password.optional() });
const forcedBody = z.object({ newPassword: password, confirm: password.optional() });
const checkBody = z.object({ password: z.string().max(1024) });

function parse<T extends z.ZodType>(schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body ?? {});
  if (!r.success) {
    const field = r.error.issues[0]?.path.join(".") ?? "";
    throw new LatchkeyError("VALIDATION_FAILED", `invalid ${field}`, { field });
  }
  return r.data;
}

/** A refused password's rule verdicts ride along with the error code, like the reset API does. */
function rejected(reply: FastifyReply, e: PasswordRejectedError) {
  return reply.code(e.status).send({
    error: { code: e.code, messageId: e.messageId },
    rules: e.verdict.rules.map((r) => ({ id: r.id, ok: r.ok, skipped: r.skipped ?? false })),
  });
}

function forcedJson(view: ForcedView) {
  return { flowId: view.flowId, csrfToken: view.csrf, reason: view.reason, expiresAt: view.expiresAt };
}

function outcomeJson(outcome: SignInOutcome) {
  switch (outcome.kind) {
    case "signed_in":
      return {
        status: "signed_in" as const,
        csrfToken: outcome.session.csrf_token,
        interrupt: outcome.interrupt,
        next: outcome.next,
      };
    case "second_factor":
      return { status: "second_factor" as const, flow: outcome.view };
    case "change_required":
      return { status: "change_required" as const, flow: forcedJson(outcome.view) };
  }
}

export async function accountApiRoutes(app: FastifyInstance, opts: AccountApiOptions): Promise<void> {
  const base = "/api/v1/account";

  app.post(`${base}/sign-in`, async (req, reply) => {
    if (!sameOrigin(req)) throw new LatchkeyError("CSRF_MISMATCH");
    const tenant = await opts.getTenant(req);
    const body = parse(signInBody, req.body);
    const outcome = await opts.signIn.signIn(
      tenant,
      { username: body.username, password: body.password, captcha: body.captcha, next: safeNext(body.next) },
      metaOf(req),
    );
    applyOutcome(reply, outcome, opts.cookie);
    return reply.code(200).header("cache-control", "no-store").send(outcomeJson(outcome));
  });

  function signInStep(req: FastifyRequest, tenant: Tenant) {
    const bound = readFlowCookie(req, SIGN_IN_COOKIE);
    if (!bound) throw new LatchkeyError("FLOW_NOT_FOUND");
    return { tenant, flowId: bound.flowId, binding: bound.binding, csrf: csrfOf(req), meta: metaOf(req) };
  }

  app.post(`${base}/sign-in/second-factor/challenge`, async (req) => {
    const tenant = await opts.getTenant(req);
    const { method } = parse(challengeBody, req.body);
    return { flow: await opts.signIn.startChallenge(signInStep(req, tenant), method) };
  });

  app.post(`${base}/sign-in/second-factor/verify`, async (req, reply) => {
    const tenant = await opts.getTenant(req);
    const { response } = parse(verifyBody, req.body);
    const outcome = await opts.signIn.verifyChallenge(signInStep(req, tenant), response);
    applyOutcome(reply, outcome, opts.cookie);
    return reply.header("cache-control", "no-store").send(outcomeJson(outcome));
  });

  app.get(`${base}/session`, async (req, reply) => {
    const s = await opts.guard(req, reply);
    if (!s) return reply;
    return {
      user: { id: s.user.id, username: s.user.username, displayName: s.user.display_name, kind: s.user.kind },
      session: {
        id: s.session.id,
        amr: s.session.amr,
        createdAt: s.session.created_at,
        expiresAt: s.session.expires_at,
      },
      csrfToken: s.csrfToken,
      interrupt: await opts.signIn.interruptFor(s.tenant, s.user),
    };
  });

  app.get(`${base}/sessions`, async (req, reply) => {
    const s = await opts.guard(req, reply);
    if (!s) return reply;
    const list = await opts.sessions.list(s.user);
    return {
      sessions: list.map((x) => ({
        id: x.id,
        current: x.id === s.session.id,
        ip: x.ip,
        userAgent: x.user_agent,
        createdAt: x.created_at,
        lastSeenAt: x.last_seen_at,
        expiresAt: x.expires_at,
      })),
    };
  });

  app.delete<{ Params: { id: string } }>(
    `${base}/sessions/:id`,
    {
      schema: {
        params: { type: "object", properties: { id: { type: "string", maxLength: 64 } }, required: ["id"] },
      },
    },
    async (req, reply) => {
      const s = await opts.guard(req, reply);
      if (!s) return reply;
      requireCsrf(s, csrfOf(req));
      if (!(await opts.sessions.revoke(req.params.id, s.user))) throw new LatchkeyError("NOT_FOUND");
      if (req.params.id === s.session.id) clearSessionCookie(reply, opts.cookie);
      return reply.code(204).send();
    },
  );

  app.post(`${base}/sessions/revoke-others`, async (req, reply) => {
    const s = await opts.guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, csrfOf(req));
    return { revoked: await opts.sessions.revokeAllFor(s.user, s.session.id) };
  });

  app.post(`${base}/sign-out`, async (req, reply) => {
    const s = await opts.guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, csrfOf(req));
    await opts.sessions.revoke(s.session.id, s.user);
    clearSessionCookie(reply, opts.cookie);
    return reply.code(204).send();
  });

  app.post(`${base}/password`, async (req, reply) => {
    const s = await opts.guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, csrfOf(req));
    const body = parse(changeBody, req.body);
    try {
      await opts.change.change({
        tenant: s.tenant,
        user: s.user,
        oldPassword: body.oldPassword,
        newPassword: body.newPassword,
        confirm: body.confirm ?? body.newPassword,
        meta: metaOf(req),
        keepSessionId: s.session.id,
      });
    } catch (e) {
      if (e instanceof PasswordRejectedError) return rejected(reply, e);
      throw e;
    }
    return { status: "changed" };
  });

  app.post(`${base}/password/check`, async (req, reply) => {
    const s = await opts.guard(req, reply);
    if (!s) return reply;
    requireCsrf(s, csrfOf(req));
    const { password: candidate } = parse(checkBody, req.body);
    return verdictJson(
      translatorFor(req),
      opts.ruleList(s.tenant),
      await opts.change.check(s.tenant, s.user, candidate),
    );
  });

  app.post(`${base}/password/expired`, async (req, reply) => {
    const tenant = await opts.getTenant(req);
    const bound = readFlowCookie(req, CHANGE_COOKIE);
    if (!bound) throw new LatchkeyError("FLOW_NOT_FOUND");
    const body = parse(forcedBody, req.body);
    try {
      const { next } = await opts.change.completeForced(
        tenant,
        { flowId: bound.flowId, binding: bound.binding, csrf: csrfOf(req) },
        { newPassword: body.newPassword, confirm: body.confirm ?? body.newPassword },
        metaOf(req),
      );
      clearFlowCookie(reply, CHANGE_COOKIE, opts.cookie);
      return { status: "changed", next };
    } catch (e) {
      if (e instanceof PasswordRejectedError) return rejected(reply, e);
      throw e;
    }
  });
}
