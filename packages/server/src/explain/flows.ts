/**
 * One entry point: the explanation of a flow for an audience. Reset and unlock are built from the
 * reset flow's definitions (reset.ts). Password change and method registration (issue 6) are
 * explained from their code once it is in this build; until then the explanation says what exists.
 */
import type { ExplainContext } from "./context.js";
import type { Audience, Explanation, FlowName } from "./model.js";
import { explainReset, explainUnlock, resetSecurity } from "./reset.js";

function notBuilt(
  ctx: ExplainContext,
  aud: Audience,
  flow: FlowName,
  title: string,
  note: string,
): Explanation {
  return {
    flow,
    title,
    tenant: ctx.tenant,
    generatedAt: ctx.now,
    audience: aud,
    status: "not_built",
    statusNote: note,
    facts: [{ label: "Tenant", value: `${ctx.tenant.name} (${ctx.tenant.slug})` }],
    phases: [],
    steps: [],
    branches: [],
    transitions: [],
    security: resetSecurity(ctx),
    warnings: [],
  };
}

export function explainFlow(flow: FlowName, ctx: ExplainContext, aud: Audience): Explanation {
  switch (flow) {
    case "reset":
      return explainReset(ctx, aud);
    case "unlock":
      return explainUnlock(ctx, aud);
    case "change":
      return notBuilt(
        ctx,
        aud,
        "change",
        "Change password",
        "The change-password flow (issue 6) is not in this build. What exists: the agent's 'change' operation (old and new password sealed to the agent, applied in the directory) and the password.changed audit event.",
      );
    case "registration":
      return notBuilt(
        ctx,
        aud,
        "registration",
        "Method registration",
        "The method registration pages (issue 6) are not in this build. What exists: registering email, phone, authenticator app and security questions from code (seed, tests) and the method.registered audit event.",
      );
  }
}
