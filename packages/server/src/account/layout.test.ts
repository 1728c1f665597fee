/**
 * The account frame renders (a throw here is a 500 on every account page, H5's too): the navigation
 * marks the current section, sign-out is a POST with the session's CSRF token.
 */
import { describe, expect, it } from "vitest";
import { translator } from "../i18n/index.js";
import { accountNav } from "./layout.js";

describe("account navigation", () => {
  const t = translator("en");
  it("marks the current section and signs out by POST with the CSRF token", () => {
    const nav = accountNav(t, "password", "tok-123").toString();
    expect(nav).toContain('<a class="account-nav-link" href="/account/password" aria-current="page">');
    expect(nav.match(/aria-current/g)).toHaveLength(1);
    expect(nav).toMatch(
      /<form method="post" action="\/account\/sign-out"[^>]*>\s*<input type="hidden" name="_csrf" value="tok-123">/,
    );
  });
  it("marks nothing on an interrupt page", () => {
    expect(accountNav(t, null, "x").toString()).not.toContain("aria-current");
  });
});
