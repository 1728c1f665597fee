import { describe, expect, it } from "vitest";
import {
  adminResetNoticeEmail,
  contactAdminRequestEmail,
  MESSAGE_IDS,
  MESSAGES,
  passwordResetEmail,
  verificationCodeEmail,
  verificationCodeSms,
  verificationCodeVoice,
} from "./templates.js";

const at = Date.UTC(2026, 2, 14, 9, 26, 0);

describe("message templates", () => {
  it("has every message id in every locale table", () => {
    for (const table of Object.values(MESSAGES))
      expect(Object.keys(table).sort()).toEqual([...MESSAGE_IDS].sort());
  });

  it("puts the code in the email, SMS and voice text", () => {
    const e = verificationCodeEmail({ code: "042917", organisationName: "Acme", minutes: 5 });
    expect(e.subject).toBe("Acme verification code");
    expect(e.text).toContain("042917");
    expect(e.html).toContain("042917");
    expect(verificationCodeSms({ code: "042917", organisationName: "Acme", minutes: 5 })).toMatch(
      /^042917 is your Acme/,
    );
    const v = verificationCodeVoice({ code: "042917", organisationName: "Acme", minutes: 5 });
    expect(v.split("0, 4, 2, 9, 1, 7")).toHaveLength(3);
  });

  it("escapes what it interpolates into HTML", () => {
    const e = passwordResetEmail({
      organisationName: "<b>Org</b>",
      username: 'x"><script>',
      at,
      ip: "198.51.100.7",
      helpdeskText: "Call 123.",
      helpdeskUrl: "https://help.example/?a=1&b=2",
    });
    expect(e.html).not.toContain("<script>");
    expect(e.html).toContain("&lt;script&gt;");
    expect(e.html).toContain('href="https://help.example/?a=1&amp;b=2"');
    expect(e.text).toContain('x"><script>');
  });

  it("says when and from where a password was reset, and what to do if it wasn't you", () => {
    const e = passwordResetEmail({
      organisationName: "Acme",
      username: "alice",
      displayName: "Alice Smith",
      at,
      ip: "198.51.100.7",
      helpdeskText: "Call 555-0100.",
    });
    expect(e.text).toContain("Alice Smith (alice)");
    expect(e.text).toContain("14 March 2026 at 09:26:00 UTC");
    expect(e.text).toContain("198.51.100.7");
    expect(e.text).toContain("If this wasn't you");
    expect(e.text).toContain("Call 555-0100.");
    expect(
      passwordResetEmail({
        organisationName: "Acme",
        username: "a",
        at,
        ip: null,
        helpdeskText: "h",
        timeZone: "Not/AZone",
      }).text,
    ).toContain("2026-03-14T09:26:00.000Z from an unknown address");
  });

  it("tells admins who reset and who asks for help", () => {
    const n = adminResetNoticeEmail({
      organisationName: "Acme",
      username: "root-admin",
      at,
      ip: "203.0.113.9",
    });
    expect(n.subject).toContain("administrator");
    expect(n.text).toContain("root-admin");
    const c = contactAdminRequestEmail({
      organisationName: "Acme",
      username: "bob",
      reasonCode: "not_enough_methods",
      reasonText: "The account has fewer registered methods than the policy requires.",
      at,
      ip: "203.0.113.9",
    });
    expect(c.text).toContain("(not_enough_methods)");
    expect(c.text).toContain("bob");
  });
});
