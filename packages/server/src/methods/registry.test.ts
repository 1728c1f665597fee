import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { METHOD_TYPES } from "../config/tenant-settings.js";
import { randomSecrets } from "../core/secrets.js";
import { createMethods, methodFor } from "./registry.js";
import { maskEmail, maskPhone, normaliseEmail, normalisePhone, phantomMask } from "./shared/contact.js";
import { createFixture, type Fixture } from "./testing/fixtures.js";

describe("createMethods", () => {
  let fx: Fixture;
  beforeAll(async () => {
    fx = await createFixture();
  });
  afterAll(async () => {
    await fx.close();
  });

  it("builds every method, each under its own type", () => {
    const methods = createMethods(fx.services);
    for (const t of METHOD_TYPES) expect(methodFor(methods, t)?.type).toBe(t);
  });
});

describe("contacts", () => {
  it("normalises phone numbers to E.164", () => {
    expect(normalisePhone("+49 151 1234-5689")).toBe("+4915112345689");
    expect(normalisePhone("0049 (151) 12345689")).toBe("+4915112345689");
    expect(normalisePhone("+1 (555) 010.0199")).toBe("+15550100199");
    expect(normalisePhone("0151 12345689")).toBeNull();
    expect(normalisePhone("+0 123 456 789")).toBeNull();
    expect(normalisePhone("+49 151 1234 5689 ext 12")).toBeNull();
    expect(normalisePhone("")).toBeNull();
  });

  it("normalises email addresses", () => {
    expect(normaliseEmail("  John.Doe@Contoso.COM ")).toBe("john.doe@contoso.com");
    expect(normaliseEmail("no-at-sign")).toBeNull();
    expect(normaliseEmail("a b@c.d")).toBeNull();
    expect(normaliseEmail("@c.d")).toBeNull();
  });

  it("masks them", () => {
    expect(maskEmail("john@contoso.com")).toBe("j•••@c•••.com");
    expect(maskEmail("é@mail.example.co.uk")).toBe("é•••@m•••.uk");
    expect(maskPhone("+4915112345689")).toBe("•••• •••• 89");
  });

  it("gives phantoms a stable, key-dependent mask", () => {
    const s = randomSecrets();
    expect(phantomMask(s, "email", "flow-1")).toMatch(/^[a-z]•••@[a-z]•••\.[a-z]+$/);
    expect(phantomMask(s, "email", "flow-1")).toBe(phantomMask(s, "email", "flow-1"));
    expect(phantomMask(s, "phone", "flow-1")).toMatch(/^•••• •••• \d\d$/);
  });
});
