import { createPrivateKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  open,
  openRaw,
  operationAad,
  SEAL_INFO,
  SealError,
  seal,
  sealRaw,
  x25519PrivateKey,
  x25519PublicKeyRaw,
} from "./sealing.js";

const hex = (s: string) => Buffer.from(s, "hex");
/** A standalone ArrayBuffer copy (what @hpke/core takes). */
const ab = (u: Uint8Array): ArrayBuffer => new Uint8Array(u).buffer;

function agentKey(): { sk: KeyObject; pk: Uint8Array; raw: Uint8Array } {
  const { privateKey } = generateKeyPairSync("x25519");
  const d = privateKey.export({ format: "jwk" }).d as string;
  return { sk: privateKey, pk: x25519PublicKeyRaw(privateKey), raw: Buffer.from(d, "base64url") };
}

const fields = {
  opId: "op-1",
  kind: "reset",
  tenantId: "t1",
  anchor: "6b1c7e0e-1f2a-4c7b-9e51-0d1c2b3a4f5e",
};
const pt = new TextEncoder().encode(JSON.stringify({ newPassword: "Correct-Horse-9!" }));

describe("RFC 9180 A.1 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base)", () => {
  const skR = x25519PrivateKey(hex("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8"));
  const skE = x25519PrivateKey(hex("52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736"));
  const info = hex("4f6465206f6e2061204772656369616e2055726e");
  const vpt = hex("4265617574792069732074727574682c20747275746820626561757479");
  const aad = hex("436f756e742d30");
  const enc = "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431";
  const ct = "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a";

  it("derives the vector's public key, enc and ciphertext", () => {
    const pkR = x25519PublicKeyRaw(skR);
    expect(Buffer.from(pkR).toString("hex")).toBe(
      "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
    );
    const out = sealRaw(pkR, vpt, aad, info, { privateKey: skE, publicRaw: x25519PublicKeyRaw(skE) });
    expect(out.toString("hex")).toBe(enc + ct);
    expect(Buffer.from(openRaw(skR, hex(enc + ct), aad, info))).toEqual(vpt);
  });
});

describe("seal / open", () => {
  it("round-trips with a KeyObject and with the raw private key", async () => {
    const a = agentKey();
    const aad = operationAad(fields);
    const sealed = await seal(a.pk, pt, aad);
    expect(sealed).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(Buffer.from(await open(a.sk, sealed, aad))).toEqual(Buffer.from(pt));
    expect(Buffer.from(await open(a.raw, sealed, aad))).toEqual(Buffer.from(pt));
    // enc (32) + plaintext + tag (16)
    expect(Buffer.from(sealed, "base64url").length).toBe(32 + pt.length + 16);
  });

  it("two seals of the same plaintext differ (fresh ephemeral key)", async () => {
    const a = agentKey();
    const aad = operationAad(fields);
    expect(await seal(a.pk, pt, aad)).not.toBe(await seal(a.pk, pt, aad));
  });

  it("another agent's key cannot open it", async () => {
    const a = agentKey();
    const b = agentKey();
    const aad = operationAad(fields);
    const sealed = await seal(a.pk, pt, aad);
    await expect(open(b.sk, sealed, aad)).rejects.toBeInstanceOf(SealError);
  });

  for (const field of ["opId", "kind", "tenantId", "anchor"] as const) {
    it(`a changed ${field} in the associated data fails`, async () => {
      const a = agentKey();
      const sealed = await seal(a.pk, pt, operationAad(fields));
      const changed = operationAad({ ...fields, [field]: `${fields[field]}x` });
      await expect(open(a.sk, sealed, changed)).rejects.toBeInstanceOf(SealError);
    });
  }

  it("tampered, truncated or malformed payloads fail", async () => {
    const a = agentKey();
    const aad = operationAad(fields);
    const bytes = Buffer.from(await seal(a.pk, pt, aad), "base64url");
    for (const i of [0, 31, 32, 40, bytes.length - 1]) {
      const t = Buffer.from(bytes);
      t[i] = (t[i] ?? 0) ^ 1;
      await expect(open(a.sk, t.toString("base64url"), aad)).rejects.toBeInstanceOf(SealError);
    }
    await expect(open(a.sk, bytes.subarray(0, 40).toString("base64url"), aad)).rejects.toBeInstanceOf(
      SealError,
    );
    await expect(open(a.sk, "not base64url!", aad)).rejects.toBeInstanceOf(SealError);
  });

  it("operationAad is unambiguous across field boundaries", () => {
    const a = operationAad({ opId: "ab", kind: "c", tenantId: "t", anchor: "x" });
    const b = operationAad({ opId: "a", kind: "bc", tenantId: "t", anchor: "x" });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
  });

  it("property: any plaintext and fields round-trip, and any other fields fail", async () => {
    const a = agentKey();
    const f = fc.record({
      opId: fc.string({ maxLength: 64 }),
      kind: fc.constantFrom("reset", "change", "unlock", "verify-password"),
      tenantId: fc.string({ maxLength: 64 }),
      anchor: fc.string({ maxLength: 64 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), f, f, async (plain, f1, f2) => {
        const sealed = await seal(a.pk, plain, operationAad(f1));
        expect(Buffer.from(await open(a.sk, sealed, operationAad(f1)))).toEqual(Buffer.from(plain));
        const same =
          f1.opId === f2.opId &&
          f1.kind === f2.kind &&
          f1.tenantId === f2.tenantId &&
          f1.anchor === f2.anchor;
        if (!same) await expect(open(a.sk, sealed, operationAad(f2))).rejects.toBeInstanceOf(SealError);
      }),
      { numRuns: 200 },
    );
  });
});

describe("interoperates with @hpke/core (same suite)", () => {
  const suite = new CipherSuite({
    kem: new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: new Aes128Gcm(),
  });

  it("@hpke/core opens what we seal", async () => {
    const a = agentKey();
    const aad = operationAad(fields);
    const bytes = Buffer.from(await seal(a.pk, pt, aad), "base64url");
    const recipientKey = await suite.kem.deserializePrivateKey(ab(a.raw));
    const plain = await suite.open(
      { recipientKey, enc: ab(bytes.subarray(0, 32)), info: ab(SEAL_INFO) },
      ab(bytes.subarray(32)),
      ab(aad),
    );
    expect(Buffer.from(plain)).toEqual(Buffer.from(pt));
  });

  it("we open what @hpke/core seals", async () => {
    const a = agentKey();
    const aad = operationAad(fields);
    const recipientPublicKey = await suite.kem.deserializePublicKey(ab(a.pk));
    const { enc, ct } = await suite.seal({ recipientPublicKey, info: ab(SEAL_INFO) }, ab(pt), ab(aad));
    const sealed = Buffer.concat([Buffer.from(enc), Buffer.from(ct)]).toString("base64url");
    expect(Buffer.from(await open(a.sk, sealed, aad))).toEqual(Buffer.from(pt));
    // and a KeyObject made from the JWK (as the agent's key file loads it) opens it too
    const jwk = a.sk.export({ format: "jwk" });
    expect(Buffer.from(await open(createPrivateKey({ key: jwk, format: "jwk" }), sealed, aad))).toEqual(
      Buffer.from(pt),
    );
  });
});
