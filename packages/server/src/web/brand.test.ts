import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { brandCss, brandPalette, contrast, DEFAULT_BRAND_COLOUR, validBrandColour } from "./brand.js";

describe("contrast()", () => {
  it("matches the WCAG reference values", () => {
    expect(contrast("#000000", "#ffffff")).toBeCloseTo(21, 5);
    expect(contrast("#ffffff", "#ffffff")).toBeCloseTo(1, 5);
    // #767676 is the usual "lightest grey that passes AA on white" (4.54:1).
    expect(contrast("#767676", "#ffffff")).toBeCloseTo(4.54, 2);
  });
});

describe("brandPalette()", () => {
  const colour = fc
    .tuple(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
    )
    .map((rgb) => `#${rgb.map((c) => c.toString(16).padStart(2, "0")).join("")}`);

  it("keeps text on the brand colour and the brand ink on white at 4.5:1 or more, for any colour", () => {
    fc.assert(
      fc.property(colour, (c) => {
        const p = brandPalette(c);
        expect(contrast(p.on, p.brand)).toBeGreaterThanOrEqual(4.5);
        expect(contrast(p.ink, "#ffffff")).toBeGreaterThanOrEqual(4.5);
      }),
      { numRuns: 3000 },
    );
  });

  it("leaves a dark enough colour as it is", () => {
    expect(brandPalette("#1F4E8C")).toEqual({ brand: "#1f4e8c", on: "#ffffff", ink: "#1f4e8c" });
  });

  it("darkens a light colour for ink and puts black text on it", () => {
    const p = brandPalette("#ffff00");
    expect(p.on).toBe("#000000");
    expect(p.ink).not.toBe("#ffff00");
  });
});

describe("brandCss()", () => {
  it("emits the custom properties", () => {
    expect(brandCss("#1f4e8c")).toBe(":root{--brand:#1f4e8c;--brand-on:#ffffff;--brand-ink:#1f4e8c}\n");
  });

  it("never lets a value that is not #rrggbb into the CSS", () => {
    for (const bad of ["red", "#fff", "#1f4e8c;}body{display:none", "</style>", "", null, undefined]) {
      expect(validBrandColour(bad)).toBe(DEFAULT_BRAND_COLOUR);
      expect(brandCss(bad)).toContain(`--brand:${DEFAULT_BRAND_COLOUR};`);
    }
  });
});
