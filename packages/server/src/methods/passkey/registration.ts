/**
 * The passkey registration ceremony's two halves (the registration flow keeps the challenge between
 * them): options for navigator.credentials.create(), and the verification of what the browser
 * answered. Passkeys are made discoverable (residentKey "required") so that authentication needs no
 * credential list (see index.ts); attestation is not asked for ("none"): Latchkey does not restrict
 * which authenticator people use.
 */
import {
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type RegistrationResponseJSON,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";
import { isoBase64URL } from "@simplewebauthn/server/helpers";
import { z } from "zod";
import type { Random } from "../../core/random.js";
import { safeEqual } from "../../core/secrets.js";
import type { PasskeyData, StoredPasskey } from "./credentials.js";
import { PASSKEY_TIMEOUT_MS } from "./index.js";
import type { RelyingParty } from "./relying-party.js";

export interface RegistrationOptionsInput {
  rp: RelyingParty;
  /** Shown by the browser as who is asking: the organisation name. */
  rpName: string;
  userHandle: Uint8Array;
  /** Shown by the browser as the account: the UPN or user name. */
  userName: string;
  userDisplayName: string;
  /** The user's passkeys: an authenticator that already holds one is told not to make another. */
  existing: StoredPasskey[];
  random: Random;
}

export async function passkeyRegistrationOptions(
  input: RegistrationOptionsInput,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: input.rpName,
    rpID: input.rp.rpId,
    userID: Uint8Array.from(input.userHandle),
    userName: input.userName,
    userDisplayName: input.userDisplayName,
    challenge: Uint8Array.from(input.random.bytes(32)),
    timeout: PASSKEY_TIMEOUT_MS,
    attestationType: "none",
    excludeCredentials: input.existing
      .filter((p) => p.data.rpId === input.rp.rpId)
      .map((p) => ({ id: p.data.credentialId, transports: p.data.transports as never })),
    authenticatorSelection: { residentKey: "required", userVerification: "preferred" },
    // ES256 and RS256 cover every authenticator people use; EdDSA where offered.
    supportedAlgorithmIDs: [-7, -8, -257],
  });
}

/** The shape of a registration response as @simplewebauthn/browser posts it. */
export const attestationSchema = z.object({
  id: z.string().min(1).max(1400),
  rawId: z.string().min(1).max(1400),
  type: z.literal("public-key"),
  response: z.object({
    clientDataJSON: z.string().min(1).max(4000),
    attestationObject: z.string().min(1).max(20_000),
    transports: z.array(z.string().max(20)).max(10).optional(),
    authenticatorData: z.string().max(20_000).optional(),
    publicKey: z.string().max(2000).optional(),
    publicKeyAlgorithm: z.number().int().optional(),
  }),
  authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
});

/**
 * Verifies the browser's answer to `passkeyRegistrationOptions`; returns what to store, or null when
 * it does not verify (wrong challenge, origin or RP ID, malformed, no user presence).
 */
export async function verifyPasskeyRegistration(input: {
  response: unknown;
  expectedChallenge: string;
  rp: RelyingParty;
}): Promise<PasskeyData | null> {
  const parsed = attestationSchema.safeParse(input.response);
  if (!parsed.success) return null;
  try {
    const out = await verifyRegistrationResponse({
      response: parsed.data as RegistrationResponseJSON,
      expectedChallenge: (c) => safeEqual(c, input.expectedChallenge),
      expectedOrigin: input.rp.origin,
      expectedRPID: input.rp.rpId,
      requireUserVerification: false,
    });
    if (!out.verified) return null;
    const info = out.registrationInfo;
    return {
      credentialId: info.credential.id,
      publicKey: isoBase64URL.fromBuffer(info.credential.publicKey),
      counter: info.credential.counter,
      transports: info.credential.transports ?? parsed.data.response.transports ?? [],
      rpId: input.rp.rpId,
      origin: input.rp.origin,
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      aaguid: info.aaguid,
    };
  } catch {
    return null;
  }
}
