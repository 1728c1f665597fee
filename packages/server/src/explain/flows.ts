/**
 * One entry point: the explanation of a flow for an audience. Reset and unlock are built from the
 * reset flow's definitions (reset.ts), password change and method registration from theirs
 * (account-flows.ts).
 */
import { explainChange, explainRegistration } from "./account-flows.js";
import type { ExplainContext } from "./context.js";
import type { Audience, Explanation, FlowName } from "./model.js";
import { explainReset, explainUnlock } from "./reset.js";

export function explainFlow(flow: FlowName, ctx: ExplainContext, aud: Audience): Explanation {
  switch (flow) {
    case "reset":
      return explainReset(ctx, aud);
    case "unlock":
      return explainUnlock(ctx, aud);
    case "change":
      return explainChange(ctx, aud);
    case "registration":
      return explainRegistration(ctx, aud);
  }
}
