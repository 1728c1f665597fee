/**
 * Server-side "my account" sessions. The browser holds a random 256-bit value in an HttpOnly
 * cookie; the store holds only its SHA-256, so a database reader cannot take over a session. Every
 * read goes through `resolve`, which enforces revocation, the tenant's idle timeout (from
 * last_seen_at) and the absolute timeout (expires_at, fixed at sign-in), so none of them can be
 * forgotten by a route. A reset, a password change and a directory deletion revoke by setting
 * revoked_at (flows/reset/cloud-password-setter.ts revokeAllSessions, sync/ingest.ts): resolve
 * honours it.
 */
import { createHash } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Kysely } from "kysely";
import { parseTenantSettings } from "../config/tenant-settings.js";
import type { Clock } from "../core/clock.js";
import { cryptoRandom, newId, type Random } from "../core/random.js";
import type { Database, Session, Tenant, User } from "../store/schema.js";

export const SESSION_COOKIE = "lk_session";

/**
 * last_seen_at is written at most this often per session: the idle timeout is counted in minutes,
 * so a write on every request would only add store load (and contention on PostgreSQL).
 */
export const TOUCH_EVERY_MS = 30_000;

export interface SessionMeta {
  ip: string | null;
  userAgent: string | null;
}

/** A live session as the account area sees it (amr parsed). */
export interface AccountSession extends Session {
  amr: string[];
}

export interface SessionServiceDeps {
  db: Kysely<Database>;
  clock: Clock;
  random?: Random;
}

export function hashSessionToken(cookieValue: string): string {
  return createHash("sha256").update(cookieValue).digest("hex");
}

function withAmr(row: Session): AccountSession {
  let amr: string[] = [];
  try {
    const parsed = JSON.parse(row.amr_json) as unknown;
    if (Array.isArray(parsed)) amr = parsed.filter((x): x is string => typeof x === "string");
  } catch {
    // A damaged row reads as "password only", never as a stronger sign-in.
  }
  return { ...row, amr };
}

export class SessionService {
  private readonly random: Random;

  constructor(private readonly deps: SessionServiceDeps) {
    this.random = deps.random ?? cryptoRandom;
  }

  private timeouts(tenant: Tenant): { idleMs: number; absoluteMs: number } {
    const a = parseTenantSettings(tenant.settings_json).account;
    return { idleMs: a.sessionIdleMinutes * 60_000, absoluteMs: a.sessionAbsoluteHours * 3_600_000 };
  }

  /**
   * Opens a session for a person who just signed in. `amr` lists what they proved ("pwd", and the
   * second factor's method type when one was asked), so a second-factor sign-in counts as a fresh
   * step-up too.
   */
  async create(
    tenant: Tenant,
    user: User,
    meta: SessionMeta,
    amr: string[],
  ): Promise<{ session: AccountSession; cookieValue: string }> {
    const now = this.deps.clock.now();
    const cookieValue = this.random.bytes(32).toString("base64url");
    const secondFactor = amr.find((m) => m !== "pwd") ?? null;
    const row: Session = {
      id: newId(this.random),
      tenant_id: tenant.id,
      user_id: user.id,
      token_hash: hashSessionToken(cookieValue),
      ip: meta.ip,
      user_agent: meta.userAgent ? meta.userAgent.slice(0, 300) : null,
      created_at: now,
      last_seen_at: now,
      expires_at: now + this.timeouts(tenant).absoluteMs,
      revoked_at: null,
      amr_json: JSON.stringify(amr),
      csrf_token: this.random.bytes(32).toString("base64url"),
      step_up_at: secondFactor ? now : null,
      step_up_method: secondFactor,
    };
    await this.deps.db.insertInto("sessions").values(row).execute();
    return { session: withAmr(row), cookieValue };
  }

