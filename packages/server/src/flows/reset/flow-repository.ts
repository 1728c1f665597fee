/**
 * Persistence of reset flows. Every step reads its flow through `load`, which checks the binding
 * cookie, the expiry and the allowed states in one place, so no step can forget one of them.
 */
import { createHash } from "node:crypto";
import type { Kysely } from "kysely";
import type { Clock } from "../../core/clock.js";
import { LatchkeyError } from "../../core/errors.js";
import { newId, type Random } from "../../core/random.js";
import { safeEqual } from "../../core/secrets.js";
import type { Database, Flow } from "../../store/schema.js";
import { canTransition, isResetState, type ResetState } from "./states.js";

/** Internal, non-secret context a reset flow carries between steps. */
export interface ResetContext {
  /** HMAC tag of the user name as typed (normalised): a throttle key and phantom seed, never the text. */
  identifier?: string;
  /** Gates this flow needs (1 or 2); fixed at identification. */
  requiredGates?: number;
  /** The challenge in progress, if any. */
  challenge?: { id: string; method: string };
  /** Strict mode: the methods offered are the tenant's, not the user's. */
  disclosure?: "strict" | "guided";
  /** Why a flow is blocked (stable reason code, shown only where it reveals nothing). */
  blockedReason?: string;
  /** When a throttle lock ends (epoch ms), for the "wait until" message. */
  lockedUntil?: number;
  /**
   * The directory operation the person was told is still pending (state `pending`): its id finds the
   * flow when the operation ends, and who asked is kept for the completion's notice and audit.
   */
  pending?: {
    operationId: string;
    kind: "reset" | "unlock";
    /** A reset that also unlocks (reset.unlock.alsoOnReset and the account was locked). */
    unlocks: boolean;
    ip: string | null;
    userAgent: string | null;
    locale: string;
  };
  /** A reset that also unlocked a locked account (shown on the done page). */
  unlocked?: boolean;
  /** Why a pending operation finally failed (state `failed`): the directory's stable code and sentence. */
  failure?: { kind: "reset" | "unlock"; code: string; messageId: string };
}

export interface ResetFlow {
  id: string;
  tenantId: string;
  state: ResetState;
  userId: string | null;
  phantom: boolean;
  csrfToken: string;
  gatesPassed: string[];
  context: ResetContext;
  attempts: number;
  createdAt: number;
  expiresAt: number;
}

export function hashBinding(cookieValue: string): string {
  return createHash("sha256").update(cookieValue).digest("hex");
}

function fromRow(row: Flow): ResetFlow {
  if (!isResetState(row.state)) throw new LatchkeyError("INTERNAL", `flow ${row.id} has unknown state`);
  return {
    id: row.id,
    tenantId: row.tenant_id,
    state: row.state,
    userId: row.user_id,
    phantom: row.phantom === 1,
    csrfToken: row.csrf_token,
    gatesPassed: JSON.parse(row.gates_passed_json) as string[],
    context: JSON.parse(row.context_json) as ResetContext,
    attempts: row.attempts,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}

export interface LoadOptions {
  /** The value of the binding cookie the browser presented. */
  binding: string | undefined;
  /** States in which this step may run. */
  allowed: readonly ResetState[];
  /** The CSRF token sent with a state-changing request; omitted for reads. */
  csrf?: string | undefined;
}

export class ResetFlowRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {}

  /** Creates a flow in `identify`; returns it with the binding cookie value to set. */
  async create(tenantId: string, lifetimeMs: number): Promise<{ flow: ResetFlow; binding: string }> {
    const now = this.clock.now();
    const binding = this.random.bytes(32).toString("base64url");
    const row: Flow = {
      id: newId(this.random),
      tenant_id: tenantId,
      type: "reset",
      state: "identify",
      user_id: null,
      phantom: 0,
      binding_hash: hashBinding(binding),
      csrf_token: this.random.bytes(24).toString("base64url"),
      gates_passed_json: "[]",
      context_json: "{}",
      attempts: 0,
      created_at: now,
      updated_at: now,
      expires_at: now + lifetimeMs,
    };
    await this.db.insertInto("flows").values(row).execute();
    return { flow: fromRow(row), binding };
  }

  /**
   * The one way a step reads its flow: unknown id or wrong binding → FLOW_NOT_FOUND (the same
   * answer, so a flow id alone is worth nothing); past expiry → FLOW_EXPIRED; a state the step does
   * not accept → FLOW_WRONG_STATE; a missing or wrong CSRF token on a write → CSRF_MISMATCH.
   */
  async load(tenantId: string, flowId: string, opts: LoadOptions): Promise<ResetFlow> {
    const row = await this.db
      .selectFrom("flows")
      .selectAll()
      .where("id", "=", flowId)
      .where("tenant_id", "=", tenantId)
      .where("type", "=", "reset")
      .executeTakeFirst();
    const presented = hashBinding(opts.binding ?? "");
    if (!row || !safeEqual(row.binding_hash, presented)) throw new LatchkeyError("FLOW_NOT_FOUND");
    if (this.clock.now() >= row.expires_at) throw new LatchkeyError("FLOW_EXPIRED");
    if (opts.csrf !== undefined && !safeEqual(row.csrf_token, opts.csrf))
      throw new LatchkeyError("CSRF_MISMATCH");
    const flow = fromRow(row);
    if (!opts.allowed.includes(flow.state))
      throw new LatchkeyError("FLOW_WRONG_STATE", undefined, { state: flow.state });
    return flow;
  }

  /**
   * Moves a flow to `to` (checked against the state machine) and saves its fields. The update is
   * conditional on the state it was loaded in, so two concurrent requests cannot both advance it.
   */
  async save(flow: ResetFlow, to: ResetState): Promise<ResetFlow> {
    if (!canTransition(flow.state, to)) throw new LatchkeyError("FLOW_WRONG_STATE", `${flow.state} → ${to}`);
    const res = await this.db
      .updateTable("flows")
      .set({
        state: to,
        user_id: flow.userId,
        phantom: flow.phantom ? 1 : 0,
        gates_passed_json: JSON.stringify(flow.gatesPassed),
        context_json: JSON.stringify(flow.context),
        attempts: flow.attempts,
        updated_at: this.clock.now(),
      })
      .where("id", "=", flow.id)
      .where("state", "=", flow.state)
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) throw new LatchkeyError("FLOW_WRONG_STATE", "concurrent update");
    return { ...flow, state: to };
  }

  /**
   * The flow that went `pending` on operation `operationId` of this user — still waiting, or already
   * ended by an earlier report — whatever its expiry or binding: the operation's end is not a step the
   * person takes, and it must close the flow even after the person left. Null when no flow went
   * pending on it (the operation was not a reset flow's).
   */
  async findByOperation(tenantId: string, userId: string, operationId: string): Promise<ResetFlow | null> {
    const rows = await this.db
      .selectFrom("flows")
      .selectAll()
      .where("tenant_id", "=", tenantId)
      .where("type", "=", "reset")
      .where("user_id", "=", userId)
      .where("state", "in", ["pending", "completed", "unlocked", "failed"])
      .execute();
    for (const row of rows) {
      const flow = fromRow(row);
      if (flow.context.pending?.operationId === operationId) return flow;
    }
    return null;
  }

  /** Deletes flows past their expiry (housekeeping). */
  async purgeExpired(olderThanMs = 0): Promise<number> {
    const res = await this.db
      .deleteFrom("flows")
      .where("expires_at", "<", this.clock.now() - olderThanMs)
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
