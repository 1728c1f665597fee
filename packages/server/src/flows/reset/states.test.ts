/**
 * The Mermaid diagram beside states.ts (reset-flow.mmd) is the same machine: parsed, it lists
 * exactly the transitions of RESET_TRANSITIONS, one initial state and the terminal ones.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { canTransition, isResetState, RESET_STATES, RESET_TRANSITIONS, type ResetState } from "./states.js";

interface Diagram {
  edges: Array<[string, string]>;
  initial: string[];
  terminal: string[];
}

/** Parses a stateDiagram-v2: `a --> b` or `a --> b: label`, with [*] for start and end. */
function parseStateDiagram(text: string): Diagram {
  const lines = text.split("\n").map((l) => l.trim());
  if (lines[0] !== "stateDiagram-v2") throw new Error("not a stateDiagram-v2");
  const out: Diagram = { edges: [], initial: [], terminal: [] };
  for (const line of lines.slice(1)) {
    if (line === "" || line.startsWith("%%")) continue;
    const m = /^(\[\*\]|[a-z_]+)\s*-->\s*(\[\*\]|[a-z_]+)\s*(?::.*)?$/.exec(line);
    if (!m) throw new Error(`cannot parse diagram line: ${line}`);
    const [, from = "", to = ""] = m;
    if (from === "[*]") out.initial.push(to);
    else if (to === "[*]") out.terminal.push(from);
    else out.edges.push([from, to]);
  }
  return out;
}

const diagram = parseStateDiagram(readFileSync(new URL("./reset-flow.mmd", import.meta.url), "utf8"));
const key = ([a, b]: [string, string]) => `${a} --> ${b}`;

describe("reset-flow.mmd and states.ts", () => {
  it("list exactly the same transitions", () => {
    const fromCode = RESET_STATES.flatMap((s) => RESET_TRANSITIONS[s].map((t) => key([s, t]))).sort();
    const fromDiagram = diagram.edges.map(key).sort();
    expect(fromDiagram).toEqual(fromCode);
    // No edge is drawn twice.
    expect(new Set(fromDiagram).size).toBe(fromDiagram.length);
  });

  it("start in identify and end in the states that have no way out", () => {
    expect(diagram.initial).toEqual(["identify"]);
    const terminal = RESET_STATES.filter((s) => RESET_TRANSITIONS[s].length === 0);
    expect([...diagram.terminal].sort()).toEqual([...terminal].sort());
    expect(terminal.sort()).toEqual(["blocked", "completed", "failed", "unlocked"]);
  });

  it("name only known states", () => {
    for (const [a, b] of diagram.edges) {
      expect(isResetState(a), a).toBe(true);
      expect(isResetState(b), b).toBe(true);
    }
    const seen = new Set(diagram.edges.flat());
    for (const s of RESET_STATES) expect(seen.has(s), s).toBe(true);
  });

  it("canTransition agrees with the table, and nothing goes back to identify", () => {
    for (const from of RESET_STATES) {
      for (const to of RESET_STATES) {
        expect(canTransition(from, to)).toBe(RESET_TRANSITIONS[from].includes(to));
      }
      expect(canTransition(from, "identify")).toBe(false);
    }
    // new_password is reached only from verify: no flow skips verification.
    const into = (s: ResetState) => RESET_STATES.filter((f) => canTransition(f, s) && f !== s);
    expect(into("new_password")).toEqual(["verify"]);
    expect(into("completed")).toEqual(["new_password", "pending"]);
    // An unlock, like a reset, needs every gate passed: only new_password (or its pending operation) leads there.
    expect(into("unlocked")).toEqual(["new_password", "pending"]);
    // Only a pending operation can end in failed; a pending flow cannot go back to asking for a password.
    expect(into("failed")).toEqual(["pending"]);
    expect(into("pending")).toEqual(["new_password"]);
    expect(isResetState("nonsense")).toBe(false);
  });

  it("the parser refuses what it does not understand (so the comparison cannot pass vacuously)", () => {
    expect(() => parseStateDiagram("graph TD\n a --> b")).toThrow();
    expect(() => parseStateDiagram("stateDiagram-v2\n    identify -> verify")).toThrow();
    expect(parseStateDiagram("stateDiagram-v2\n  a --> b: x\n  [*] --> a\n  b --> [*]")).toEqual({
      edges: [["a", "b"]],
      initial: ["a"],
      terminal: ["b"],
    });
  });
});