  /**
   * The live session for a cookie value, or null when there is none, it was revoked, or it timed
   * out (idle or absolute). A timed-out session is marked revoked so lists stop showing it.
   */
  async resolve(tenant: Tenant, cookieValue: string): Promise<AccountSession | null> {
    // 32 bytes base64url is 43 characters; anything else cannot be ours (and is not hashed for nothing).
    if (!/^[A-Za-z0-9_-]{43}$/.test(cookieValue)) return null;
    const row = await this.deps.db
      .selectFrom("sessions")
      .selectAll()
      .where("token_hash", "=", hashSessionToken(cookieValue))
      .where("tenant_id", "=", tenant.id)
      .executeTakeFirst();
    if (!row || row.revoked_at !== null) return null;
    const now = this.deps.clock.now();
    const { idleMs } = this.timeouts(tenant);
    if (now >= row.expires_at || now - row.last_seen_at >= idleMs) {
      await this.deps.db
        .updateTable("sessions")
        .set({ revoked_at: now })
        .where("id", "=", row.id)
        .where("revoked_at", "is", null)
        .execute();
      return null;
    }
    if (now - row.last_seen_at >= TOUCH_EVERY_MS) {
      await this.deps.db
        .updateTable("sessions")
        .set({ last_seen_at: now })
        .where("id", "=", row.id)
        .execute();
      row.last_seen_at = now;
    }
    return withAmr(row);
  }

  /** The user's live sessions (not revoked, not past the absolute expiry), newest first. */
  async list(user: Pick<User, "id" | "tenant_id">): Promise<AccountSession[]> {
    const rows = await this.deps.db
      .selectFrom("sessions")
      .selectAll()
      .where("user_id", "=", user.id)
      .where("tenant_id", "=", user.tenant_id)
      .where("revoked_at", "is", null)
      .where("expires_at", ">", this.deps.clock.now())
      .orderBy("last_seen_at", "desc")
      .execute();
    return rows.map(withAmr);
  }

  /** Revokes one of the user's own sessions; false when it is not theirs or already ended. */
  async revoke(id: string, user: Pick<User, "id" | "tenant_id">): Promise<boolean> {
    const res = await this.deps.db
      .updateTable("sessions")
      .set({ revoked_at: this.deps.clock.now() })
      .where("id", "=", id)
      .where("user_id", "=", user.id)
      .where("tenant_id", "=", user.tenant_id)
      .where("revoked_at", "is", null)
      .executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  /** Revokes every live session of the user, except (optionally) the one in use. Returns how many. */
  async revokeAllFor(user: Pick<User, "id" | "tenant_id">, exceptSessionId?: string): Promise<number> {
    let q = this.deps.db
      .updateTable("sessions")
      .set({ revoked_at: this.deps.clock.now() })
      .where("user_id", "=", user.id)
      .where("tenant_id", "=", user.tenant_id)
      .where("revoked_at", "is", null);
    if (exceptSessionId !== undefined) q = q.where("id", "!=", exceptSessionId);
    const res = await q.executeTakeFirst();
    return Number(res.numUpdatedRows);
  }

  /** Records that the person just proved `methodType` (one of their existing methods) in this session. */
  async markStepUp(sessionId: string, methodType: string): Promise<void> {
    await this.deps.db
      .updateTable("sessions")
      .set({ step_up_at: this.deps.clock.now(), step_up_method: methodType })
      .where("id", "=", sessionId)
      .where("revoked_at", "is", null)
      .execute();
  }

  /** Did the person prove an existing method during this session within the last `withinMs`? */
  stepUpFresh(session: Session, withinMs: number): boolean {
    return session.step_up_at !== null && this.deps.clock.now() - session.step_up_at <= withinMs;
  }
}

export interface SessionCookieOptions {
  secure: boolean;
}

/**
 * The cookie lives as long as the browser (no Max-Age): on a shared computer, closing the browser
 * ends it; the server's timeouts end it in any case. SameSite=Lax so that a link to /account from
 * an email still finds the session; every state change is a POST with the session's CSRF token.
 */
export function setSessionCookie(reply: FastifyReply, cookieValue: string, opts: SessionCookieOptions): void {
  reply.setCookie(SESSION_COOKIE, cookieValue, {
    httpOnly: true,
    secure: opts.secure,
    sameSite: "lax",
    path: "/",
  });
}

export function clearSessionCookie(reply: FastifyReply, opts: SessionCookieOptions): void {
  reply.clearCookie(SESSION_COOKIE, { httpOnly: true, secure: opts.secure, sameSite: "lax", path: "/" });
}

export function readSessionCookie(req: FastifyRequest): string | null {
  const v = req.cookies[SESSION_COOKIE];
  return typeof v === "string" && v.length > 0 && v.length <= 100 ? v : null;
}
