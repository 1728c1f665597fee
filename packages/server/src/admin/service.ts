/**
 * What the admin pages read: the explanation of a flow for the tenant's current configuration, the
 * tenant's recent flows, one flow's recorded timeline (with the explanation's words for each step),
 * and explain-user's verdict. Everything here only SELECTs, like the CLI commands it mirrors
 * (cli/explain.ts): the pages are views, so nothing is sent, counted or written.
 */
import type { Kysely } from "kysely";
import type { LoadedConfig } from "../config/load.js";
import type { Clock } from "../core/clock.js";
import { implementedMethods, loadExplainContext } from "../explain/context.js";
import { explainUser, type UserVerdict } from "../explain/explain-user.js";
import { explainFlow } from "../explain/flows.js";
import { type Audience, type Explanation, FLOW_NAMES, type FlowName } from "../explain/model.js";
import { flowTimeline, type Timeline } from "../explain/timeline.js";
import type { MethodRegistry } from "../methods/registry.js";
import type { Database, Tenant } from "../store/schema.js";

export interface AdminExplainDeps {
  db: Kysely<Database>;
  config: LoadedConfig["config"];
  methods: MethodRegistry;
  clock: Clock;
}

export interface FlowRow {
  id: string;
  type: string;
  state: string;
  phantom: boolean;
  /** The account's user name; null for a phantom flow (an unknown name) or a removed account. */
  username: string | null;
  createdAt: number;
  /** From the start to the flow's last change. */
  durationMs: number;
}

export const FLOWS_PAGE_SIZE = 25;

export class AdminExplainService {
  constructor(private readonly deps: AdminExplainDeps) {}

  async explanation(
    tenant: Tenant,
    flow: FlowName,
    aud: Audience,
  ): Promise<{ explanation: Explanation; colour: string }> {
    const ctx = await loadExplainContext({
      db: this.deps.db,
      tenant,
      config: this.deps.config,
      implemented: implementedMethods(this.deps.methods),
      now: this.deps.clock.now(),
    });
    return { explanation: explainFlow(flow, ctx, aud), colour: ctx.settings.branding.primaryColour };
  }

  /** Newest first; one more row than a page is read to know whether there is a next page. */
  async recentFlows(tenant: Tenant, page: number): Promise<{ rows: FlowRow[]; more: boolean }> {
    const rows = await this.deps.db
      .selectFrom("flows")
      .leftJoin("users", (j) =>
        j.onRef("users.id", "=", "flows.user_id").onRef("users.tenant_id", "=", "flows.tenant_id"),
      )
      .select([
        "flows.id as id",
        "flows.type as type",
        "flows.state as state",
        "flows.phantom as phantom",
        "flows.created_at as created_at",
        "flows.updated_at as updated_at",
        "users.username as username",
      ])
      .where("flows.tenant_id", "=", tenant.id)
      .orderBy("flows.created_at", "desc")
      .orderBy("flows.id", "desc")
      .limit(FLOWS_PAGE_SIZE + 1)
      .offset(page * FLOWS_PAGE_SIZE)
      .execute();
    return {
      more: rows.length > FLOWS_PAGE_SIZE,
      rows: rows.slice(0, FLOWS_PAGE_SIZE).map((r) => ({
        id: r.id,
        type: r.type,
        state: r.state,
        phantom: Number(r.phantom) === 1,
        username: r.username ?? null,
        createdAt: Number(r.created_at),
        durationMs: Math.max(0, Number(r.updated_at) - Number(r.created_at)),
      })),
    };
  }

  /**
   * One flow's timeline, only when it belongs to `tenant` (another tenant's id reads as unknown), with
   * the words of each step from the explanation of that flow for the account's kind under today's
   * configuration (as `latchkey admin timeline` prints them).
   */
  async timeline(
    tenant: Tenant,
    flowId: string,
  ): Promise<{ timeline: Timeline; labels: Map<string, string>; username: string | null } | null> {
    const t = await flowTimeline(this.deps.db, flowId);
    if (!t || t.tenantId !== tenant.id) return null;
    const user = t.userId
      ? await this.deps.db
          .selectFrom("users")
          .selectAll()
          .where("id", "=", t.userId)
          .where("tenant_id", "=", tenant.id)
          .executeTakeFirst()
      : undefined;
    const aud: Audience = { userKind: user?.kind ?? "cloud", admin: user?.is_admin === 1 };
    const flows: FlowName[] =
      t.type === "reset" || t.type === "unlock"
        ? ["reset", "unlock"]
        : FLOW_NAMES.includes(t.type as FlowName)
          ? [t.type as FlowName]
          : [];
    const labels = new Map<string, string>();
    if (flows.length > 0) {
      const ctx = await loadExplainContext({
        db: this.deps.db,
        tenant,
        config: this.deps.config,
        implemented: implementedMethods(this.deps.methods),
        now: this.deps.clock.now(),
      });
      for (const f of flows) {
        const e = explainFlow(f, ctx, aud);
        for (const s of [...e.steps, ...e.branches]) if (!labels.has(s.id)) labels.set(s.id, s.action);
      }
    }
    return { timeline: t, labels, username: user?.username ?? null };
  }

  /** Read-only (explain-user.ts never sends, counts or audits). */
  async explainUser(tenant: Tenant, name: string): Promise<UserVerdict> {
    return explainUser(
      { db: this.deps.db, tenant, methods: this.deps.methods, now: this.deps.clock.now() },
      name,
    );
  }
}
