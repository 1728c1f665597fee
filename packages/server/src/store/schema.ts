/**
 * The one store schema, shared by SQLite and PostgreSQL.
 *
 * Portable conventions (so the same queries run on both engines):
 * - ids are text (128-bit random, base64url);
 * - times are integers, milliseconds since the epoch (bigint on PostgreSQL, parsed back to number);
 * - booleans are integers 0/1;
 * - structured values are JSON text.
 * Every row carries its tenant.
 */
import type { Generated, Insertable, Selectable, Updateable } from "kysely";

export type Bool = 0 | 1;

export interface TenantsTable {
  id: string;
  slug: string;
  name: string;
  /** JSON: policy, methods, branding, notifications (see config/tenant-settings.ts). */
  settings_json: string;
  created_at: number;
  updated_at: number;
}

export interface UsersTable {
  id: string;
  tenant_id: string;
  /** 'cloud': Latchkey holds the password; 'synced': it lives in a directory and the agent writes it. */
  kind: "cloud" | "synced";
  /** Account name (sAMAccountName / uid), lower-cased for lookup. */
  username: string;
  upn: string | null;
  email: string | null;
  display_name: string | null;
  given_name: string | null;
  surname: string | null;
  mobile: string | null;
  office_phone: string | null;
  enabled: Bool;
  /** Locked in the directory (or by an admin for cloud accounts). */
  locked: Bool;
  is_admin: Bool;
  in_scope: Bool;
  /** objectGUID / entryUUID for synced users. */
  source_anchor: string | null;
  directory_id: string | null;
  /** argon2id PHC string, cloud accounts only. */
  password_hash: string | null;
  password_changed_at: number | null;
  created_at: number;
  updated_at: number;
  /**
   * (002) When the user disappeared from its directory (a full sync pass did not see it, or the
   * agent reported it deleted). The row is kept so audit records keep their target; everything
   * else treats a deleted user as unknown. Null for live users.
   */
  deleted_at: number | null;
  /** (002) When the directory says the password expires; null when it never does or is unknown. */
  password_expires_at: number | null;
  /** (002) The id of the last full sync pass that saw this synced user. */
  last_full_sync_id: string | null;
  /** (003) When the user last confirmed that their verification methods are still right. */
  methods_reviewed_at: number | null;
}

export interface PasswordHistoryTable {
  id: string;
  tenant_id: string;
  user_id: string;
  password_hash: string;
  created_at: number;
}

export interface AuthMethodsTable {
  id: string;
  tenant_id: string;
  user_id: string;
  /** 'email' | 'sms' | 'voice' | 'totp' | 'questions' | 'passkey' */
  type: string;
  /** What may be shown (masked where the policy says so). */
  label: string | null;
  /**
   * JSON owned by the method: for email/sms/voice the address or number; for totp the secret
   * sealed with the data key; for questions the question ids and argon2id hashes of the answers.
   * Never a plaintext secret.
   */
  data_json: string;
  /** Null until the user confirmed it once (directory-provided contacts start unconfirmed). */
  confirmed_at: number | null;
  last_used_at: number | null;
  created_at: number;
}

export interface FlowsTable {
  id: string;
  tenant_id: string;
  /** 'reset' | 'change' | 'registration' | 'unlock' */
  type: string;
  state: string;
  /** Null for a phantom flow (unknown user name): it does the same work but can never succeed. */
  user_id: string | null;
  phantom: Bool;
  /** SHA-256 of the browser-binding cookie value. */
  binding_hash: string;
  csrf_token: string;
  /** JSON array of method types whose gate was passed. */
  gates_passed_json: string;
  /** JSON object: flow-internal context (never secrets). */
  context_json: string;
  attempts: number;
  created_at: number;
  updated_at: number;
  expires_at: number;
}

export interface ChallengesTable {
  id: string;
  tenant_id: string;
  flow_id: string;
  user_id: string | null;
  method_type: string;
  /** HMAC-SHA256 of the code under the server key, hex. Null where the method holds no code (questions). */
  code_hmac: string | null;
  /** JSON: method-specific public data (e.g. which question ids were asked). */
  data_json: string;
  attempts: number;
  expires_at: number;
  used_at: number | null;
  created_at: number;
}

export interface ThrottleCountersTable {
  tenant_id: string;
  /** e.g. 'verify:<user>:<method>', 'email:<user>', 'identity:<user>', 'ip:<ip>:identify'. */
  key: string;
  window_start: number;
  count: number;
  locked_until: number | null;
}

export interface AuditEventsTable {
  id: string;
  tenant_id: string;
  occurred_at: number;
  /** noun.past_verb, from the catalogue in audit/catalogue.ts */
  event: string;
  actor: string | null;
  target: string | null;
  ip: string | null;
  user_agent: string | null;
  result: "success" | "failure" | "info";
  reason: string | null;
  flow_id: string | null;
  /** JSON, never a secret. */
  details_json: string;
}

export interface AgentsTable {
  id: string;
  tenant_id: string;
  name: string;
  directory_id: string | null;
  /** base64url raw public keys */
  x25519_public: string;
  ed25519_public: string;
  version: string | null;
  enrolled_at: number;
  revoked_at: number | null;
  /** Written at most every 30 s while the link is up (directory-link/liveness.ts). */
  last_heartbeat_at: number | null;
  /** (002) JSON array of the DirectoryInfo the agent announced at its last authentication. */
  directories_json: Generated<string>;
  /** (002) Id of the server instance holding the agent's live link; null once it closed. */
  link_instance: string | null;
  /** (002) When the current (or last) link was authenticated. */
  link_connected_at: number | null;
}

