/** Renders docs/errors.md from the error registry (generated, never edited by hand). */
import { ERRORS } from "./errors.js";

export function renderErrorsDoc(): string {
  return [
    "# Error codes",
    "",
    "Generated from `packages/server/src/core/errors.ts` by `npm run docs`; do not edit by hand.",
    "",
    'An API error answers `{ "error": { "code": "…", "messageId": "…" } }` with the status below.',
    "Codes are stable and never reused; the message id selects the sentence a person reads.",
    "",
    "| code | HTTP status | message id | meaning |",
    "|---|---|---|---|",
    ...Object.entries(ERRORS).map(
      ([k, v]) => `| \`${k}\` | ${v.status} | \`${v.messageId}\` | ${v.description} |`,
    ),
    "",
  ].join("\n");
}
