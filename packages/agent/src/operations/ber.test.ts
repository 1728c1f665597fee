import { BerReader } from "ldapts";
import { describe, expect, it } from "vitest";
import { PpolicyControl, parsePpolicyValue, passwordModifyValue } from "./ber.js";

describe("passwordModifyValue (RFC 3062)", () => {
  it("encodes [0] dn, [1] old, [2] new in a SEQUENCE", () => {
    const v = passwordModifyValue("uid=a", Buffer.from("old"), Buffer.from("new"));
    expect(v.toString("hex")).toBe(
      `30118005${Buffer.from("uid=a").toString("hex")}8103${Buffer.from("old").toString("hex")}8203${Buffer.from("new").toString("hex")}`,
    );
  });

  it("leaves out the old password for a reset, and uses long-form lengths past 127 bytes", () => {
    const dn = `uid=${"x".repeat(200)}`;
    const v = passwordModifyValue(dn, null, Buffer.from("n"));
    expect(v[0]).toBe(0x30);
    expect(v[1]).toBe(0x81);
    expect(v.subarray(3, 6).toString("hex")).toBe("8081cc");
    expect(v.includes(Buffer.of(0x81, 0x01))).toBe(false);
    expect(v.subarray(-3).toString("hex")).toBe("82016e");
  });
});

describe("ppolicy response control", () => {
  it.each([
    ["3000", { error: null, timeBeforeExpiration: null, graceAuthNsRemaining: null }],
    ["30038101" + "01", { error: 1, timeBeforeExpiration: null, graceAuthNsRemaining: null }],
    ["30038101" + "02", { error: 2, timeBeforeExpiration: null, graceAuthNsRemaining: null }],
    ["3005a003810102", { error: null, timeBeforeExpiration: null, graceAuthNsRemaining: 2 }],
    ["3006a00480020e10", { error: null, timeBeforeExpiration: 3600, graceAuthNsRemaining: null }],
    ["3008a00381010181" + "0100", { error: 0, timeBeforeExpiration: null, graceAuthNsRemaining: 1 }],
  ])("parses %s", (hex, want) => {
    expect(parsePpolicyValue(Buffer.from(hex, "hex"))).toEqual(want);
  });

  it("rejects what is not a ppolicy value", () => {
    expect(parsePpolicyValue(Buffer.from("0401", "hex"))).toBeNull();
    expect(parsePpolicyValue(Buffer.alloc(0))).toBeNull();
  });

  it("parses itself when ldapts hands it the response value", () => {
    const c = new PpolicyControl();
    c.parse(new BerReader(Buffer.from("3003810108", "hex")));
    expect(c.response?.error).toBe(8);
  });
});