export interface AgentEnrollmentTokensTable {
  id: string;
  tenant_id: string;
  token_hash: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  /** (002) The directory the enrolled agent is bound to; null: any directory it announces. */
  directory_id: string | null;
}

/** (002) One sync pass of one directory: its batches apply once and in order (see sync/ingest.ts). */
export interface SyncPassesTable {
  tenant_id: string;
  directory_id: string;
  sync_id: string;
  agent_id: string;
  full: Bool;
  /** The seq the next new batch must carry; a lower one is a resend and is acknowledged again. */
  next_seq: number;
  upserted: number;
  removed: number;
  rejected: number;
  started_at: number;
  updated_at: number;
  completed_at: number | null;
}

export interface WritebackOperationsTable {
  id: string;
  tenant_id: string;
  /** 'reset' | 'change' | 'unlock' | 'verify-password' */
  type: string;
  user_id: string;
  target_anchor: string;
  directory_id: string | null;
  agent_id: string | null;
  /** 'queued' | 'claimed' | 'succeeded' | 'failed' | 'pending_notify' */
  state: string;
  /** HPKE-sealed secret; deleted (set null) when the operation is answered. */
  sealed_payload: string | null;
  result_code: string | null;
  attempts: number;
  created_at: number;
  updated_at: number;
  completed_at: number | null;
  /** (007) The current attempt's hand-off: 'queued' | 'claimed' | 'answered' | 'lost' | null. */
  attempt_state: Generated<string | null>;
  /** (007) The instance that claimed the current attempt (the one holding the agent's link). */
  claimed_by: Generated<string | null>;
  /** (007) The current attempt's op.request JSON without its sealed payload (no secret). */
  attempt_request: Generated<string | null>;
  /** (007) What the link holder wrote for the submitter: the op.result or the loss, as JSON. */
  attempt_result: Generated<string | null>;
}

export interface OutboxTable {
  id: string;
  tenant_id: string;
  /** 'email' | 'sms' | 'voice' */
  channel: string;
  /** Template id, e.g. 'verification.code', 'password.reset'. */
  template: string;
  /**
   * AES-256-GCM sealed JSON {to, subject?, text, html?} under the data key: a message may hold a
   * code, and no code is plaintext at rest. Wiped (null) once sent.
   */
  payload_sealed: string | null;
  state: "queued" | "sending" | "sent" | "failed";
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  created_at: number;
  sent_at: number | null;
}

export interface SessionsTable {
  id: string;
  tenant_id: string;
  user_id: string;
  /** SHA-256 of the session cookie value. */
  token_hash: string;
  ip: string | null;
  user_agent: string | null;
  created_at: number;
  last_seen_at: number;
  /** Absolute expiry (created_at + the tenant's sessionAbsoluteHours); idle expiry is last_seen_at based. */
  expires_at: number;
  revoked_at: number | null;
  /** (003) JSON array of how the person signed in, e.g. ["pwd"], ["pwd","totp"] (RFC 8176 style). */
  amr_json: Generated<string>;
  /** (003) The session's anti-forgery token (random, not a secret that unlocks anything by itself). */
  csrf_token: Generated<string>;
  /** (003) When the person last proved an existing verification method during this session. */
  step_up_at: number | null;
  /** (003) Which method that proof used. */
  step_up_method: string | null;
}

export interface Database {
  tenants: TenantsTable;
  users: UsersTable;
  password_history: PasswordHistoryTable;
  auth_methods: AuthMethodsTable;
  flows: FlowsTable;
  challenges: ChallengesTable;
  throttle_counters: ThrottleCountersTable;
  audit_events: AuditEventsTable;
  agents: AgentsTable;
  agent_enrollment_tokens: AgentEnrollmentTokensTable;
  sync_passes: SyncPassesTable;
  writeback_operations: WritebackOperationsTable;
  outbox: OutboxTable;
  sessions: SessionsTable;
  latchkey_meta: { key: string; value: string };
}

export type Tenant = Selectable<TenantsTable>;
/** Columns added to users after 001: the store always returns them. */
type UserColumnsSince002 = "deleted_at" | "password_expires_at" | "last_full_sync_id" | "methods_reviewed_at";
/**
 * A user row. The columns added after 001 are optional here, so a row built in code before they
 * existed (test fixtures) still type-checks; rows read from the store always carry them.
 */
export type User = Omit<Selectable<UsersTable>, UserColumnsSince002> &
  Partial<Pick<Selectable<UsersTable>, UserColumnsSince002>>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type AuthMethod = Selectable<AuthMethodsTable>;
export type Flow = Selectable<FlowsTable>;
export type Challenge = Selectable<ChallengesTable>;
export type AuditEvent = Selectable<AuditEventsTable>;
export type OutboxMessage = Selectable<OutboxTable>;
export type Session = Selectable<SessionsTable>;
export type Agent = Selectable<AgentsTable>;
export type SyncPass = Selectable<SyncPassesTable>;
// Generated is re-exported for tables that may add serial columns later.
export type { Generated };
