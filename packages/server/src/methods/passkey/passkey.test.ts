/**
 * The passkey method against @simplewebauthn/server with a software authenticator making real keys
 * and signatures: registration, a gate that passes once, and everything that must fail (another
 * origin, another account's passkey, a replay, a counter going back, a phantom).
 */
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { User } from "../../store/schema.js";
import { createFixture, type Fixture } from "../testing/fixtures.js";
import type { ChallengeContext, VerificationMethod } from "../types.js";
import {
  createPasskeyMethod,
  credentialIdTaken,
  savePasskey,
  storedPasskeys,
  webauthnUserId,
} from "./index.js";
import { passkeyRegistrationOptions, verifyPasskeyRegistration } from "./registration.js";
import { relyingPartyOf } from "./relying-party.js";
import { SoftAuthenticator } from "./testing/soft-authenticator.js";

const ORIGIN = "https://reset.contoso.test";
const RP = { rpId: "reset.contoso.test", origin: ORIGIN };

let fx: Fixture;
let method: VerificationMethod;

beforeAll(async () => {
  fx = await createFixture();
  method = createPasskeyMethod(fx.services);
});
afterAll(async () => {
  await fx.close();
});

async function register(user: User, auth: SoftAuthenticator, name = "Laptop"): Promise<string> {
  const options = await passkeyRegistrationOptions({
    rp: RP,
    rpName: "Contoso",
    userHandle: webauthnUserId(fx.secrets, fx.tenant.id, user.id),
    userName: user.username,
    userDisplayName: user.display_name ?? user.username,
    existing: storedPasskeys(await fx.methods(user.id), user.id),
    random: fx.random,
  });
  expect(options.authenticatorSelection?.residentKey).toBe("required");
  const data = await verifyPasskeyRegistration({
    response: auth.create(options, ORIGIN),
    expectedChallenge: options.challenge,
    rp: RP,
  });
  if (!data) throw new Error("registration did not verify");
  expect(await credentialIdTaken(fx.store.db, fx.tenant.id, data.credentialId)).toBe(false);
  return savePasskey(fx.store.db, { tenantId: fx.tenant.id, userId: user.id, name, data, clock: fx.clock });
}

async function challenge(ctx: ChallengeContext) {
  const started = await method.start(ctx, {});
  if (started.prompt.kind !== "passkey") throw new Error("not a passkey prompt");
  return { ...started, options: started.prompt.options as PublicKeyCredentialRequestOptionsJSON };
}

describe("relyingPartyOf", () => {
  it("takes host names, refuses IP addresses", () => {
    expect(relyingPartyOf("https://reset.contoso.test/x")).toEqual(RP);
    expect(relyingPartyOf("http://localhost:8080")).toEqual({
      rpId: "localhost",
      origin: "http://localhost:8080",
    });
    expect(relyingPartyOf("http://127.0.0.1:8080")).toBeNull();
    expect(relyingPartyOf("http://[::1]:8080")).toBeNull();
    expect(relyingPartyOf("ftp://x.test")).toBeNull();
  });
});

