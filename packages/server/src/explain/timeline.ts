/**
 * The timeline of one real flow, derived from what the flow already records — its audit events
 * (every one carries flow_id and occurred_at), its challenge rows, its writeback operation rows with
 * the agent's timings (open, lookup, directory; round trip as the server saw it) — so no new hook
 * runs on the request path. Entries use the explanation's step ids (reset.ts RESET_STEP), so
 * "what explain announced" and "what happened" can be compared step by step.
 *
 * Messages in the outbox carry no flow id; a flow's messages are the ones queued between two of its
 * own events (a challenge row and its verification.sent; password.reset and reset_flow.completed)
 * with the template that step queues. When two flows queue the same template inside that window
 * (a few milliseconds) the message cannot be told apart and is left out rather than guessed.
 */
import type { Kysely } from "kysely";
import { z } from "zod";
import type { Database } from "../store/schema.js";
import type { Actor } from "./model.js";
import { RESET_STEP } from "./reset.js";

export interface TimelineEntry {
  stepId: string;
  /** Start, epoch ms. */
  at: number;
  /** How long it took, when the records tell (null: an instant, or not measured). */
  durationMs: number | null;
  actor: Actor;
  visible: boolean;
  result: "ok" | "failed" | "info";
  /** Non-secret detail: the method, the check, the operation id, the result code. */
  detail: string | null;
}

export interface Timeline {
  flowId: string;
  tenantId: string;
  type: string;
  state: string;
  phantom: boolean;
  userId: string | null;
  createdAt: number;
  entries: TimelineEntry[];
}

const timingsSchema = z
  .object({
    openMs: z.number().optional(),
    lookupMs: z.number().optional(),
    directoryMs: z.number().optional(),
    roundTripMs: z.number().optional(),
  })
  .partial();
type Timings = z.infer<typeof timingsSchema>;

interface Ev {
  id: string;
  event: string;
  at: number;
  result: string;
  reason: string | null;
  details: Record<string, unknown>;
}

