/**
 * `latchkey explain`, `latchkey admin timeline` and `latchkey admin explain-user`: the explainer
 * (packages/server/src/explain/) from a shell. All three only read the store.
 */
import { writeFileSync } from "node:fs";
import { cryptoRandom } from "../core/random.js";
import { implementedMethods, loadExplainContext } from "../explain/context.js";
import { explainUser, renderUserVerdict } from "../explain/explain-user.js";
import { explainFlow } from "../explain/flows.js";
import { type Audience, type Explanation, FLOW_NAMES, type FlowName } from "../explain/model.js";
import { renderPptx } from "../explain/render-pptx.js";
import { renderSvg } from "../explain/render-svg.js";
import { renderJson, renderMarkdown, renderMermaid, renderText } from "../explain/render-text.js";
import { flowTimeline, type Timeline } from "../explain/timeline.js";
import { createMethods, type MethodRegistry } from "../methods/registry.js";
import { CliError, EXIT_CONFIG } from "./errors.js";
import type { Runtime } from "./runtime.js";
import { type GlobalOptions, pickTenant, withRuntime } from "./runtime.js";

type Out = (s: string) => void;

export const EXPLAIN_FORMATS = ["text", "markdown", "json", "mermaid", "svg", "pptx"] as const;
export type ExplainFormat = (typeof EXPLAIN_FORMATS)[number];

export interface ExplainOptions extends GlobalOptions {
  format?: string;
  out?: string;
  userKind?: string;
  admin?: boolean;
  tenant?: string;
}

/** The server's method registry, built like the portal builds it; explaining never sends anything. */
function methodRegistry(rt: Runtime): MethodRegistry {
  return createMethods({
    db: rt.store.db,
    clock: rt.clock,
    random: cryptoRandom,
    secrets: rt.loaded.secrets,
    enqueue: async () => {
      throw new Error("the explainer never sends a message");
    },
  });
}

export async function buildExplanation(
  rt: Runtime,
  flow: FlowName,
  aud: Audience,
  tenantSlug?: string,
): Promise<{ explanation: Explanation; colour: string }> {
  const tenant = await pickTenant(rt, tenantSlug);
  const ctx = await loadExplainContext({
    db: rt.store.db,
    tenant,
    config: rt.loaded.config,
    implemented: implementedMethods(methodRegistry(rt)),
    now: rt.clock.now(),
  });
  return { explanation: explainFlow(flow, ctx, aud), colour: ctx.settings.branding.primaryColour };
}

export async function render(
  e: Explanation,
  format: ExplainFormat,
  colour: string,
): Promise<string | Buffer> {
  switch (format) {
    case "text":
      return renderText(e);
    case "markdown":
      return renderMarkdown(e);
    case "json":
      return renderJson(e);
    case "mermaid":
      return renderMermaid(e);
    case "svg":
      return renderSvg(e, { colour });
    case "pptx":
      return renderPptx(e, { colour });
  }
}

export async function explainCommand(
  flowArg: string | undefined,
  opts: ExplainOptions,
  out: Out,
): Promise<void> {
  const flow = (flowArg ?? "reset") as FlowName;
  if (!FLOW_NAMES.includes(flow))
    throw new CliError(`unknown flow '${flowArg}': choose one of ${FLOW_NAMES.join(", ")}`, EXIT_CONFIG);
  const format = (opts.format ?? "text") as ExplainFormat;
  if (!EXPLAIN_FORMATS.includes(format))
    throw new CliError(
      `unknown format '${opts.format}': choose one of ${EXPLAIN_FORMATS.join(", ")}`,
      EXIT_CONFIG,
    );
  const kind = opts.userKind ?? "cloud";
  if (kind !== "cloud" && kind !== "synced")
    throw new CliError("--user-kind must be cloud or synced", EXIT_CONFIG);
  if (format === "pptx" && !opts.out)
    throw new CliError("--format pptx needs --out <file.pptx>", EXIT_CONFIG);
  await withRuntime({ path: opts.config, requireSecrets: false }, async (rt) => {
    const { explanation, colour } = await buildExplanation(
      rt,
      flow,
      { userKind: kind, admin: opts.admin === true },
      opts.tenant,
    );
    const body = await render(explanation, format, colour);
    if (opts.out) {
      writeFileSync(opts.out, body);
      out(`wrote ${opts.out}\n`);
    } else out(typeof body === "string" ? body : body.toString("utf8"));
  });
}

