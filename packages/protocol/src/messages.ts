/**
 * Messages between agent and server, one zod schema each, validated at both ends. Every message is
 * a JSON object with the protocol version `v`, a message `id` and a `type`. A message that fails
 * validation is answered with an `error` message (MALFORMED_MESSAGE / UNKNOWN_MESSAGE) and logged;
 * it never crashes either side.
 */
import { z } from "zod";
import { DIRECTORY_ERROR_CODES } from "./directory-errors.js";
import { PROTOCOL_VERSION } from "./version.js";
import { WIRE_ERROR_CODES } from "./wire-errors.js";

const id = z.string().min(1).max(64);
const b64url = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/)
  .max(4096);
const shortText = z.string().max(512);
const envelope = { v: z.literal(PROTOCOL_VERSION), id };

export const DIALECTS = ["ad", "openldap"] as const;
export type Dialect = (typeof DIALECTS)[number];

/** One user as the agent read it from the directory. */
export const syncedUserSchema = z.object({
  /** objectGUID (AD) or entryUUID (OpenLDAP), as a lower-case UUID string. */
  anchor: z.string().min(1).max(64),
  dn: z.string().min(1).max(1024),
  username: z.string().min(1).max(256),
  upn: z.string().max(256).nullable(),
  displayName: shortText.nullable(),
  givenName: shortText.nullable(),
  surname: shortText.nullable(),
  mail: z.string().max(320).nullable(),
  mobile: z.string().max(64).nullable(),
  telephoneNumber: z.string().max(64).nullable(),
  enabled: z.boolean(),
  locked: z.boolean(),
  inScope: z.boolean(),
  isAdmin: z.boolean(),
  /** Epoch ms of the last password change; null when unknown or never. */
  passwordLastSet: z.number().int().nullable(),
  /** Epoch ms when the password expires; null when it never does or it is unknown. */
  passwordExpiresAt: z.number().int().nullable(),
});
export type SyncedUser = z.infer<typeof syncedUserSchema>;

export const directoryInfoSchema = z.object({
  id: z.string().min(1).max(40),
  dialect: z.enum(DIALECTS),
  /** What the RootDSE said, for the admin's eyes (vendor, naming context). */
  description: shortText,
});
export type DirectoryInfo = z.infer<typeof directoryInfoSchema>;

// ——— password operations (issue 5) ———

export const OPERATION_KINDS = ["reset", "change", "unlock", "verify-password"] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

/**
 * Server → agent: apply one operation. Secrets travel only inside `sealed` (HPKE to the agent's
 * X25519 key, see sealing.ts), whose associated data binds it to opId, kind, tenant and anchor.
 * Sealed plaintext: JSON { newPassword?, oldPassword?, password? } by kind.
 */
export const opRequestMessage = z.object({
  ...envelope,
  type: z.literal("op.request"),
  opId: id,
  kind: z.enum(OPERATION_KINDS),
  tenantId: id,
  directoryId: z.string().min(1).max(40),
  anchor: z.string().min(1).max(64),
  /** The DN the agent last synced for this anchor (a hint: the agent re-resolves by anchor). */
  dn: z.string().max(1024).nullable(),
  options: z
    .object({
      /** Reset: also unlock the account (AD resets do not unlock). */
      unlock: z.boolean().default(false),
      /** Reset: the user must change the password at next logon. */
      mustChange: z.boolean().default(false),
    })
    .prefault({}),
  sealed: b64url.nullable(),
  /** Epoch ms after which the agent must not start the operation. */
  deadline: z.number().int(),
});

const ms = z.number().min(0).max(86_400_000);
/** The agent's measured durations for one operation (op.result `timings`). */
export const opTimingsSchema = z.object({
  /** Opening the sealed secrets (0 for unlock, which has none). */
  openMs: ms,
  /** Resolving the anchor to the user's entry (0 when the DN came from the agent's cache). */
  lookupMs: ms,
  /** The directory write (or bind) and its follow-up writes. */
  directoryMs: ms,
});
export type OpTimings = z.infer<typeof opTimingsSchema>;

