/**
 * Sealing benchmark: the same HPKE construction (RFC 9180 base, DHKEM(X25519, HKDF-SHA256),
 * HKDF-SHA256, AES-128-GCM) two ways, in one run, on the payload a reset carries:
 *
 *   node:crypto   packages/protocol/src/sealing.ts (what Latchkey ships)
 *   @hpke/core    the WebCrypto-based library, same suite
 *
 * seal and open each, sequentially (c=1): ops/s, p50/p99, CPU per op, and the ratio @hpke/core ÷
 * node:crypto. A reference row (one X25519 key agreement on node:crypto) anchors the ratios.
 *
 *   npx tsx bench/seal.ts [iterations=3000]
 */
import { diffieHellman, generateKeyPairSync } from "node:crypto";
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from "@hpke/core";
import { open, operationAad, SEAL_INFO, seal, x25519PublicKeyRaw } from "../packages/protocol/src/sealing.js";
import {
  formatMs,
  type Measurement,
  measure,
  printMeasurements,
  printTable,
  summarise,
} from "./lib/index.js";

const iterations = Number(process.argv[2] ?? 3000);
const ab = (u: Uint8Array): ArrayBuffer => new Uint8Array(u).buffer;

const { privateKey } = generateKeyPairSync("x25519");
const pk = x25519PublicKeyRaw(privateKey);
const raw = Buffer.from(privateKey.export({ format: "jwk" }).d as string, "base64url");
const aad = operationAad({
  opId: "01JDX4S1J3ZK8Q2W5M7N9P0R1T",
  kind: "reset",
  tenantId: "default",
  anchor: "6b1c7e0e-1f2a-4c7b-9e51-0d1c2b3a4f5e",
});
const pt = new TextEncoder().encode(JSON.stringify({ newPassword: "Correct-Horse-Battery-9!" }));

const suite = new CipherSuite({
  kem: new DhkemX25519HkdfSha256(),
  kdf: new HkdfSha256(),
  aead: new Aes128Gcm(),
});
const recipientPublicKey = await suite.kem.deserializePublicKey(ab(pk));
const recipientKey = await suite.kem.deserializePrivateKey(ab(raw));

// Fixed inputs for the open loops.
const sealedNode = await seal(pk, pt, aad);
const lib = await suite.seal({ recipientPublicKey, info: ab(SEAL_INFO) }, ab(pt), ab(aad));

const peer = generateKeyPairSync("x25519").publicKey;
const ms: Measurement[] = [];
ms.push(
  await measure("reference: X25519 agreement", iterations, () =>
    diffieHellman({ privateKey, publicKey: peer }),
  ),
);
ms.push(await measure("node:crypto seal", iterations, () => seal(pk, pt, aad)));
ms.push(await measure("node:crypto open", iterations, () => open(privateKey, sealedNode, aad)));
ms.push(
  await measure("@hpke/core seal", iterations, () =>
    suite.seal({ recipientPublicKey, info: ab(SEAL_INFO) }, ab(pt), ab(aad)),
  ),
);
ms.push(
  await measure("@hpke/core open", iterations, () =>
    suite.open({ recipientKey, enc: lib.enc, info: ab(SEAL_INFO) }, lib.ct, ab(aad)),
  ),
);

console.log(`\nHPKE seal/open, ${iterations} each, payload ${pt.length} B, Node ${process.version}\n`);
printMeasurements(ms, ms[0]);

const by = (n: string) => ms.find((m) => m.name === n) as Measurement;
const rows = (["seal", "open"] as const).map((op) => {
  const a = by(`node:crypto ${op}`);
  const b = by(`@hpke/core ${op}`);
  const sa = summarise(a.samples);
  const sb = summarise(b.samples);
  return [
    op,
    `${(a.opsPerSecond / b.opsPerSecond).toFixed(1)}×`,
    `${(sb.p50 / sa.p50).toFixed(1)}×`,
    `${(sb.p99 / sa.p99).toFixed(1)}×`,
    `${(b.cpuMsPerOp / a.cpuMsPerOp).toFixed(1)}×`,
    `${formatMs(a.cpuMsPerOp + by("node:crypto open").cpuMsPerOp)} / ${formatMs(b.cpuMsPerOp + by("@hpke/core open").cpuMsPerOp)}`,
  ];
});
console.log("\n@hpke/core ÷ node:crypto\n");
printTable(rows, [
  "op",
  "ops/s ratio",
  "p50 ratio",
  "p99 ratio",
  "cpu ratio",
  "seal+open cpu ms (node / lib)",
]);
