/**
 * The tenant's colour as CSS custom properties, served as /brand.css (the CSP forbids inline style).
 * An administrator may pick any colour, so we derive the ones that keep text readable:
 *   --brand      the colour as chosen (header and button backgrounds);
 *   --brand-on   text on --brand: white or black, whichever contrasts more (always ≥ 4.58:1, the worst
 *                case being the colour equally far from both);
 *   --brand-ink  the colour darkened until it reaches 4.5:1 on white (links, borders, accents).
 */

export const DEFAULT_BRAND_COLOUR = "#1f4e8c";
const HEX = /^#[0-9a-fA-F]{6}$/;
const INK_ON_WHITE = 4.5;

type Rgb = readonly [number, number, number];

function parseHex(hex: string): Rgb {
  return [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)) as unknown as Rgb;
}

function toHex(rgb: Rgb): string {
  return `#${rgb.map((c) => Math.round(c).toString(16).padStart(2, "0")).join("")}`;
}

/** WCAG 2 relative luminance. */
export function luminance(hex: string): number {
  const [r, g, b] = parseHex(hex).map((c) => {
    const s = c / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  }) as unknown as Rgb;
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** WCAG 2 contrast ratio between two #rrggbb colours (1–21). */
export function contrast(a: string, b: string): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

/** The colour itself when it is a valid #rrggbb, else the default (settings are validated, but this is CSS). */
export function validBrandColour(colour: string | null | undefined): string {
  return colour && HEX.test(colour) ? colour.toLowerCase() : DEFAULT_BRAND_COLOUR;
}

export interface BrandPalette {
  brand: string;
  on: string;
  ink: string;
}

export function brandPalette(colour: string | null | undefined): BrandPalette {
  const brand = validBrandColour(colour);
  const on = contrast(brand, "#ffffff") >= contrast(brand, "#000000") ? "#ffffff" : "#000000";
  let ink = brand;
  const base = parseHex(brand);
  // Mix toward black in small steps; at most 20 steps reaches black, which is 21:1 on white.
  for (let step = 1; contrast(ink, "#ffffff") < INK_ON_WHITE && step <= 20; step++) {
    const keep = 1 - step / 20;
    ink = toHex(base.map((c) => c * keep) as unknown as Rgb);
  }
  return { brand, on, ink };
}

export function brandCss(colour: string | null | undefined): string {
  const p = brandPalette(colour);
  return `:root{--brand:${p.brand};--brand-on:${p.on};--brand-ink:${p.ink}}\n`;
}
