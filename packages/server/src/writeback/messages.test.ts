/**
 * Every outcome a person can be shown has a sentence: each directory error code (protocol
 * DIRECTORY_ERRORS) and each code the server gives itself (WRITEBACK_ERRORS) names a message id in
 * the English catalogue, and no sentence leaks a raw directory code.
 */
import { DIRECTORY_ERRORS } from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import { hasMessage, t } from "../i18n/index.js";
import { WRITEBACK_ERRORS } from "./service.js";

describe("writeback messages", () => {
  const ids = [
    ...Object.values(DIRECTORY_ERRORS).map((e) => e.messageId),
    ...Object.values(WRITEBACK_ERRORS).map((e) => e.messageId),
    "password.pending",
  ];
  it.each(ids)("%s has an English sentence without raw directory codes", (id) => {
    expect(hasMessage(id)).toBe(true);
    const text = t("en", id);
    expect(text).not.toMatch(/0000052D|00000056|775|52e|ppolicy|LDAP|unicodePwd/i);
    expect(text.length).toBeGreaterThan(20);
  });
});
