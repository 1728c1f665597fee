/**
 * The lab (throwaway directories for the demo and the tests) ships inside the server package but is
 * a demo/dev facility: nothing `latchkey serve` loads may import it. Only the demo command (through
 * dynamic imports, which run when a directory is asked for) and the demo's people (types only) do.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = join(import.meta.dirname, "..");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") ? [p] : [];
  });
}

describe("the lab is never loaded by latchkey serve", () => {
  it("no module outside the lab imports it, except the demo's (dynamically or for types)", () => {
    const offenders: string[] = [];
    for (const file of sources(SRC)) {
      const rel = relative(SRC, file);
      if (rel.startsWith("lab/")) continue;
      const text = readFileSync(file, "utf8");
      // Static imports and re-exports whose specifier reaches into lab/.
      for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+"([^"]*\/lab\/[^"]*)"/gms)) {
        if (m[2] !== undefined) continue; // `import type`: erased, loads nothing
        offenders.push(`${rel}: ${m[0].split("\n")[0]}`);
      }
      if (/import\("[^"]*\/lab\//.test(text) && rel !== "cli/demo.ts")
        offenders.push(`${rel}: dynamic import`);
    }
    expect(offenders).toEqual([]);
  });

  it("the demo reaches the lab only by dynamic import", () => {
    const demo = readFileSync(join(SRC, "cli", "demo.ts"), "utf8");
    expect(demo).toMatch(/import\("\.\.\/lab\/slapd\.js"\)/);
    expect(demo).not.toMatch(/^import\s+\{[^}]*\}\s+from\s+"\.\.\/lab\//m);
  });
});
