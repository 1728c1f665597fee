/**
 * Persistence of registration flows as rows of the shared `flows` table (type "registration").
 * A registration flow belongs to one signed-in session: binding_hash is the SHA-256 of the session
 * id, so the flow id alone (it rides in the URL) is useless to anybody else, and signing out ends
 * every flow of the session. Every step reads its flow through `load`, which checks tenant, user,
 * session, expiry and the allowed states in one place.
 */
import type { Kysely } from "kysely";
import type { MethodType } from "../../config/tenant-settings.js";
import type { Clock } from "../../core/clock.js";
import { LatchkeyError } from "../../core/errors.js";
import { newId, type Random } from "../../core/random.js";
import { safeEqual } from "../../core/secrets.js";
import type { ChallengePrompt } from "../../methods/types.js";
import type { Database, Flow } from "../../store/schema.js";
import { hashBinding } from "../reset/flow-repository.js";
import { canTransition, isRegistrationState, type RegistrationState } from "./states.js";

export const FLOW_TYPE = "registration";

export type RegistrationAction = "add" | "confirm" | "remove";

/** Where a directory-provided contact came from (users columns), for "confirm". */
export type DirectorySource = "email" | "mobile" | "office_phone";

/** Internal, non-secret context (the pending TOTP secret is sealed under the data key). */
export interface RegistrationContext {
  action: RegistrationAction;
  method: MethodType;
  /** remove: the auth_methods row; confirm: an unconfirmed row, when the contact has one. */
  methodId?: string;
  /** confirm: the users column the contact came from, when it has no row yet. */
  source?: DirectorySource;
  /** The step-up challenge in progress. */
  stepUp?: { challengeId: string; method: MethodType; prompt: ChallengePrompt };
  /** email/sms/voice: the normalised contact a code was sent to. */
  contact?: string;
  /** The confirmation code's challenge (email/sms/voice) and what the page shows about it. */
  code?: { challengeId: string; prompt: ChallengePrompt };
  /** totp: the pending secret, sealed with aad `registration-totp:<flowId>`. */
  totpSealed?: string;
  /** passkey: the name given, the ceremony's challenge and options, the relying party. */
  passkey?: { name: string; challenge: string; options: unknown; rpId: string; origin: string };
  /** completed: what was saved or removed. */
  result?: { methodId: string; label: string | null };
}

export interface RegistrationFlow {
  id: string;
  tenantId: string;
  userId: string;
  state: RegistrationState;
  context: RegistrationContext;
  attempts: number;
  createdAt: number;
  expiresAt: number;
}

function fromRow(row: Flow): RegistrationFlow {
  if (!isRegistrationState(row.state))
    throw new LatchkeyError("INTERNAL", `flow ${row.id} has unknown state`);
  return {
    id: row.id,
    tenantId: row.tenant_id,
    userId: row.user_id ?? "",
    state: row.state,
    context: JSON.parse(row.context_json) as RegistrationContext,
    attempts: row.attempts,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}

export interface FlowOwner {
  tenantId: string;
  userId: string;
  sessionId: string;
}

export class RegistrationFlowRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  async create(
    owner: FlowOwner,
    state: RegistrationState,
    context: RegistrationContext,
    lifetimeMs: number,
  ): Promise<RegistrationFlow> {
    const now = this.clock.now();
    const row: Flow = {
      id: newId(this.random),
      tenant_id: owner.tenantId,
      type: FLOW_TYPE,
      state,
      user_id: owner.userId,
      phantom: 0,
      binding_hash: hashBinding(owner.sessionId),
      // The session's CSRF token protects every step; the column is required, so a random value.
      csrf_token: this.random.bytes(16).toString("base64url"),
      gates_passed_json: "[]",
      context_json: JSON.stringify(context),
      attempts: 0,
      created_at: now,
      updated_at: now,
      expires_at: now + lifetimeMs,
    };
    await this.db.insertInto("flows").values(row).execute();
    return fromRow(row);
  }

  /**
   * The flow, if it is this session's, of this user, not expired and in one of `allowed`.
   * FLOW_NOT_FOUND for anything that is not ours (one answer, so ids cannot be probed).
   */
  async load(
    owner: FlowOwner,
    flowId: string,
    allowed: readonly RegistrationState[],
  ): Promise<RegistrationFlow> {
    if (typeof flowId !== "string" || flowId.length === 0 || flowId.length > 64)
      throw new LatchkeyError("FLOW_NOT_FOUND");
    const row = await this.db
      .selectFrom("flows")
      .selectAll()
      .where("id", "=", flowId)
      .where("tenant_id", "=", owner.tenantId)
      .where("type", "=", FLOW_TYPE)
      .executeTakeFirst();
    if (!row || row.user_id !== owner.userId || !safeEqual(row.binding_hash, hashBinding(owner.sessionId)))
      throw new LatchkeyError("FLOW_NOT_FOUND");
    if (row.expires_at <= this.clock.now()) throw new LatchkeyError("FLOW_EXPIRED");
    const flow = fromRow(row);
    if (!allowed.includes(flow.state)) throw new LatchkeyError("FLOW_WRONG_STATE");
    return flow;
  }

  /** Saves context and moves to `next`, if the machine allows it and nobody moved the flow first. */
  async save(flow: RegistrationFlow, next: RegistrationState): Promise<RegistrationFlow> {
    if (!canTransition(flow.state, next))
      throw new LatchkeyError("FLOW_WRONG_STATE", `registration: ${flow.state} → ${next}`);
    const res = await this.db
      .updateTable("flows")
      .set({
        state: next,
        context_json: JSON.stringify(flow.context),
        attempts: flow.attempts,
        updated_at: this.clock.now(),
      })
      .where("id", "=", flow.id)
      .where("state", "=", flow.state)
      .executeTakeFirst();
    // A concurrent step moved it: this one must not overwrite that (e.g. two confirmations).
    if (res.numUpdatedRows !== 1n) throw new LatchkeyError("FLOW_WRONG_STATE");
    return { ...flow, state: next };
  }
}
