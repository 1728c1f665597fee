/** `latchkey docs config`: prints (or writes) docs/configuration.md, generated from the schema. */
import { writeFileSync } from "node:fs";
import { renderConfigurationDoc } from "../config/generate-docs.js";

export async function docsConfigCommand(opts: { out?: string }, out: (s: string) => void): Promise<void> {
  const doc = renderConfigurationDoc();
  if (opts.out) {
    writeFileSync(opts.out, doc);
    out(`wrote ${opts.out}\n`);
  } else out(doc);
}
