import { describe, expect, it } from "vitest";
import type { Timeline } from "../explain/timeline.js";
import { translator } from "../i18n/index.js";
import { barKind, formatMs, timelineChart, timelineTable } from "./timeline-chart.js";

const t = translator("en");

const timeline: Timeline = {
  flowId: "f1",
  tenantId: "t1",
  type: "reset",
  state: "completed",
  phantom: false,
  userId: "u1",
  createdAt: 1_000,
  entries: [
    { stepId: "a", at: 1_000, durationMs: null, actor: "person", visible: true, result: "ok", detail: null },
    {
      stepId: "b",
      at: 1_250,
      durationMs: 500,
      actor: "agent",
      visible: false,
      result: "ok",
      detail: "op <1>",
    },
    {
      stepId: "c",
      at: 1_750,
      durationMs: 250,
      actor: "directory",
      visible: false,
      result: "ok",
      detail: null,
    },
    {
      stepId: "d",
      at: 2_000,
      durationMs: null,
      actor: "server",
      visible: false,
      result: "failed",
      detail: null,
    },
  ],
};

describe("timeline chart", () => {
  it("places each bar by its start and sizes it by its duration on the flow's span", () => {
    const svg = timelineChart(timeline, new Map([["b", "Agent <sets> & checks"]]), t).toString();
    // Span 1000 ms over 380 units from x=250: b starts at 25 % (345) and is 50 % wide (190).
    expect(svg).toMatch(/<rect class="tl-bar tl-agent" x="345\.0" y="\d+" width="190\.0"/);
    expect(svg).toMatch(/<rect class="tl-bar tl-directory" x="535\.0" y="\d+" width="95\.0"/);
    // An instant is a thin tick, not nothing.
    expect(svg).toMatch(/<rect class="tl-bar tl-visible" x="250\.0" y="\d+" width="3\.0"/);
    expect(svg).toContain("Agent &lt;sets&gt; &amp; checks");
    expect(svg).not.toContain("<sets>");
    expect(svg).toContain('role="img" aria-labelledby="tl-title tl-desc"');
    expect(svg).not.toMatch(/style=/);
  });

  it("classifies bars: failures first, then the agent's and directory's legs, then seen or background", () => {
    expect(timeline.entries.map(barKind)).toEqual(["visible", "agent", "directory", "failed"]);
  });

  it("lists the same steps in the table, detail escaped", () => {
    const table = timelineTable(timeline, new Map(), t).toString();
    expect(table.match(/<tr class="tl-tr-/g)).toHaveLength(4);
    expect(table).toContain("op &lt;1&gt;");
    expect(table).toContain("+750 ms");
  });

  it("formats durations for people", () => {
    expect(formatMs(0.123)).toBe("0.12 ms");
    expect(formatMs(12.34)).toBe("12.3 ms");
    expect(formatMs(1530)).toBe("1.5 s");
  });
});