/** Agent → server: what happened. `applied` tells whether the directory's state changed. */
export const opResultMessage = z.object({
  ...envelope,
  type: z.literal("op.result"),
  opId: id,
  outcome: z.enum(["applied", "refused", "failed"]),
  applied: z.boolean(),
  code: z.enum(DIRECTORY_ERROR_CODES as [string, ...string[]]).nullable(),
  /** The directory's raw diagnostic, for the audit log only (never shown, never a secret). */
  diagnostic: z.string().max(512).nullable(),
  /** Answered from the agent's memory of recent results (the same opId seen again). */
  fromCache: z.boolean(),
  /**
   * Where the agent's time went, in milliseconds (for the per-flow timeline): opening the seal, the
   * anchor → DN lookup, and the directory write itself. Absent from older agents and on an answer
   * from memory (nothing was measured). Never a secret: durations only.
   */
  timings: opTimingsSchema.optional(),
});
export type OpRequest = z.infer<typeof opRequestMessage>;
export type OpResult = z.infer<typeof opResultMessage>;

// ——— agent → server ———

export const helloMessage = z.object({
  ...envelope,
  type: z.literal("hello"),
  agentId: id,
  version: z.string().min(1).max(40),
});

export const authMessage = z.object({
  ...envelope,
  type: z.literal("auth"),
  agentId: id,
  /** Ed25519 signature over authPayload(challenge, agentId), base64url. */
  signature: b64url,
  directories: z.array(directoryInfoSchema).max(50),
});

export const heartbeatMessage = z.object({
  ...envelope,
  type: z.literal("heartbeat"),
  at: z.number().int(),
});

export const syncBatchMessage = z.object({
  ...envelope,
  type: z.literal("sync.batch"),
  directoryId: z.string().min(1).max(40),
  /** One sync pass; its batches share the id. */
  syncId: id,
  /** A full pass: when it ends (final), users of this directory not seen in it are removed. */
  full: z.boolean(),
  seq: z.number().int().min(0),
  final: z.boolean(),
  users: z.array(syncedUserSchema).max(1000),
  /** Anchors deleted in the directory (incremental passes). */
  deleted: z.array(z.string().min(1).max(64)).max(10_000),
});

export const errorMessage = z.object({
  ...envelope,
  type: z.literal("error"),
  code: z.enum(WIRE_ERROR_CODES as [string, ...string[]]),
  message: shortText,
  inReplyTo: id.optional(),
});

export const agentMessageSchema = z.discriminatedUnion("type", [
  helloMessage,
  authMessage,
  heartbeatMessage,
  syncBatchMessage,
  opResultMessage,
  errorMessage,
]);
export type AgentMessage = z.infer<typeof agentMessageSchema>;

// ——— server → agent ———

export const challengeMessage = z.object({
  ...envelope,
  type: z.literal("challenge"),
  /** 32 random bytes, base64url; the agent signs it with its Ed25519 key. */
  nonce: b64url,
  serverTime: z.number().int(),
});

export const welcomeMessage = z.object({
  ...envelope,
  type: z.literal("welcome"),
  agentId: id,
  heartbeatIntervalMs: z.number().int().min(1000).max(300_000),
  /**
   * The ids of the directories (from the agent's `auth`) the server accepts this agent for; sync
   * batches for any other directory are refused. Absent from servers that predate it.
   */
  directories: z.array(z.string().min(1).max(40)).max(50).optional(),
});

/**
 * One user of a batch the server refused, and why. Known reasons: `username_taken_cloud` (a cloud
 * account holds the name), `username_taken` (another live synced account holds it),
 * `invalid_username` (empty once normalised), `duplicate_anchor` (twice in one batch). A string,
 * not an enum, so a newer server's reason does not make an older agent reject the whole ack.
 */
export const syncRejectedEntrySchema = z.object({
  anchor: z.string().min(1).max(64),
  reason: z.string().min(1).max(64),
});
export type SyncRejectedEntry = z.infer<typeof syncRejectedEntrySchema>;

