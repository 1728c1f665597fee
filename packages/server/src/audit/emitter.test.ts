import { describe, expect, it } from "vitest";
import { auditId, scrubDetails } from "./emitter.js";

describe("audit ids", () => {
  it("sort in emission order, within one millisecond and across milliseconds", () => {
    const ids = [
      auditId(1_780_000_000_000),
      auditId(1_780_000_000_000),
      auditId(1_780_000_000_000),
      auditId(1_780_000_000_001),
      auditId(1_780_000_000_001),
    ];
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{18}[A-Za-z0-9_-]{10}$/);
  });
});

describe("audit details", () => {
  it("never keep a key that could name a secret", () => {
    expect(
      scrubDetails({ password: "x", otpCode: "1", answer: "a", gates: ["email"], reasonCode: "r" }),
    ).toEqual({
      gates: ["email"],
      reasonCode: "r",
    });
  });
});
