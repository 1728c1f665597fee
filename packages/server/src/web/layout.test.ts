import { describe, expect, it } from "vitest";
import { html } from "./html.js";
import { type Branding, renderPage } from "./layout.js";

const branding: Branding = {
  organisationName: "Acme <Widgets> & Co",
  helpdeskUrl: "https://help.example.com/it?x=1&y=2",
  helpdeskText: "Call the IT helpdesk on 0100",
  primaryColour: "#1f4e8c",
};

function page(extra: Partial<Parameters<typeof renderPage>[0]> = {}): string {
  return renderPage({
    title: "Reset your password",
    lang: "en",
    branding,
    body: html`<h1>Reset</h1>`,
    ...extra,
  });
}

describe("renderPage()", () => {
  it("is an HTML5 document with lang, charset and a responsive viewport", () => {
    const out = page();
    expect(out.startsWith('<!doctype html>\n<html lang="en">')).toBe(true);
    expect(out).toContain('<meta charset="utf-8">');
    expect(out).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
  });

  it("has a skip link to <main id=main>, a header with the organisation and a footer with the helpdesk", () => {
    const out = page();
    expect(out).toMatch(/<body>\n<a class="skip-link" href="#main">Skip to main content<\/a>/);
    expect(out).toContain('<main id="main" tabindex="-1">\n<h1>Reset</h1>\n</main>');
    expect(out).toContain('<p class="site-header-org">Acme &lt;Widgets&gt; &amp; Co</p>');
    expect(out).toContain(
      '<a href="https://help.example.com/it?x=1&amp;y=2">Call the IT helpdesk on 0100</a>',
    );
    expect(out.indexOf("<header")).toBeLessThan(out.indexOf("<main"));
    expect(out.indexOf("</main>")).toBeLessThan(out.indexOf("<footer"));
  });

  it("titles the page with the organisation, and with Error: when the page shows errors", () => {
    expect(page()).toContain("<title>Reset your password – Acme &lt;Widgets&gt; &amp; Co</title>");
    expect(page({ hasErrors: true })).toContain("<title>Error: Reset your password – Acme");
  });

  it("shows a helpdesk URL with an unsafe scheme as text only", () => {
    const out = page({ branding: { ...branding, helpdeskUrl: "javascript:alert(1)" } });
    expect(out).not.toContain("javascript:");
    expect(out).toContain("<p>Call the IT helpdesk on 0100</p>");
    expect(page({ branding: { ...branding, helpdeskUrl: null } })).toContain(
      "<p>Call the IT helpdesk on 0100</p>",
    );
  });

  it("loads our stylesheet, the tenant colour and scripts only as deferred external files", () => {
    const out = page({
      tenant: "acme",
      scripts: ["/static/password-rules.js", { src: "/static/vendor/altcha.js", module: true }],
      stylesheets: ["/static/vendor/altcha.css"],
    });
    expect(out).toContain('<link rel="stylesheet" href="/static/latchkey.css">');
    expect(out).toContain('<link rel="stylesheet" href="/brand.css?tenant=acme">');
    expect(out).toContain('<link rel="stylesheet" href="/static/vendor/altcha.css">');
    expect(out).toContain('<script src="/static/latchkey.js" defer></script>');
    expect(out).toContain('<script src="/static/password-rules.js" defer></script>');
    expect(out).toContain('<script src="/static/vendor/altcha.js" type="module"></script>');
    // Every <script> has a src: nothing inline for the CSP to block.
    expect(out.match(/<script\b[^>]*>/g)?.every((tag) => / src="\/static\//.test(tag))).toBe(true);
    expect(out).not.toMatch(/<style|\sstyle=/i);
  });

  it("refuses scripts and stylesheets from another origin", () => {
    for (const src of [
      "https://cdn.example.com/x.js",
      "//cdn.example.com/x.js",
      "static/x.js",
      '/x.js" onload="y',
    ]) {
      expect(() => page({ scripts: [src] }), src).toThrow(/same-origin/);
      expect(() => page({ stylesheets: [src] }), src).toThrow(/same-origin/);
    }
  });

  it("exposes the CSRF token to scripts in a meta tag, escaped", () => {
    expect(page({ csrf: 'a"b' })).toContain('<meta name="csrf-token" content="a&quot;b">');
    expect(page()).not.toContain("csrf-token");
  });
});
