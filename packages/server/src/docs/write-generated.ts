/** Writes every generated document (run by `npm run docs`). */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { GENERATED_DOCS } from "./generated.js";

const root = resolve(process.argv[2] ?? process.cwd());
for (const doc of GENERATED_DOCS) {
  writeFileSync(resolve(root, doc.path), doc.render());
  console.log(`wrote ${doc.path}`);
}
