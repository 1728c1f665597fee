/**
 * The agent's identity: an Ed25519 key pair (it signs the server's challenge) and an X25519 key pair
 * (the server seals password operations to it). Both are made by `enroll` and kept in one JSON key
 * file that only the agent's user may read (mode 0600; a file readable by group or others is refused).
 * The private halves never leave this file and this process; only the public halves are sent.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { createPending, type PendingFile, secretFileProblem } from "../fs-atomic.js";

export const KEY_FILE_FORMAT = "latchkey-agent-key/1";

const raw32 = z.string().regex(/^[A-Za-z0-9_-]{43}$/, "must be 32 bytes, base64url");
const keyPair = z.strictObject({ public: raw32, private: raw32 });

export const keyFileSchema = z.strictObject({
  format: z.literal(KEY_FILE_FORMAT),
  agentId: z.string().min(1).max(64),
  tenantId: z.string().min(1).max(64),
  name: z.string().min(1).max(100),
  /** The server the agent enrolled with (https://…). */
  server: z.string().url(),
  linkPath: z.string().min(1).max(200),
  enrolledAt: z.string(),
  ed25519: keyPair,
  x25519: keyPair,
});
export type KeyFileContent = z.infer<typeof keyFileSchema>;

/** Freshly generated key pairs, raw 32-byte halves in base64url (JWK `x` and `d`). */
export interface AgentKeyPairs {
  ed25519: { public: string; private: string };
  x25519: { public: string; private: string };
}

function rawPair(kind: "ed25519" | "x25519"): { public: string; private: string } {
  const { privateKey } = kind === "ed25519" ? generateKeyPairSync("ed25519") : generateKeyPairSync("x25519");
  const jwk = privateKey.export({ format: "jwk" });
  if (typeof jwk.x !== "string" || typeof jwk.d !== "string") throw new Error(`${kind}: no raw key in JWK`);
  return { public: jwk.x, private: jwk.d };
}

export function generateAgentKeys(): AgentKeyPairs {
  return { ed25519: rawPair("ed25519"), x25519: rawPair("x25519") };
}

/** A key file that could not be used. The message names the file and the fix, never a key. */
export class KeyFileError extends Error {
  constructor(
    message: string,
    readonly reason: "missing" | "permissions" | "invalid" | "exists",
  ) {
    super(message);
    this.name = "KeyFileError";
  }
}

/** The loaded identity, with ready-to-use key objects. */
export interface AgentIdentity {
  content: KeyFileContent;
  signingKey: KeyObject;
  sealingKey: KeyObject;
}

function okpPrivate(crv: "Ed25519" | "X25519", pair: { public: string; private: string }): KeyObject {
  return createPrivateKey({ key: { kty: "OKP", crv, x: pair.public, d: pair.private }, format: "jwk" });
}

/** Whether the private half matches the public half (a corrupted or hand-edited file is refused). */
function consistent(key: KeyObject, publicX: string): boolean {
  const jwk = createPublicKey(key).export({ format: "jwk" });
  return jwk.x === publicX;
}

/** Loads and checks the key file: mode 0600, the schema, and each private key against its public half. */
export function readKeyFile(path: string): AgentIdentity {
  if (!existsSync(path))
    throw new KeyFileError(
      `the key file ${path} does not exist: enroll first (latchkey-agent enroll --server URL --token T)`,
      "missing",
    );
  const problem = secretFileProblem(path);
  if (problem) throw new KeyFileError(`refusing the key file: ${problem}`, "permissions");
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, "utf8"));
  } catch {
    throw new KeyFileError(`the key file ${path} is not valid JSON`, "invalid");
  }
  const parsed = keyFileSchema.safeParse(data);
  if (!parsed.success) {
    const where = parsed.error.issues[0]?.path.join(".") ?? "";
    throw new KeyFileError(`the key file ${path} is invalid at ${where || "(root)"}`, "invalid");
  }
  const content = parsed.data;
  let signingKey: KeyObject;
  let sealingKey: KeyObject;
  try {
    signingKey = okpPrivate("Ed25519", content.ed25519);
    sealingKey = okpPrivate("X25519", content.x25519);
  } catch {
    throw new KeyFileError(`the key file ${path} holds keys that do not load`, "invalid");
  }
  if (!consistent(signingKey, content.ed25519.public) || !consistent(sealingKey, content.x25519.public))
    throw new KeyFileError(
      `the key file ${path} holds private keys that do not match their public halves`,
      "invalid",
    );
  return { content, signingKey, sealingKey };
}

/**
 * Starts writing a key file: refuses an existing one (unless `force`), then creates the temporary
 * file (mode 0600) at once, so an unwritable directory is found before anything is sent to the server.
 */
export function beginKeyFile(path: string, opts: { force?: boolean } = {}): PendingFile {
  if (existsSync(path) && !opts.force)
    throw new KeyFileError(
      `the key file ${path} already exists: this agent is enrolled; pass --force to replace it (the old identity stops working)`,
      "exists",
    );
  try {
    return createPending(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "error";
    throw new KeyFileError(`cannot create the key file ${path} (${code})`, "invalid");
  }
}

export function serializeKeyFile(content: KeyFileContent): string {
  return `${JSON.stringify(keyFileSchema.parse(content), null, 2)}\n`;
}
