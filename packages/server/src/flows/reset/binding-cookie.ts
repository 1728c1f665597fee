/**
 * The cookie that binds a reset flow to one browser: "<flowId>.<binding secret>". Only the
 * SHA-256 of the secret is stored, so a database reader cannot take over a flow.
 */
import type {} from "@fastify/cookie";
import type { FastifyReply, FastifyRequest } from "fastify";

export const RESET_COOKIE = "lk_reset";

export interface CookieOptions {
  secure: boolean;
  maxAgeSeconds: number;
}

export function readBinding(req: FastifyRequest): { flowId: string; binding: string } | null {
  const raw = req.cookies[RESET_COOKIE];
  if (!raw) return null;
  const dot = raw.indexOf(".");
  if (dot < 1 || dot > 64 || raw.length > 200) return null;
  return { flowId: raw.slice(0, dot), binding: raw.slice(dot + 1) };
}

export function setBinding(reply: FastifyReply, flowId: string, binding: string, opts: CookieOptions): void {
  reply.setCookie(RESET_COOKIE, `${flowId}.${binding}`, {
    httpOnly: true,
    secure: opts.secure,
    sameSite: "strict",
    path: "/",
    maxAge: opts.maxAgeSeconds,
  });
}

export function clearBinding(reply: FastifyReply, opts: CookieOptions): void {
  reply.clearCookie(RESET_COOKIE, { httpOnly: true, secure: opts.secure, sameSite: "strict", path: "/" });
}
