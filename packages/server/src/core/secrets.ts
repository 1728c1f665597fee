/**
 * The server's two symmetric keys and the only code that uses them.
 * - hmacKey: codes are stored as HMAC-SHA256(hmacKey, purpose ‖ code), never plain;
 * - dataKey: AES-256-GCM for values that must be readable later (TOTP secrets, outbox messages).
 * Both come from the configuration (a file or the environment); demo mode derives throwaway ones.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export interface ServerSecrets {
  hmacKey: Buffer;
  dataKey: Buffer;
}

export function hmacHex(secrets: ServerSecrets, purpose: string, value: string): string {
  return createHmac("sha256", secrets.hmacKey).update(purpose).update("\u0000").update(value).digest("hex");
}

/** Constant-time comparison of two hex/base64 strings of any length. */
export function safeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  // Compare equal-length buffers so the time does not depend on where they differ; length is not secret here.
  if (ab.length !== bb.length) {
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

/** AES-256-GCM; output is base64url(iv ‖ tag ‖ ciphertext). `aad` binds the value to its place. */
export function sealData(secrets: ServerSecrets, plaintext: string, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", secrets.dataKey, iv);
  cipher.setAAD(Buffer.from(aad));
  const ct = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString("base64url");
}

export function openData(secrets: ServerSecrets, sealed: string, aad: string): string {
  const buf = Buffer.from(sealed, "base64url");
  const decipher = createDecipheriv("aes-256-gcm", secrets.dataKey, buf.subarray(0, 12));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(buf.subarray(12, 28));
  return Buffer.concat([decipher.update(buf.subarray(28)), decipher.final()]).toString("utf8");
}

/** Throwaway keys for demo mode and tests. */
export function randomSecrets(): ServerSecrets {
  return { hmacKey: randomBytes(32), dataKey: randomBytes(32) };
}
