/**
 * The one gate in front of every "my account" route. A route calls the guard first; it either gets
 * the signed-in person (tenant, user, session, the session's CSRF token) or null, in which case the
 * guard has already answered: a page is redirected to the sign-in page with `next` set to where the
 * person was going, and the JSON API gets 401 SESSION_REQUIRED. State-changing routes then check the
 * CSRF token with `checkCsrf` / `requireCsrf`.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Kysely } from "kysely";
import { ERRORS, LatchkeyError } from "../core/errors.js";
import { safeEqual } from "../core/secrets.js";
import type { Database, Tenant, User } from "../store/schema.js";
import { type AccountSession, readSessionCookie, type SessionService } from "./sessions.js";

export const SIGN_IN_PATH = "/account/sign-in";

export interface SignedIn {
  tenant: Tenant;
  user: User;
  session: AccountSession;
  csrfToken: string;
}

export interface AccountGuardDeps {
  db: Kysely<Database>;
  sessions: SessionService;
  getTenant(req: FastifyRequest): Promise<Tenant>;
}

export type AccountGuard = (req: FastifyRequest, reply: FastifyReply) => Promise<SignedIn | null>;

/** JSON API routes live under /api/; everything else is a page. */
export function isApiRequest(req: FastifyRequest): boolean {
  return req.url.startsWith("/api/");
}

/**
 * Where to come back to after signing in: only a same-origin path inside the account or admin area, so the
 * parameter cannot be turned into an open redirect.
 */
export function safeNext(next: unknown): string {
  if (typeof next !== "string" || next.length > 500) return "/account";
  return /^\/(?:account|admin)(?:[/?#][^\s\\]*)?$/.test(next) && !next.startsWith("//") ? next : "/account";
}

export function signInRedirect(next: string): string {
  return `${SIGN_IN_PATH}?next=${encodeURIComponent(safeNext(next))}`;
}

/** Loads the session's user; null when it no longer may use the account area. */
async function liveUser(db: Kysely<Database>, session: AccountSession): Promise<User | null> {
  const user = await db
    .selectFrom("users")
    .selectAll()
    .where("id", "=", session.user_id)
    .where("tenant_id", "=", session.tenant_id)
    .executeTakeFirst();
  if (user?.enabled !== 1 || user.deleted_at !== null) return null;
  return user;
}

export function accountGuard(deps: AccountGuardDeps): AccountGuard {
  return async (req, reply) => {
    const tenant = await deps.getTenant(req);
    const cookie = readSessionCookie(req);
    const session = cookie ? await deps.sessions.resolve(tenant, cookie) : null;
    const user = session ? await liveUser(deps.db, session) : null;
    if (session && user) return { tenant, user, session, csrfToken: session.csrf_token };
    if (session && !user) await deps.sessions.revokeAllFor({ id: session.user_id, tenant_id: tenant.id });
    if (isApiRequest(req)) {
      await reply
        .code(401)
        .header("cache-control", "no-store")
        .type("application/json; charset=utf-8")
        .send({ error: { code: "SESSION_REQUIRED", messageId: ERRORS.SESSION_REQUIRED.messageId } });
    } else {
      await reply.header("cache-control", "no-store").redirect(signInRedirect(req.url), 303);
    }
    return null;
  };
}

/** Constant-time check of a submitted CSRF token against the session's. */
export function checkCsrf(signedIn: SignedIn, token: unknown): boolean {
  if (typeof token !== "string" || token.length === 0 || signedIn.csrfToken.length === 0) return false;
  return safeEqual(token, signedIn.csrfToken);
}

/** Throws CSRF_MISMATCH unless `token` is the session's. */
export function requireCsrf(signedIn: SignedIn, token: unknown): void {
  if (!checkCsrf(signedIn, token)) throw new LatchkeyError("CSRF_MISMATCH");
}

/** The CSRF token a request carries: the `x-csrf-token` header (API, scripts) or the form's `_csrf`. */
export function csrfOf(req: FastifyRequest): string {
  const header = req.headers["x-csrf-token"];
  if (typeof header === "string") return header;
  const body = req.body as Record<string, unknown> | undefined;
  return typeof body?._csrf === "string" ? body._csrf : "";
}