export const syncAckMessage = z.object({
  ...envelope,
  type: z.literal("sync.ack"),
  syncId: id,
  seq: z.number().int().min(0),
  upserted: z.number().int().min(0),
  removed: z.number().int().min(0),
  /** Users of the batch that were not stored (the rest were). Absent or empty when none. */
  rejected: z.array(syncRejectedEntrySchema).max(1000).optional(),
});

export const syncRequestMessage = z.object({
  ...envelope,
  type: z.literal("sync.request"),
  full: z.boolean(),
});

export const serverMessageSchema = z.discriminatedUnion("type", [
  challengeMessage,
  welcomeMessage,
  syncAckMessage,
  syncRequestMessage,
  opRequestMessage,
  errorMessage,
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;

export type ParseResult<T> =
  | { ok: true; message: T }
  | {
      ok: false;
      code: "MALFORMED_MESSAGE" | "UNKNOWN_MESSAGE" | "PROTOCOL_VERSION";
      detail: string;
      id?: string;
    };

function parseWith<T>(schema: z.ZodType<T>, known: readonly string[], raw: string | Buffer): ParseResult<T> {
  let data: unknown;
  try {
    data = JSON.parse(typeof raw === "string" ? raw : raw.toString("utf8"));
  } catch {
    return { ok: false, code: "MALFORMED_MESSAGE", detail: "not JSON" };
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    return { ok: false, code: "MALFORMED_MESSAGE", detail: "not an object" };
  }
  const obj = data as Record<string, unknown>;
  const msgId = typeof obj.id === "string" && obj.id.length <= 64 ? obj.id : undefined;
  if (obj.v !== PROTOCOL_VERSION) {
    return {
      ok: false,
      code: "PROTOCOL_VERSION",
      detail: `v=${String(obj.v)}`,
      ...(msgId ? { id: msgId } : {}),
    };
  }
  if (typeof obj.type !== "string" || !known.includes(obj.type)) {
    return {
      ok: false,
      code: "UNKNOWN_MESSAGE",
      detail: `type=${String(obj.type).slice(0, 40)}`,
      ...(msgId ? { id: msgId } : {}),
    };
  }
  const r = schema.safeParse(obj);
  if (!r.success) {
    const path = r.error.issues[0]?.path.join(".") ?? "";
    return {
      ok: false,
      code: "MALFORMED_MESSAGE",
      detail: `invalid ${path}`,
      ...(msgId ? { id: msgId } : {}),
    };
  }
  return { ok: true, message: r.data };
}

const AGENT_TYPES = ["hello", "auth", "heartbeat", "sync.batch", "op.result", "error"] as const;
const SERVER_TYPES = ["challenge", "welcome", "sync.ack", "sync.request", "op.request", "error"] as const;

/** Parses what the server received from an agent. Never throws. */
export function parseAgentMessage(raw: string | Buffer): ParseResult<AgentMessage> {
  return parseWith(agentMessageSchema, AGENT_TYPES, raw);
}

/** Parses what an agent received from the server. Never throws. */
export function parseServerMessage(raw: string | Buffer): ParseResult<ServerMessage> {
  return parseWith(serverMessageSchema, SERVER_TYPES, raw);
}

/** The exact bytes an agent signs to answer a challenge: domain-separated, bound to its id. */
export function authPayload(nonce: string, agentId: string): Buffer {
  return Buffer.from(`latchkey-agent-auth-v1\u0000${agentId}\u0000${nonce}`, "utf8");
}

// ——— enrollment (HTTP) ———

export const enrollRequestSchema = z.object({
  token: z.string().min(16).max(200),
  name: z.string().min(1).max(100),
  version: z.string().min(1).max(40),
  /** Raw 32-byte public keys, base64url. */
  x25519Public: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  ed25519Public: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
});
export type EnrollRequest = z.infer<typeof enrollRequestSchema>;

export const enrollResponseSchema = z.object({
  agentId: id,
  tenantId: id,
  linkPath: z.string().min(1).max(200),
});
export type EnrollResponse = z.infer<typeof enrollResponseSchema>;
