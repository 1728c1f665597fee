/**
 * The server's URLs as the agent uses them. The agent only dials out: https:// for enrollment and
 * wss:// for the link. Plain http:// and ws:// are accepted for a loopback host (a server on the
 * same machine, tests) or when the operator passes --allow-insecure-link explicitly.
 */
import { isIP } from "node:net";
import { AGENT_ENROLL_PATH } from "@latchkey/protocol";

export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || (isIP(h) === 4 && h.startsWith("127."));
}

export class InsecureUrlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InsecureUrlError";
  }
}

/**
 * Parses and checks a server URL (http(s) or ws(s)). Throws InsecureUrlError for a plain scheme
 * to a host that is not loopback unless `allowInsecure`, and for any other scheme.
 */
export function checkServerUrl(url: string, allowInsecure = false): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new InsecureUrlError(`${JSON.stringify(url)} is not a URL; give the server's https:// URL`);
  }
  if (u.username || u.password) throw new InsecureUrlError("the server URL must not carry credentials");
  const secure = u.protocol === "https:" || u.protocol === "wss:";
  const plain = u.protocol === "http:" || u.protocol === "ws:";
  if (!secure && !plain) throw new InsecureUrlError(`${u.protocol} is not supported; use https://`);
  if (plain && !allowInsecure && !isLoopbackHost(u.hostname))
    throw new InsecureUrlError(
      `refusing plain ${u.protocol}// to ${u.hostname}: use https:// (plain is allowed only to a loopback host or with --allow-insecure-link)`,
    );
  return u;
}

function join(base: URL, path: string): URL {
  const u = new URL(base.href);
  u.pathname = `${u.pathname.replace(/\/+$/, "")}${path.startsWith("/") ? path : `/${path}`}`;
  u.search = "";
  u.hash = "";
  return u;
}

/** https://host[/prefix] + /api/v1/agents/enroll (a path prefix of the server URL is kept). */
export function enrollUrl(server: URL): URL {
  const u = join(server, AGENT_ENROLL_PATH);
  if (u.protocol === "wss:") u.protocol = "https:";
  if (u.protocol === "ws:") u.protocol = "http:";
  return u;
}

/** wss://host[/prefix] + the link path the server gave at enrollment. */
export function linkUrl(server: URL, linkPath: string): URL {
  const u = join(server, linkPath);
  if (u.protocol === "https:") u.protocol = "wss:";
  if (u.protocol === "http:") u.protocol = "ws:";
  return u;
}
