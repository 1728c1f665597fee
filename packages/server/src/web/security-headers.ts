/**
 * The response headers every portal page carries, above all the Content-Security-Policy: no inline
 * script or style, no third-party host, no framing. Pages are sent with sendPage() so no route can forget
 * them. Workers (the captcha's proof of work) fall back to script-src 'self'; fetch to connect 'self'.
 */
import type { FastifyReply } from "fastify";

export const CSP_DIRECTIVES = {
  "default-src": ["'self'"],
  "script-src": ["'self'"],
  "style-src": ["'self'"],
  "img-src": ["'self'", "data:"],
  "object-src": ["'none'"],
  "frame-ancestors": ["'none'"],
  "base-uri": ["'none'"],
  "form-action": ["'self'"],
} as const;

export const CONTENT_SECURITY_POLICY = Object.entries(CSP_DIRECTIVES)
  .map(([name, values]) => `${name} ${values.join(" ")}`)
  .join("; ");

/** Headers for an HTML page. Pages hold flow state and CSRF tokens, so nothing may cache them. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "text/html; charset=utf-8",
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cache-control": "no-store",
  "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=()",
};

/** Sends a rendered page with PAGE_HEADERS and the given status. */
export function sendPage(reply: FastifyReply, page: string, status = 200): FastifyReply {
  return reply.code(status).headers(PAGE_HEADERS).send(page);
}
