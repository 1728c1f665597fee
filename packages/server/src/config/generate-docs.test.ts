import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { CONFIGURATION_DOC_PATH, REGENERATE_COMMAND, renderConfigurationDoc } from "./generate-docs.js";
import { configSchema } from "./schema.js";
import { walkSchema } from "./walk.js";

const root = resolve(import.meta.dirname, "../../../..");

describe("docs/configuration.md", () => {
  it("is what the schema generates", () => {
    const committed = readFileSync(resolve(root, CONFIGURATION_DOC_PATH), "utf8");
    expect(committed, `${CONFIGURATION_DOC_PATH} is out of date; regenerate it: ${REGENERATE_COMMAND}`).toBe(
      renderConfigurationDoc(),
    );
  });

  it("every key of the schema has a description", () => {
    const undocumented = walkSchema(configSchema)
      .filter((f) => f.description.trim().length === 0)
      .map((f) => f.path.join("."));
    expect(undocumented).toEqual([]);
  });

  it("lists every key with its environment variable", () => {
    const doc = renderConfigurationDoc();
    for (const f of walkSchema(configSchema)) {
      if (f.env) expect(doc).toContain(`\`${f.env}\``);
    }
    expect(doc).toContain("`LATCHKEY_SERVER__PORT`");
    expect(doc).toContain("`LATCHKEY_SECRETS_HMAC_KEY`");
  });
});
