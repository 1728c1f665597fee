import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { attrs, escapeHtml, html, join, raw, SafeHtml, safeUrl } from "./html.js";

/** The inverse of escapeHtml, for checking round trips. */
function decodeEntities(s: string): string {
  return s
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&#96;/g, "`")
    .replace(/&amp;/g, "&");
}

describe("html``", () => {
  it("escapes interpolated text in element content", () => {
    expect(html`<p>${"<script>alert(1)</script> & co"}</p>`.toString()).toBe(
      "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; co</p>",
    );
  });

  it("escapes both quote kinds, so neither attribute style can be left", () => {
    const evil = `x" onmouseover="alert(1)' onfocus='alert(2)`;
    expect(html`<a title="${evil}">a</a>`.toString()).toBe(
      '<a title="x&quot; onmouseover=&quot;alert(1)&#39; onfocus=&#39;alert(2)">a</a>',
    );
    expect(html`<a title='${evil}'>a</a>`.toString()).not.toMatch(/'[^']*'[^>]*'/);
  });

  it("does not escape nested html`` twice, and joins arrays", () => {
    const items = ["a<b", "c&d"].map((s) => html`<li>${s}</li>`);
    expect(html`<ul>${items}</ul>`.toString()).toBe("<ul><li>a&lt;b</li><li>c&amp;d</li></ul>");
  });

  it("renders nothing for null, undefined and false, and numbers as text", () => {
    const no = false as boolean;
    expect(html`<p>${null}${undefined}${no && html`<b>x</b>`}${0}${12n}</p>`.toString()).toBe("<p>012</p>");
  });

  it("refuses an unquoted attribute value", () => {
    expect(() => html`<input value=${"x onfocus=alert(1)"}>`).toThrow(/quote the attribute value/);
    expect(() => html`<input value= ${"x"}>`).toThrow(/quote the attribute value/);
  });

  it("refuses plain text between attributes but takes attrs()", () => {
    expect(() => html`<input ${"onfocus=alert(1)"}>`).toThrow(/inside a tag/);
    expect(html`<input${attrs({ name: "q", required: true, disabled: false })}>`.toString()).toBe(
      '<input name="q" required>',
    );
  });

  it("allows = in element content", () => {
    expect(html`<p>2 + 2 = ${4}</p>`.toString()).toBe("<p>2 + 2 = 4</p>");
  });

  it("neutralises script URLs in URL attributes, keeps safe ones", () => {
    expect(html`<a href="${"javascript:alert(1)"}">x</a>`.toString()).toBe(
      '<a href="about:invalid#unsafe-url">x</a>',
    );
    expect(html`<a href="${" Java\tScript:alert(1)"}">x</a>`.toString()).toContain("about:invalid");
    expect(html`<a href="${"data:text/html,<script>"}">x</a>`.toString()).toContain("about:invalid");
    expect(html`<a href="${"https://help.example.com/?a=1&b=2"}">x</a>`.toString()).toBe(
      '<a href="https://help.example.com/?a=1&amp;b=2">x</a>',
    );
    expect(html`<form action="${"/reset/identify"}"></form>`.toString()).toBe(
      '<form action="/reset/identify"></form>',
    );
    // A fixed prefix makes the scheme ours, so the value is only escaped.
    expect(html`<a href="/u/${"javascript:x"}">x</a>`.toString()).toBe('<a href="/u/javascript:x">x</a>');
  });

  it("only html`` and raw() make SafeHtml", () => {
    expect(() => new SafeHtml(Symbol("latchkey.SafeHtml"), "<b>")).toThrow(TypeError);
    expect(html`${raw("<b>ok</b>")}`.toString()).toBe("<b>ok</b>");
  });

  it("join() escapes parts and separator", () => {
    expect(join(["<a>", html`<b></b>`], " & ").toString()).toBe("&lt;a&gt; &amp; <b></b>");
  });
});

describe("attrs()", () => {
  it("escapes values, drops empty ones and rejects hostile names", () => {
    expect(attrs({ "aria-describedby": 'a" b', "data-x": 3, hidden: null }).toString()).toBe(
      ' aria-describedby="a&quot; b" data-x="3"',
    );
    expect(() => attrs({ 'x" onclick="y': "1" })).toThrow(/invalid attribute name/);
    expect(attrs({ href: "javascript:alert(1)" }).toString()).toBe(' href="about:invalid#unsafe-url"');
  });
});

describe("safeUrl()", () => {
  it("keeps relative, http(s), mailto and tel; replaces other schemes", () => {
    for (const ok of [
      "/a",
      "a/b",
      "#main",
      "?x=1",
      "https://x.test",
      "HTTP://x",
      "mailto:a@b",
      "tel:+4412",
    ]) {
      expect(safeUrl(ok)).toBe(ok);
    }
    for (const bad of [
      "javascript:x",
      "JAVASCRIPT:x",
      "\u0000javascript:x",
      "vbscript:x",
      "data:x",
      "blob:x",
    ]) {
      expect(safeUrl(bad)).toBe("about:invalid#unsafe-url");
    }
  });
});

describe("html`` properties", () => {
  // Strings rich in the characters that matter, plus arbitrary Unicode.
  const hostile = fc.oneof(
    fc.string({
      unit: fc.constantFrom(
        "<",
        ">",
        '"',
        "'",
        "`",
        "&",
        "=",
        "/",
        " ",
        "s",
        "c",
        "r",
        "i",
        "p",
        "t",
        "S",
        "C",
        "#",
        ";",
      ),
      maxLength: 40,
    }),
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.constantFrom("<script>alert(1)</script>", "<ScRiPt src=//x>", '"><script>', "'><img src=x onerror=1>"),
  );

  it("no interpolated string produces a <script tag in content", () => {
    fc.assert(
      fc.property(hostile, (s) => {
        const out = html`<div><p>${s}</p></div>`.toString();
        expect(out.toLowerCase()).not.toContain("<script");
        expect(out).toMatch(/^<div><p>[^<>]*<\/p><\/div>$/);
        expect(decodeEntities(out.slice(8, -10))).toBe(s);
      }),
      { numRuns: 2000 },
    );
  });

  it("no interpolated string leaves a double- or single-quoted attribute", () => {
    fc.assert(
      fc.property(hostile, hostile, (a, b) => {
        const out = html`<input title="${a}" data-x='${b}'>`.toString();
        const m = /^<input title="([^"<>]*)" data-x='([^'<>]*)'>$/.exec(out);
        expect(m, out).not.toBeNull();
        expect(decodeEntities(m![1]!)).toBe(a);
        expect(decodeEntities(m![2]!)).toBe(b);
      }),
      { numRuns: 2000 },
    );
  });

  it("escapeHtml output never holds a raw markup character", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => {
        expect(escapeHtml(s)).not.toMatch(/[<>"'`]/);
        expect(decodeEntities(escapeHtml(s))).toBe(s);
      }),
    );
  });
});
