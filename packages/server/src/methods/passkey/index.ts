/**
 * Passkey (WebAuthn) as a verification method: the person proves possession of a passkey they
 * registered in "my account" (flows/registration). Phishing-resistant, which no code is: the
 * browser signs the page's real origin and the authenticator only answers for the site the passkey
 * was made for.
 *
 * Start: a random 32-byte challenge, kept in the challenge row, and request options with no
 * allowCredentials and no rpId. Passkeys are registered as discoverable credentials, so the
 * browser finds them itself; the options therefore hold nothing about the user, and a phantom (an
 * unknown user, or a user without a passkey) gets options of exactly the same shape — a prompt that
 * listed credential ids would tell who has a passkey. Without rpId the browser uses the page's own
 * domain, which is the relying party a passkey of ours was made for (relying-party.ts).
 *
 * Verify: the assertion's credential is looked up among the user's passkeys; the signature, the
 * challenge, the origin and RP ID the passkey was registered with, and the user handle are checked
 * by @simplewebauthn/server; the signature counter must grow (when the authenticator keeps one)
 * and moves by compare-and-set on the row, so one assertion cannot pass twice. When there is no
 * matching passkey (phantom, foreign credential, garbage), the same verification runs against a
 * process-wide stand-in key and fails, so the work is the same.
 */
import { generateKeyPairSync } from "node:crypto";
import {
  type AuthenticationResponseJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  verifyAuthenticationResponse,
} from "@simplewebauthn/server";
import { isoBase64URL, isoCBOR } from "@simplewebauthn/server/helpers";
import { z } from "zod";
import { safeEqual } from "../../core/secrets.js";
import { challengeState, consumeChallenge, countAttempt, createChallenge } from "../shared/challenges.js";
import type { MethodServices, VerificationMethod } from "../types.js";
import { type StoredPasskey, storedPasskeys, webauthnUserId } from "./credentials.js";

export {
  credentialIdTaken,
  MAX_PASSKEYS_PER_USER,
  PASSKEY_NAME_MAX,
  type PasskeyData,
  passkeyDataSchema,
  type StoredPasskey,
  savePasskey,
  storedPasskeys,
  webauthnUserId,
} from "./credentials.js";
export { type RelyingParty, relyingPartyOf, relyingPartyResolver } from "./relying-party.js";

/**
 * The browser side of both ceremonies, same-origin (the CSP allows no other): the
 * @simplewebauthn/browser bundle (served by flows/registration/pages.ts) and static/passkey.js,
 * which wires the buttons carrying data-passkey-options / data-passkey-registration-options.
 */
export const PASSKEY_SCRIPTS = ["/static/vendor/simplewebauthn-browser.js", "/static/passkey.js"] as const;

/** How long the browser may take for the ceremony (the person finds their phone or key). */
export const PASSKEY_TIMEOUT_MS = 120_000;

/** The shape of an assertion as @simplewebauthn/browser posts it; anything else is refused before any work. */
export const assertionSchema = z.object({
  id: z.string().min(1).max(1400),
  rawId: z.string().min(1).max(1400),
  type: z.literal("public-key"),
  response: z.object({
    clientDataJSON: z.string().min(1).max(4000),
    authenticatorData: z.string().min(1).max(4000),
    signature: z.string().min(1).max(1000),
    userHandle: z.string().max(200).optional(),
  }),
  authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
});

/** A COSE EC2 P-256 public key from its JWK coordinates. */
export function coseP256(x: string, y: string): Uint8Array<ArrayBuffer> {
  return isoCBOR.encode(
    new Map<number, number | Uint8Array>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, isoBase64URL.toBuffer(x)],
      [-3, isoBase64URL.toBuffer(y)],
    ]),
  );
}

/** A key nobody holds the private half of (it is dropped): what a missing passkey is checked against. */
const standInPublicKey = (() => {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" });
  return coseP256(jwk.x ?? "", jwk.y ?? "");
})();

const STAND_IN: StoredPasskey = {
  methodId: "",
  label: "",
  dataJson: "",
  data: {
    credentialId: "stand-in",
    publicKey: isoBase64URL.fromBuffer(standInPublicKey),
    counter: 0,
    transports: [],
    rpId: "stand-in.invalid",
    origin: "https://stand-in.invalid",
  },
};

const challengeDataSchema = z.object({ challenge: z.string().min(1) });

