import { describe, expect, it } from "vitest";
import { hashPassword, verifyPassword } from "./password-hash.js";

describe("password hashing", () => {
  it("produces argon2id PHC strings with the OWASP parameters and no plaintext", async () => {
    const hash = await hashPassword("correct horse battery staple");
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(hash).not.toContain("correct horse");
  });

  it("verifies the right password and refuses a wrong one", async () => {
    const hash = await hashPassword("S3cret-pass");
    expect(await verifyPassword(hash, "S3cret-pass")).toBe(true);
    expect(await verifyPassword(hash, "S3cret-pasS")).toBe(false);
  });

  it("salts: the same password gives two different hashes", async () => {
    expect(await hashPassword("same")).not.toBe(await hashPassword("same"));
  });

  it("answers false, without throwing, for a malformed hash", async () => {
    expect(await verifyPassword("not-a-hash", "x")).toBe(false);
    expect(await verifyPassword("", "x")).toBe(false);
  });
});
