/**
 * Who the WebAuthn relying party is: its RP ID (a domain, never an IP address — browsers refuse
 * those) and the origin the browser must report. With `server.publicUrl` configured, that URL is
 * the only relying party. Without it, the relying party is the origin the browser used (Host
 * header), so a development server or a test on http://localhost:<random port> works. That fallback
 * does not weaken a passkey: the browser binds a credential to the RP ID it was made for and writes
 * the page's real origin into what the authenticator signs, so a request carrying a forged Host
 * cannot make one of our passkeys answer for another site. Production sets publicUrl all the same,
 * so that every passkey is made for one name.
 */
import type { FastifyRequest } from "fastify";

export interface RelyingParty {
  /** e.g. "reset.example.com" */
  rpId: string;
  /** e.g. "https://reset.example.com" (scheme, host and port; no path). */
  origin: string;
}

/** The relying party of a URL, or null when the URL has no host a browser accepts as an RP ID. */
export function relyingPartyOf(url: string): RelyingParty | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  if (u.protocol !== "https:" && u.protocol !== "http:") return null;
  const host = u.hostname;
  // IPv4 and bracketed IPv6 literals cannot be RP IDs.
  if (host === "" || /^\d+\.\d+\.\d+\.\d+$/.test(host) || host.startsWith("[")) return null;
  return { rpId: host, origin: u.origin };
}

/** Resolves the relying party for a request: the configured public URL, or the request's own origin. */
export type RelyingPartyResolver = (req: FastifyRequest) => RelyingParty | null;

export function relyingPartyResolver(publicUrl: string | null): RelyingPartyResolver {
  const fixed = publicUrl ? relyingPartyOf(publicUrl) : null;
  if (publicUrl && !fixed) {
    // A configured URL that cannot be an RP ID (an IP address): passkeys are unavailable, stated once.
    return () => null;
  }
  return (req) => fixed ?? relyingPartyOf(`${req.protocol}://${req.host}`);
}