export function createPasskeyMethod(services: MethodServices): VerificationMethod {
  return {
    type: "passkey",

    isRegistered(methods) {
      return methods.some((m) => m.type === "passkey" && m.confirmed_at !== null);
    },

    maskedHint(methods) {
      return methods.some((m) => m.type === "passkey" && m.confirmed_at !== null) ? "Passkey" : null;
    },

    async start(ctx) {
      const challenge = isoBase64URL.fromBuffer(Uint8Array.from(services.random.bytes(32)));
      const challengeId = await createChallenge(services, {
        tenantId: ctx.tenant.id,
        flowId: ctx.flowId,
        userId: ctx.user?.id ?? null,
        methodType: "passkey",
        expiresAt: services.clock.now() + PASSKEY_TIMEOUT_MS + 60_000,
        // The challenge is sent to the browser anyway: it is single-use, not a secret.
        data: { challenge },
      });
      const options: PublicKeyCredentialRequestOptionsJSON = {
        challenge,
        timeout: PASSKEY_TIMEOUT_MS,
        userVerification: "preferred",
        allowCredentials: [],
      };
      return { challengeId, prompt: { kind: "passkey", options } };
    },

    async verify(ctx, input) {
      const { db, clock, secrets } = services;
      const userId = ctx.user?.id ?? null;
      const key = {
        tenantId: ctx.tenant.id,
        flowId: ctx.flowId,
        methodType: "passkey",
        challengeId: input.challengeId,
      };
      const row = await countAttempt(services, key);
      let expected = "";
      try {
        expected = challengeDataSchema.parse(JSON.parse(row?.dataJson ?? "{}")).challenge;
      } catch {
        expected = "";
      }
      const parsed = assertionSchema.safeParse(input.response.assertion);
      // Fresh from the store: the counter may have moved since the flow loaded the methods.
      const rows = await db
        .selectFrom("auth_methods")
        .selectAll()
        .where("tenant_id", "=", ctx.tenant.id)
        .where("user_id", "=", userId ?? "")
        .where("type", "=", "passkey")
        .execute();
      const own = storedPasskeys(rows, userId);
      const assertion = parsed.success ? (parsed.data as AuthenticationResponseJSON) : null;
      let found: StoredPasskey | null = null;
      for (const p of own) {
        const same = assertion !== null && safeEqual(p.data.credentialId, assertion.id);
        if (same && found === null) found = p;
      }
      const cred = found ?? STAND_IN;
      let verified: { newCounter: number } | null = null;
      if (assertion) {
        try {
          const out = await verifyAuthenticationResponse({
            response: assertion,
            expectedChallenge: (c) => expected !== "" && safeEqual(c, expected),
            expectedOrigin: cred.data.origin,
            expectedRPID: cred.data.rpId,
            credential: {
              id: found ? cred.data.credentialId : assertion.id,
              publicKey: isoBase64URL.toBuffer(cred.data.publicKey),
              counter: cred.data.counter,
              transports: cred.data.transports as never,
            },
            requireUserVerification: false,
          });
          if (out.verified) verified = { newCounter: out.authenticationInfo.newCounter };
        } catch {
          // Wrong signature, origin, challenge or counter: a failed proof like a wrong code.
        }
      }
      // The user handle, when the authenticator gives one, must be this user's (a discoverable
      // credential of another account on the same authenticator must not pass for this one).
      const handleOk =
        assertion?.response.userHandle === undefined ||
        (userId !== null &&
          safeEqual(
            assertion.response.userHandle,
            isoBase64URL.fromBuffer(webauthnUserId(secrets, ctx.tenant.id, userId)),
          ));
      if (!row) return { ok: false, reason: "code_wrong" };
      const state = challengeState(row, clock.now(), userId);
      if (state === "expired") return { ok: false, reason: "code_expired" };
      if (state === "foreign" || found === null || verified === null || !handleOk)
        return { ok: false, reason: "code_wrong" };
      const res = await db
        .updateTable("auth_methods")
        .set({
          data_json: JSON.stringify({ ...found.data, counter: verified.newCounter }),
          last_used_at: clock.now(),
        })
        .where("id", "=", found.methodId)
        .where("data_json", "=", found.dataJson)
        .executeTakeFirst();
      if (res.numUpdatedRows !== 1n) return { ok: false, reason: "code_wrong" };
      if (!(await consumeChallenge(services, key))) return { ok: false, reason: "code_expired" };
      return { ok: true };
    },
  };
}