/** Lines of a timeline, each step with its offset from the flow's start, its duration and result. */
export function renderTimeline(t: Timeline, labels: Map<string, string>): string {
  const rows = t.entries.map((e) => [
    `+${Math.round(e.at - t.createdAt)} ms`,
    e.durationMs === null ? "" : `${Math.round(e.durationMs * 10) / 10} ms`,
    e.visible ? "person" : "background",
    e.result,
    e.stepId,
    labels.get(e.stepId) ?? (e.stepId.includes(".") ? "" : "(not in the explanation)"),
    e.detail ?? "",
  ]);
  const head = ["AT", "TOOK", "SEEN", "RESULT", "STEP", "WHAT", "DETAIL"];
  const widths = head.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => Math.min(60, (r[i] ?? "").length))),
  );
  const fmt = (r: string[]) =>
    r
      .map((c, i) => (c.length > 60 ? `${c.slice(0, 59)}…` : c).padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  return [
    `Flow ${t.flowId} (${t.type}), state ${t.state}${t.phantom ? ", phantom" : ""}, started ${new Date(t.createdAt).toISOString()}`,
    "",
    fmt(head),
    ...rows.map(fmt),
    "",
  ].join("\n");
}

export async function timelineCommand(
  flowId: string,
  opts: GlobalOptions & { json?: boolean },
  out: Out,
): Promise<void> {
  await withRuntime({ path: opts.config, requireSecrets: false }, async (rt) => {
    const t = await flowTimeline(rt.store.db, flowId);
    if (!t) throw new CliError(`no flow with id ${flowId}`);
    if (opts.json) {
      out(`${JSON.stringify(t, null, 2)}\n`);
      return;
    }
    // The steps' words come from the explanation of this flow's account kind under today's policy.
    const labels = new Map<string, string>();
    const tenant = await rt.store.db
      .selectFrom("tenants")
      .selectAll()
      .where("id", "=", t.tenantId)
      .executeTakeFirst();
    if (tenant && (t.type === "reset" || t.type === "unlock")) {
      const user = t.userId
        ? await rt.store.db.selectFrom("users").selectAll().where("id", "=", t.userId).executeTakeFirst()
        : undefined;
      const aud: Audience = { userKind: user?.kind ?? "cloud", admin: user?.is_admin === 1 };
      const ctx = await loadExplainContext({
        db: rt.store.db,
        tenant,
        config: rt.loaded.config,
        implemented: implementedMethods(methodRegistry(rt)),
        now: rt.clock.now(),
      });
      for (const f of ["reset", "unlock"] as const) {
        const e = explainFlow(f, ctx, aud);
        for (const s of [...e.steps, ...e.branches]) if (!labels.has(s.id)) labels.set(s.id, s.action);
      }
    }
    out(renderTimeline(t, labels));
  });
}

export async function explainUserCommand(
  name: string,
  opts: GlobalOptions & { tenant?: string; json?: boolean },
  out: Out,
): Promise<void> {
  await withRuntime({ path: opts.config, requireSecrets: false }, async (rt) => {
    const tenant = await pickTenant(rt, opts.tenant);
    const v = await explainUser(
      { db: rt.store.db, tenant, methods: methodRegistry(rt), now: rt.clock.now() },
      name,
    );
    if (opts.json) out(`${JSON.stringify(v, null, 2)}\n`);
    else out(renderUserVerdict(v, tenant.slug));
  });
}
