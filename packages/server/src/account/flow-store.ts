/**
 * Persistence of the account flows (sign-in's second step, the forced password change) as rows of
 * the shared `flows` table, the way flows/reset/flow-repository.ts keeps reset flows: each flow is
 * bound to one browser by a cookie "<flowId>.<secret>" whose SHA-256 is stored, carries its own
 * CSRF token and an expiry, and every step reads it through `load`, which checks the binding, the
 * expiry, the allowed states and the CSRF token in one place. A flow's state machine is passed in
 * (`transitions`), so each flow keeps its own diagram beside its code.
 */
import type {} from "@fastify/cookie";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Kysely } from "kysely";
import type { Clock } from "../core/clock.js";
import { LatchkeyError } from "../core/errors.js";
import { newId, type Random } from "../core/random.js";
import { safeEqual } from "../core/secrets.js";
import { hashBinding } from "../flows/reset/flow-repository.js";
import type { Database, Flow } from "../store/schema.js";

export interface AccountFlow<S extends string, C> {
  id: string;
  tenantId: string;
  type: string;
  state: S;
  userId: string;
  csrfToken: string;
  context: C;
  attempts: number;
  createdAt: number;
  expiresAt: number;
}

export interface FlowDefinition<S extends string> {
  /** The `flows.type` value, e.g. "sign-in" or "change". */
  type: string;
  states: readonly S[];
  /** Allowed moves; a state may move to itself (an attempt that failed, a challenge started). */
  transitions: Readonly<Record<S, readonly S[]>>;
}

export class AccountFlowStore<S extends string, C extends object> {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly def: FlowDefinition<S>,
  ) {}

  private fromRow(row: Flow): AccountFlow<S, C> {
    if (!(this.def.states as readonly string[]).includes(row.state))
      throw new LatchkeyError("INTERNAL", `flow ${row.id} has unknown state`);
    return {
      id: row.id,
      tenantId: row.tenant_id,
      type: row.type,
      state: row.state as S,
      // Account flows always belong to a known user (they start after the password was proven).
      userId: row.user_id ?? "",
      csrfToken: row.csrf_token,
      context: JSON.parse(row.context_json) as C,
      attempts: row.attempts,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    };
  }

  async create(p: {
    tenantId: string;
    userId: string;
    state: S;
    lifetimeMs: number;
    /** A function when the context depends on the flow id (e.g. a value sealed to it). */
    context: C | ((flowId: string) => C);
  }): Promise<{ flow: AccountFlow<S, C>; binding: string }> {
    const now = this.clock.now();
    const binding = this.random.bytes(32).toString("base64url");
    const id = newId(this.random);
    const context = typeof p.context === "function" ? p.context(id) : p.context;
    const row: Flow = {
      id,
      tenant_id: p.tenantId,
      type: this.def.type,
      state: p.state,
      user_id: p.userId,
      phantom: 0,
      binding_hash: hashBinding(binding),
      csrf_token: this.random.bytes(24).toString("base64url"),
      gates_passed_json: "[]",
      context_json: JSON.stringify(context),
      attempts: 0,
      created_at: now,
      updated_at: now,
      expires_at: now + p.lifetimeMs,
    };
    await this.db.insertInto("flows").values(row).execute();
    return { flow: this.fromRow(row), binding };
  }

  /**
   * The one way a step reads its flow: unknown id or wrong binding → FLOW_NOT_FOUND; past expiry →
   * FLOW_EXPIRED (and the row is deleted, so whatever it held is gone); a state the step does not
   * accept → FLOW_WRONG_STATE; a wrong CSRF token on a write → CSRF_MISMATCH.
   */
  async load(
    tenantId: string,
    flowId: string,
    opts: { binding: string | undefined; allowed: readonly S[]; csrf?: string | undefined },
  ): Promise<AccountFlow<S, C>> {
    const row = await this.db
      .selectFrom("flows")
      .selectAll()
      .where("id", "=", flowId)
      .where("tenant_id", "=", tenantId)
      .where("type", "=", this.def.type)
      .executeTakeFirst();
    const presented = hashBinding(opts.binding ?? "");
    if (!row || !safeEqual(row.binding_hash, presented)) throw new LatchkeyError("FLOW_NOT_FOUND");
    if (this.clock.now() >= row.expires_at) {
      await this.delete(row.id);
      throw new LatchkeyError("FLOW_EXPIRED");
    }
    if (opts.csrf !== undefined && !safeEqual(row.csrf_token, opts.csrf))
      throw new LatchkeyError("CSRF_MISMATCH");
    const flow = this.fromRow(row);
    if (!opts.allowed.includes(flow.state))
      throw new LatchkeyError("FLOW_WRONG_STATE", undefined, { state: flow.state });
    return flow;
  }

  /** Moves the flow to `to` (checked), conditional on the state it was loaded in. */
  async save(flow: AccountFlow<S, C>, to: S): Promise<AccountFlow<S, C>> {
    if (!this.def.transitions[flow.state].includes(to))
      throw new LatchkeyError("FLOW_WRONG_STATE", `${flow.state} → ${to}`);
    const res = await this.db
      .updateTable("flows")
      .set({
        state: to,
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

  async delete(flowId: string): Promise<void> {
    await this.db.deleteFrom("flows").where("id", "=", flowId).execute();
  }

  /** Deletes this type's flows past their expiry (housekeeping; `load` deletes the ones it meets). */
  async purgeExpired(): Promise<number> {
    const res = await this.db
      .deleteFrom("flows")
      .where("type", "=", this.def.type)
      .where("expires_at", "<=", this.clock.now())
      .executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}

/** The browser-binding cookie of an account flow ("<flowId>.<secret>"), one cookie name per flow type. */
export function readFlowCookie(
  req: FastifyRequest,
  name: string,
): { flowId: string; binding: string } | null {
  const raw = req.cookies[name];
  if (!raw) return null;
  const dot = raw.indexOf(".");
  if (dot < 1 || dot > 64 || raw.length > 200) return null;
  return { flowId: raw.slice(0, dot), binding: raw.slice(dot + 1) };
}

export function setFlowCookie(
  reply: FastifyReply,
  name: string,
  value: { flowId: string; binding: string },
  opts: { secure: boolean; maxAgeSeconds: number },
): void {
  reply.setCookie(name, `${value.flowId}.${value.binding}`, {
    httpOnly: true,
    secure: opts.secure,
    sameSite: "strict",
    path: "/",
    maxAge: opts.maxAgeSeconds,
  });
}

export function clearFlowCookie(reply: FastifyReply, name: string, opts: { secure: boolean }): void {
  reply.clearCookie(name, { httpOnly: true, secure: opts.secure, sameSite: "strict", path: "/" });
}
