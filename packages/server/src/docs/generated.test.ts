import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { GENERATED_DOCS } from "./generated.js";

const root = resolve(import.meta.dirname, "../../../..");

describe("generated documents", () => {
  for (const doc of GENERATED_DOCS) {
    it(`${doc.path} is current (regenerate with: npm run docs)`, () => {
      const committed = readFileSync(resolve(root, doc.path), "utf8");
      expect(committed, `${doc.path} is out of date: run 'npm run docs' and commit`).toBe(doc.render());
    });
  }
});