function parse(json: string): Record<string, unknown> {
  try {
    const v = JSON.parse(json) as unknown;
    return v && typeof v === "object" ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

const SENDERS: Record<string, string> = { email: "email", sms: "sms", voice: "voice" };

export async function flowTimeline(db: Kysely<Database>, flowId: string): Promise<Timeline | null> {
  const flow = await db.selectFrom("flows").selectAll().where("id", "=", flowId).executeTakeFirst();
  if (!flow) return null;
  const rows = await db
    .selectFrom("audit_events")
    .select(["id", "event", "occurred_at", "result", "reason", "details_json"])
    .where("tenant_id", "=", flow.tenant_id)
    .where("flow_id", "=", flowId)
    .orderBy("occurred_at")
    .orderBy("id")
    .execute();
  const events: Ev[] = rows.map((r) => ({
    id: r.id,
    event: r.event,
    at: Number(r.occurred_at),
    result: r.result,
    reason: r.reason,
    details: parse(r.details_json),
  }));
  const challenges = (
    await db
      .selectFrom("challenges")
      .select(["id", "method_type", "created_at", "used_at"])
      .where("flow_id", "=", flowId)
      .orderBy("created_at")
      .execute()
  ).map((c) => ({ ...c, created_at: Number(c.created_at) }));
  const opIds = [
    ...new Set(
      events
        .filter((e) => e.event.startsWith("writeback.") && typeof e.details.operationId === "string")
        .map((e) => e.details.operationId as string),
    ),
  ];
  const ops = new Map(
    (opIds.length > 0
      ? await db.selectFrom("writeback_operations").selectAll().where("id", "in", opIds).execute()
      : []
    ).map((o) => [o.id, o]),
  );
  // The tenant's message events over the flow's life, for the window correlation (see the header).
  const messages = (
    await db
      .selectFrom("audit_events")
      .select(["id", "event", "occurred_at", "result", "reason", "details_json"])
      .where("tenant_id", "=", flow.tenant_id)
      .where("event", "in", ["notification.queued", "notification.sent", "notification.failed"])
      .where("occurred_at", ">=", Number(flow.created_at))
      .orderBy("occurred_at")
      .orderBy("id")
      .execute()
  ).map((r) => ({
    id: r.id,
    event: r.event,
    at: Number(r.occurred_at),
    result: r.result,
    reason: r.reason,
    details: parse(r.details_json),
  }));

  const out: TimelineEntry[] = [];
  const push = (
    stepId: string,
    actor: Actor,
    at: number,
    o: Partial<Pick<TimelineEntry, "durationMs" | "visible" | "result" | "detail">> = {},
  ) =>
    out.push({
      stepId,
      actor,
      at,
      durationMs: o.durationMs ?? null,
      visible: o.visible ?? false,
      result: o.result ?? "ok",
      detail: o.detail ?? null,
    });

  /** The single queued message of `template` (and channel) in [from, to], with its delivery. */
  const messageIn = (from: number, to: number, templates: string[], channel?: string) => {
    const queued = messages.filter(
      (m) =>
        m.event === "notification.queued" &&
        m.at >= from &&
        m.at <= to &&
        templates.includes(String(m.details.template)) &&
        (channel === undefined || m.details.channel === channel),
    );
    return queued.map((q) => ({
      queued: q,
      ambiguous: queued.length > 1 && templates.length === 1 && templates[0] === "verification.code",
      delivered: messages.find(
        (m) => m.event !== "notification.queued" && m.details.outboxId === q.details.outboxId,
      ),
    }));
  };

  let gate = 1;
  let offered = false;
  const opsDone = new Set<string>();
  const usedChallenges = new Set<string>();
  let passwordResetAt: number | null = null;
  let previousAt = Number(flow.created_at);

  for (let i = 0; i < events.length; i++) {
    const e = events[i] as Ev;
    const next = events[i + 1];
    switch (e.event) {
      case "reset_flow.created":
        push(RESET_STEP.open, "person", e.at, { visible: true });
        push(RESET_STEP.startThrottle, "server", e.at);
        push(RESET_STEP.startFlow, "server", e.at, { result: "ok" });
        break;
      case "reset_flow.identified": {
        push(RESET_STEP.identifyEnter, "person", previousAt, {
          visible: true,
          durationMs: e.at - previousAt,
        });
        if (e.reason === "captcha_failed") {
          push(RESET_STEP.identifyCaptcha, "server", e.at, { result: "failed" });
          break;
        }
        push(RESET_STEP.identifyCaptcha, "server", e.at);
        push(RESET_STEP.identifyLookup, "server", e.at);
        const checks = Array.isArray(e.details.checks) ? (e.details.checks as unknown[]) : [];
        for (const c of checks) {
          const [id, verdict] = String(c).split(":");
          push(RESET_STEP.check(id ?? "?"), "server", e.at, {
            result: verdict === "pass" ? "ok" : "failed",
            detail: `${id}: ${verdict}`,
          });
        }
        const blockedNow = next?.event === "reset_flow.blocked" && next.at === e.at;
        if (!blockedNow) {
          push(RESET_STEP.offer, "server", e.at, { visible: true });
          offered = true;
        }
        break;
      }
      case "reset_flow.blocked":
        push(
          e.reason === "throttled" && offered ? RESET_STEP.blockedThrottled : RESET_STEP.blockedIneligible,
          "server",
          e.at,
          {
            visible: true,
            result: "failed",
            detail: e.reason,
          },
        );
        break;
      case "admin_contact.requested":
        push(RESET_STEP.blockedContact, "person", e.at, {
          visible: true,
          result: e.result === "success" ? "ok" : "failed",
        });
        break;
      case "verification.sent": {
        const method = String(e.details.method ?? "");
        const ch = challenges.find((c) => !usedChallenges.has(c.id) && c.created_at <= e.at);
        const start = ch?.created_at ?? e.at;
        if (ch) usedChallenges.add(ch.id);
        push(RESET_STEP.gate(gate, "choose"), "person", previousAt, {
          visible: true,
          durationMs: start - previousAt,
          detail: method,
        });
        push(RESET_STEP.gate(gate, "challenge"), "server", start, {
          durationMs: e.at - start,
          detail: method,
        });
        const channel = SENDERS[method];
        if (channel) {
          for (const m of messageIn(start, e.at, ["verification.code"], channel)) {
            if (m.ambiguous) continue;
            push(RESET_STEP.gate(gate, "queue"), "server", m.queued.at, { detail: channel });
            if (m.delivered)
              push(RESET_STEP.gate(gate, "deliver"), "server", m.queued.at, {
                durationMs: m.delivered.at - m.queued.at,
                result: m.delivered.event === "notification.sent" ? "ok" : "failed",
                detail: channel,
              });
          }
        }
        break;
      }
      case "verification.failed":
      case "verification.passed": {
        const ok = e.event === "verification.passed";
        const method = String(e.details.method ?? "");
        push(RESET_STEP.gate(gate, "answer"), "person", previousAt, {
          visible: true,
          durationMs: e.at - previousAt,
          detail: method,
        });
        push(RESET_STEP.gate(gate, "count"), "server", e.at, { detail: method });
        push(RESET_STEP.gate(gate, "check"), "server", e.at, {
          result: ok ? "ok" : "failed",
          detail: ok ? method : `${method}: ${e.reason ?? "failed"}`,
        });
        if (ok) gate++;
        break;
      }
      case "throttle.locked":
        push(RESET_STEP.blockedThrottled, "server", e.at, { visible: true, result: "failed" });
        break;
      case "password.rejected":
        if (e.reason === "policy_violation") {
          push(RESET_STEP.passwordEnter, "person", previousAt, {
            visible: true,
            durationMs: e.at - previousAt,
          });
          push(RESET_STEP.passwordPolicy, "server", e.at, {
            result: "failed",
            detail: Array.isArray(e.details.ruleIds) ? (e.details.ruleIds as unknown[]).join(", ") : null,
          });
        }
        push(RESET_STEP.passwordRefused, "server", e.at, {
          visible: true,
          result: "failed",
          detail: e.reason,
        });
        break;
      case "writeback.applied":
      case "writeback.refused":
      case "writeback.failed": {
        const opId = String(e.details.operationId ?? "");
        if (opsDone.has(opId)) break;
        opsDone.add(opId);
        const op = ops.get(opId);
        const kind = String(e.details.kind ?? op?.type ?? "reset");
        const created = op ? Number(op.created_at) : e.at;
        const completed = op?.completed_at != null ? Number(op.completed_at) : e.at;
        const parsed = timingsSchema.safeParse(e.details.timings);
        const t: Timings = parsed.success ? parsed.data : {};
        const ok = e.event === "writeback.applied";
        const code = (e.details.resultCode as string | null | undefined) ?? e.reason;
        // The agent's leg is the round trip less the directory's own time; the directory's write
        // ends when the answer leaves, so it starts directoryMs before the round trip ends.
        const agentMs = t.roundTripMs !== undefined ? t.roundTripMs - (t.directoryMs ?? 0) : null;
        const dirStart =
          t.roundTripMs !== undefined && t.directoryMs !== undefined
            ? Math.round(created + t.roundTripMs - t.directoryMs)
            : created;
        if (kind === "unlock") {
          push(RESET_STEP.unlockChoose, "person", previousAt, {
            visible: true,
            durationMs: created - previousAt,
          });
          push(RESET_STEP.unlockAgent, "server", created, { durationMs: agentMs, detail: opId });
          push(RESET_STEP.unlockDirectory, "agent", dirStart, {
            durationMs: t.directoryMs ?? null,
            result: ok ? "ok" : "failed",
          });
          push(RESET_STEP.unlockResult, "agent", completed, {
            result: ok ? "ok" : "failed",
            detail: code ?? null,
          });
          break;
        }
        push(RESET_STEP.passwordEnter, "person", previousAt, {
          visible: true,
          durationMs: created - previousAt,
        });
        push(RESET_STEP.passwordPolicy, "server", created);
        push(RESET_STEP.passwordSeal, "server", created, { detail: opId });
        push(RESET_STEP.passwordAgent, "server", created, {
          durationMs: agentMs ?? completed - created,
          detail:
            [
              t.openMs !== undefined ? `open ${t.openMs} ms` : null,
              t.lookupMs !== undefined ? `lookup ${t.lookupMs} ms` : null,
              t.roundTripMs !== undefined ? `round trip ${t.roundTripMs} ms` : null,
            ]
              .filter(Boolean)
              .join(", ") || null,
        });
        push(RESET_STEP.passwordDirectory, "agent", dirStart, {
          durationMs: t.directoryMs ?? null,
          result: ok ? "ok" : "failed",
        });
        push(RESET_STEP.passwordResult, "agent", completed, {
          result: ok ? "ok" : "failed",
          detail: code ?? null,
        });
        break;
      }
      case "writeback.pending":
        push(RESET_STEP.passwordPending, "server", e.at, { visible: true, result: "info" });
        break;
      case "password.reset":
        if (e.details.kind === "cloud") {
          push(RESET_STEP.passwordEnter, "person", previousAt, {
            visible: true,
            durationMs: e.at - previousAt,
          });
          push(RESET_STEP.passwordPolicy, "server", e.at);
          push(RESET_STEP.passwordHash, "server", e.at);
        }
        push(RESET_STEP.completeClose, "server", e.at);
        passwordResetAt = e.at;
        break;
      case "sessions.revoked":
        push(RESET_STEP.completeSessions, "server", e.at, {
          detail: `${String(e.details.count ?? 0)} revoked`,
        });
        break;
      case "account.unlocked":
        push(RESET_STEP.unlockClose, "server", e.at, { result: e.result === "failure" ? "failed" : "ok" });
        break;
      case "reset_flow.completed": {
        if (passwordResetAt !== null) {
          const notices = messageIn(passwordResetAt, e.at, ["password.reset", "admin.password_reset"]);
          for (const m of notices.filter((x) => x.queued.details.template === "password.reset"))
            push(RESET_STEP.completeNotice, "server", m.queued.at);
          for (const m of notices.filter((x) => x.queued.details.template === "admin.password_reset"))
            push(RESET_STEP.completeAdminNotice, "server", m.queued.at);
          push(e.details.outcome === "unlocked" ? RESET_STEP.unlockDone : RESET_STEP.done, "server", e.at, {
            visible: true,
          });
          for (const m of notices)
            if (m.delivered)
              push(RESET_STEP.completeDeliver, "server", m.queued.at, {
                durationMs: m.delivered.at - m.queued.at,
                result: m.delivered.event === "notification.sent" ? "ok" : "failed",
                detail: String(m.queued.details.template),
              });
        } else {
          push(e.details.outcome === "unlocked" ? RESET_STEP.unlockDone : RESET_STEP.done, "server", e.at, {
            visible: true,
          });
        }
        break;
      }
      case "reset_flow.failed":
        push(RESET_STEP.pendingFailed, "server", e.at, { visible: true, result: "failed", detail: e.reason });
        break;
      case "reset_flow.expired":
        push(RESET_STEP.expired, "server", e.at, { visible: true, result: "failed" });
        break;
      default:
        // An event of another flow type (sign-in, change, registration) or one added later: shown
        // under its own name rather than dropped.
        push(e.event, "server", e.at, { result: e.result === "failure" ? "failed" : "ok", detail: e.reason });
    }
    previousAt = e.at;
  }
  return {
    flowId,
    tenantId: flow.tenant_id,
    type: flow.type,
    state: flow.state,
    phantom: flow.phantom === 1,
    userId: flow.user_id,
    createdAt: Number(flow.created_at),
    entries: out,
  };
}

/** The background steps of a timeline, consecutive repeats folded (a refused candidate, a resend). */
export function backgroundStepIds(t: Timeline): string[] {
  const ids: string[] = [];
  for (const e of t.entries) if (!e.visible && ids[ids.length - 1] !== e.stepId) ids.push(e.stepId);
  return ids;
}
