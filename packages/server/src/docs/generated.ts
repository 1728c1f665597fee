/**
 * Every document generated from code, in one list: `npm run docs` writes them and a test fails when a
 * committed copy is out of date, so docs and code cannot drift apart.
 */
import { renderEventsDoc } from "../audit/events-doc.js";
import { renderConfigurationDoc } from "../config/generate-docs.js";
import { renderErrorsDoc } from "../core/errors-doc.js";
import { resetOpenApi } from "../flows/reset/openapi.js";

export interface GeneratedDoc {
  /** Path relative to the repository root. */
  path: string;
  render(): string;
}

export const GENERATED_DOCS: GeneratedDoc[] = [
  { path: "docs/configuration.md", render: renderConfigurationDoc },
  { path: "docs/events.md", render: renderEventsDoc },
  { path: "docs/errors.md", render: renderErrorsDoc },
  { path: "docs/openapi.json", render: () => `${JSON.stringify(resetOpenApi(), null, 2)}\n` },
];
