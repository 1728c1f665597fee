/**
 * The agent's public keys: checked once at enrollment, and the Ed25519 signature over the server's
 * challenge checked at every authentication. Raw 32-byte keys travel base64url; node:crypto takes
 * them as an OKP JWK.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, verify } from "node:crypto";
import { authPayload } from "@latchkey/protocol";

function raw32(b64url: string): Buffer | null {
  if (!/^[A-Za-z0-9_-]{43}$/.test(b64url)) return null;
  const buf = Buffer.from(b64url, "base64url");
  // An all-zero key is what a broken key generator produces; no real key is all zeros.
  return buf.length === 32 && buf.some((b) => b !== 0) ? buf : null;
}

/** The Ed25519 public key, or null when the value is not one. */
export function ed25519PublicKey(b64url: string): KeyObject | null {
  const buf = raw32(b64url);
  if (!buf) return null;
  try {
    return createPublicKey({
      key: { kty: "OKP", crv: "Ed25519", x: buf.toString("base64url") },
      format: "jwk",
    });
  } catch {
    return null;
  }
}

/** True when the value is a usable X25519 public key (the agent's sealing key, used in issue 5). */
export function isX25519PublicKey(b64url: string): boolean {
  const buf = raw32(b64url);
  if (!buf) return false;
  try {
    createPublicKey({ key: { kty: "OKP", crv: "X25519", x: buf.toString("base64url") }, format: "jwk" });
    return true;
  } catch {
    return false;
  }
}

// Unknown agents are checked against a key no one holds, so an unknown id costs the same as a
// known one with a bad signature.
const NOBODY = generateKeyPairSync("ed25519").publicKey;
const SIGNATURE = /^[A-Za-z0-9_-]{86}$/;

/** Verifies the agent's signature over authPayload(nonce, agentId). Never throws. */
export function verifyAuthSignature(
  publicKeyB64: string | null,
  nonce: string,
  agentId: string,
  signatureB64: string,
): boolean {
  const key = (publicKeyB64 !== null ? ed25519PublicKey(publicKeyB64) : null) ?? NOBODY;
  const signature = SIGNATURE.test(signatureB64) ? Buffer.from(signatureB64, "base64url") : Buffer.alloc(64);
  try {
    const ok = verify(null, authPayload(nonce, agentId), key, signature);
    return ok && key !== NOBODY && SIGNATURE.test(signatureB64);
  } catch {
    return false;
  }
}
