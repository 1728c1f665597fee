/**
 * A software WebAuthn authenticator for the server-side tests: real P-256 keys, real CBOR and real
 * ECDSA signatures in the formats a browser posts ("none" attestation), so @simplewebauthn/server
 * verifies them exactly as it verifies a browser's. The browser tests use Chromium's own virtual
 * authenticator instead. Not used at run time.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { isoBase64URL, isoCBOR } from "@simplewebauthn/server/helpers";
import { coseP256 } from "../index.js";

const b64 = (b: Uint8Array | Buffer) => isoBase64URL.fromBuffer(Uint8Array.from(b));
const sha256 = (b: Uint8Array | string) => createHash("sha256").update(b).digest();

interface Credential {
  id: Buffer;
  privateKey: KeyObject;
  cose: Uint8Array;
  rpId: string;
  userHandle: string;
  counter: number;
}

export class SoftAuthenticator {
  readonly credentials: Credential[] = [];
  /** Whether the authenticator counts signatures (some platform authenticators always send 0). */
  constructor(private readonly counts = true) {}

  private authData(rpId: string, flags: number, counter: number, attested?: Buffer): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, ...(attested ? [attested] : [])]);
  }

  /** navigator.credentials.create() as the browser would answer it from `origin`. */
  create(options: PublicKeyCredentialCreationOptionsJSON, origin: string): RegistrationResponseJSON {
    const rpId = options.rp.id ?? new URL(origin).hostname;
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" });
    const cose = coseP256(jwk.x ?? "", jwk.y ?? "");
    const id = randomBytes(32);
    const cred: Credential = { id, privateKey, cose, rpId, userHandle: options.user.id, counter: 0 };
    this.credentials.push(cred);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(id.length);
    const attested = Buffer.concat([Buffer.alloc(16), len, id, Buffer.from(cose)]);
    // UP | UV | AT
    const authData = this.authData(rpId, 0x01 | 0x04 | 0x40, 0, attested);
    const clientDataJSON = JSON.stringify({
      type: "webauthn.create",
      challenge: options.challenge,
      origin,
      crossOrigin: false,
    });
    const attestationObject = isoCBOR.encode(
      new Map<string, unknown>([
        ["fmt", "none"],
        ["attStmt", new Map()],
        ["authData", Uint8Array.from(authData)],
      ]) as never,
    );
    return {
      id: b64(id),
      rawId: b64(id),
      type: "public-key",
      response: {
        clientDataJSON: b64(Buffer.from(clientDataJSON)),
        attestationObject: b64(attestationObject),
        transports: ["internal"],
      },
      clientExtensionResults: {},
    };
  }

  /**
   * navigator.credentials.get(): signs with the credential `pick` chooses (default: the first made
   * for the RP ID), as the browser would from `origin`.
   */
  get(
    options: PublicKeyCredentialRequestOptionsJSON,
    origin: string,
    pick?: (c: Credential) => boolean,
  ): AuthenticationResponseJSON {
    const rpId = options.rpId ?? new URL(origin).hostname;
    const cred = this.credentials.find((c) => (pick ? pick(c) : c.rpId === rpId));
    if (!cred) throw new Error("soft authenticator: no credential for this relying party");
    if (this.counts) cred.counter += 1;
    const authData = this.authData(rpId, 0x01 | 0x04, this.counts ? cred.counter : 0);
    const clientDataJSON = Buffer.from(
      JSON.stringify({ type: "webauthn.get", challenge: options.challenge, origin, crossOrigin: false }),
    );
    const signature = sign("sha256", Buffer.concat([authData, sha256(clientDataJSON)]), cred.privateKey);
    return {
      id: b64(cred.id),
      rawId: b64(cred.id),
      type: "public-key",
      response: {
        clientDataJSON: b64(clientDataJSON),
        authenticatorData: b64(authData),
        signature: b64(signature),
        userHandle: cred.userHandle,
      },
      clientExtensionResults: {},
    };
  }
}
