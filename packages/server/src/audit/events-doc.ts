/** Renders docs/events.md from the catalogue (the doc is generated, never edited by hand). */
import { AUDIT_EVENTS, REASON_CODES } from "./catalogue.js";

export function renderEventsDoc(): string {
  const lines = [
    "# Audit events",
    "",
    "Generated from `packages/server/src/audit/catalogue.ts` by `npm run docs`; do not edit by hand.",
    "",
    "Every event is written by the one emitter (`audit/emitter.ts`) with: tenant, time, event name,",
    "actor, target (user id), client IP, user agent, result (`success`, `failure`, `info`), reason code,",
    "flow id and details. Details never hold a password, code, answer or token: the emitter drops any",
    "detail whose key could name a secret.",
    "",
    "| event | meaning |",
    "|---|---|",
    ...Object.entries(AUDIT_EVENTS).map(([k, v]) => `| \`${k}\` | ${v} |`),
    "",
    "## Reason codes",
    "",
    "| reason | meaning |",
    "|---|---|",
    ...Object.entries(REASON_CODES).map(([k, v]) => `| \`${k}\` | ${v} |`),
    "",
  ];
  return lines.join("\n");
}