describe("passkey method", () => {
  const auth = new SoftAuthenticator();

  beforeAll(async () => {
    await register(fx.user, auth);
  });

  it("is registered and described without anything secret", async () => {
    const methods = await fx.methods();
    expect(method.isRegistered(methods)).toBe(true);
    expect(method.maskedHint(methods)).toBe("Passkey");
    expect(method.isRegistered([])).toBe(false);
    const row = methods.find((m) => m.type === "passkey");
    expect(row?.label).toBe("Laptop");
    expect(JSON.parse(row?.data_json ?? "{}")).toMatchObject({ rpId: RP.rpId, origin: ORIGIN, counter: 0 });
  });

  it("refuses a credential id registered before (a replayed registration)", async () => {
    const [cred] = storedPasskeys(await fx.methods(), fx.user.id);
    expect(await credentialIdTaken(fx.store.db, fx.tenant.id, cred?.data.credentialId ?? "")).toBe(true);
  });

  it("passes once with a fresh assertion; the counter moves; a replay fails", async () => {
    const ctx = await fx.ctx(fx.user);
    const { challengeId, options } = await challenge(ctx);
    expect(options.allowCredentials).toEqual([]);
    expect(options.rpId).toBeUndefined();
    const assertion = auth.get(options, ORIGIN);
    expect(await method.verify(ctx, { challengeId, response: { assertion } })).toEqual({ ok: true });
    const [cred] = storedPasskeys(await fx.methods(), fx.user.id);
    expect(cred?.data.counter).toBe(1);
    expect(await method.verify(ctx, { challengeId, response: { assertion } })).toEqual({
      ok: false,
      reason: "code_expired",
    });
    // The same assertion against a new challenge: the challenge inside it is the old one.
    const again = await challenge(ctx);
    expect(await method.verify(ctx, { challengeId: again.challengeId, response: { assertion } })).toEqual({
      ok: false,
      reason: "code_wrong",
    });
  });

  it("fails for an assertion made on another origin (phishing)", async () => {
    const ctx = await fx.ctx(fx.user);
    const { challengeId, options } = await challenge(ctx);
    const assertion = auth.get(options, "https://reset.contoso.test.evil.example", () => true);
    expect(await method.verify(ctx, { challengeId, response: { assertion } })).toEqual({
      ok: false,
      reason: "code_wrong",
    });
  });

  it("fails when the counter goes back (a cloned authenticator)", async () => {
    const ctx = await fx.ctx(fx.user);
    const { challengeId, options } = await challenge(ctx);
    const cred = auth.credentials[0];
    if (!cred) throw new Error("no credential");
    cred.counter = -1; // the next assertion signs counter 0, below the stored 1
    const assertion = auth.get(options, ORIGIN);
    expect(await method.verify(ctx, { challengeId, response: { assertion } })).toEqual({
      ok: false,
      reason: "code_wrong",
    });
    cred.counter = 5;
  });

  it("another account's passkey does not pass for this user", async () => {
    const mallory = await fx.addUser("mallory-passkey");
    const malloryAuth = new SoftAuthenticator();
    await register(mallory, malloryAuth);
    const ctx = await fx.ctx(fx.user);
    const { challengeId, options } = await challenge(ctx);
    const assertion = malloryAuth.get(options, ORIGIN);
    expect(await method.verify(ctx, { challengeId, response: { assertion } })).toEqual({
      ok: false,
      reason: "code_wrong",
    });
  });

  it("refuses garbage without throwing", async () => {
    for (const bad of [undefined, null, "x", { id: "a" }, { id: "a", rawId: "a", type: "public-key" }]) {
      const ctx = await fx.ctx(fx.user);
      const { challengeId } = await challenge(ctx);
      expect(await method.verify(ctx, { challengeId, response: { assertion: bad } })).toEqual({
        ok: false,
        reason: "code_wrong",
      });
    }
  });

  it("phantom: the same options shape, and even a real passkey's assertion never passes", async () => {
    const real = await challenge(await fx.ctx(fx.user));
    const ctx = await fx.ctx(null);
    const phantom = await challenge(ctx);
    expect(Object.keys(phantom.options).sort()).toEqual(Object.keys(real.options).sort());
    expect({ ...phantom.options, challenge: "" }).toEqual({ ...real.options, challenge: "" });
    expect(phantom.options.challenge).not.toBe(real.options.challenge);
    const assertion = auth.get(phantom.options, ORIGIN);
    expect(await method.verify(ctx, { challengeId: phantom.challengeId, response: { assertion } })).toEqual({
      ok: false,
      reason: "code_wrong",
    });
  });

  it("an authenticator that keeps no counter (always 0) still passes", async () => {
    const bob = await fx.addUser("bob-passkey");
    const noCount = new SoftAuthenticator(false);
    await register(bob, noCount, "Phone");
    for (let i = 0; i < 2; i++) {
      const ctx = await fx.ctx(bob);
      const { challengeId, options } = await challenge(ctx);
      const assertion = noCount.get(options, ORIGIN);
      expect(await method.verify(ctx, { challengeId, response: { assertion } })).toEqual({ ok: true });
    }
  });
});
