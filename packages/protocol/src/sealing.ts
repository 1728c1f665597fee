/**
 * Sealing a password operation's secrets to one agent: HPKE (RFC 9180) base mode, single shot,
 * suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM (0x0020 / 0x0001 / 0x0001), the
 * suite of RFC 9180 test vector A.1. The server seals to the agent's X25519 public key; only the
 * agent's private key opens it, and only with the same associated data (operationAad), so a sealed
 * payload cannot be replayed for another operation, kind, tenant or user.
 *
 * Built on node:crypto rather than @hpke/core: the same construction, checked byte for byte against
 * @hpke/core in sealing.test.ts (each opens what the other sealed), and ~7–10× cheaper on Node 20
 * (bench/seal.ts; docs/writeback.md has the numbers). No I/O.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from "node:crypto";

const KEM_ID = 0x0020;
const KDF_ID = 0x0001;
const AEAD_ID = 0x0001;
const N_SECRET = 32;
const N_ENC = 32;
const N_K = 16;
const N_N = 12;
const N_T = 16;

const te = new TextEncoder();
const HPKE_V1 = te.encode("HPKE-v1");
const KEM_SUITE = concat(te.encode("KEM"), i2osp(KEM_ID, 2));
const HPKE_SUITE = concat(te.encode("HPKE"), i2osp(KEM_ID, 2), i2osp(KDF_ID, 2), i2osp(AEAD_ID, 2));
/** HPKE `info`: binds every seal to this protocol and version. */
export const SEAL_INFO = te.encode("latchkey sealed operation v1");

const SPKI_X25519 = Buffer.from("302a300506032b656e032100", "hex");
const PKCS8_X25519 = Buffer.from("302e020100300506032b656e04220420", "hex");

/** A seal that could not be opened: wrong key, changed associated data, or tampered bytes. */
export class SealError extends Error {
  constructor(message = "the sealed payload could not be opened") {
    super(message);
    this.name = "SealError";
  }
}

function i2osp(n: number, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = n & 0xff;
    n >>>= 8;
  }
  return out;
}

function concat(...parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

function extract(salt: Uint8Array, ikm: Uint8Array): Buffer {
  // An empty salt is HashLen zero bytes; HMAC pads its key with zeros, so both give the same PRK.
  return createHmac("sha256", salt).update(ikm).digest();
}

/** HKDF-Expand for L ≤ 32 (one block is all HPKE with SHA-256 and AES-128-GCM needs). */
function expand(prk: Uint8Array, info: Uint8Array, len: number): Buffer {
  return createHmac("sha256", prk).update(info).update(Uint8Array.of(1)).digest().subarray(0, len);
}

function labeledExtract(suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Buffer {
  return extract(salt, concat(HPKE_V1, suite, te.encode(label), ikm));
}

function labeledExpand(suite: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, len: number) {
  return expand(prk, concat(i2osp(len, 2), HPKE_V1, suite, te.encode(label), info), len);
}

const EMPTY = new Uint8Array(0);

function sharedSecret(dh: Buffer, enc: Uint8Array, pkR: Uint8Array): Buffer {
  const prk = labeledExtract(KEM_SUITE, EMPTY, "eae_prk", dh);
  const out = labeledExpand(KEM_SUITE, prk, "shared_secret", concat(enc, pkR), N_SECRET);
  prk.fill(0);
  dh.fill(0);
  return out;
}

/** The base-mode key schedule: the AEAD key and nonce (sequence 0) for one shared secret. */
function keySchedule(shared: Buffer, info: Uint8Array): { key: Buffer; nonce: Buffer } {
  const pskIdHash = labeledExtract(HPKE_SUITE, EMPTY, "psk_id_hash", EMPTY);
  const infoHash = labeledExtract(HPKE_SUITE, EMPTY, "info_hash", info);
  const context = concat(Uint8Array.of(0), pskIdHash, infoHash);
  const secret = labeledExtract(HPKE_SUITE, shared, "secret", EMPTY);
  const key = Buffer.from(labeledExpand(HPKE_SUITE, secret, "key", context, N_K));
  const nonce = Buffer.from(labeledExpand(HPKE_SUITE, secret, "base_nonce", context, N_N));
  secret.fill(0);
  shared.fill(0);
  return { key, nonce };
}

function publicKeyObject(raw: Uint8Array): KeyObject {
  if (raw.length !== N_ENC) throw new SealError("an X25519 public key is 32 bytes");
  return createPublicKey({ key: concat(SPKI_X25519, raw), format: "der", type: "spki" });
}

function rawPublic(key: KeyObject): Buffer {
  return (key.type === "private" ? createPublicKey(key) : key)
    .export({ format: "der", type: "spki" })
    .subarray(SPKI_X25519.length);
}

/** An X25519 private key from its 32 raw bytes (the key file's `d`). */
export function x25519PrivateKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new SealError("an X25519 private key is 32 bytes");
  return createPrivateKey({ key: concat(PKCS8_X25519, raw), format: "der", type: "pkcs8" });
}

/** The raw 32-byte public half of an X25519 key (what the agent sends at enrollment). */
export function x25519PublicKeyRaw(key: KeyObject): Uint8Array {
  return new Uint8Array(rawPublic(key));
}

/** Ephemeral key pair for one seal; tests pass a fixed one to check RFC 9180's vectors. */
export interface Ephemeral {
  privateKey: KeyObject;
  publicRaw: Uint8Array;
}

function ephemeral(): Ephemeral {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  return { privateKey, publicRaw: rawPublic(publicKey) };
}

/** seal() with explicit info and ephemeral key: the raw enc‖ciphertext (tests and vectors). */
export function sealRaw(
  recipientPublicKeyRaw: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
  info: Uint8Array = SEAL_INFO,
  eph: Ephemeral = ephemeral(),
): Buffer {
  const pkR = publicKeyObject(recipientPublicKeyRaw);
  const dh = diffieHellman({ privateKey: eph.privateKey, publicKey: pkR });
  const { key, nonce } = keySchedule(sharedSecret(dh, eph.publicRaw, recipientPublicKeyRaw), info);
  const cipher = createCipheriv("aes-128-gcm", key, nonce, { authTagLength: N_T });
  cipher.setAAD(aad);
  const out = Buffer.concat([eph.publicRaw, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  key.fill(0);
  return out;
}

/** open() over the raw enc‖ciphertext. Throws SealError on any failure. */
export function openRaw(
  privateKey: KeyObject | Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
  info: Uint8Array = SEAL_INFO,
): Buffer {
  if (sealed.length < N_ENC + N_T) throw new SealError("the sealed payload is too short");
  let key: Buffer;
  let nonce: Buffer;
  try {
    const skR = privateKey instanceof Uint8Array ? x25519PrivateKey(privateKey) : privateKey;
    const enc = sealed.subarray(0, N_ENC);
    const dh = diffieHellman({ privateKey: skR, publicKey: publicKeyObject(enc) });
    ({ key, nonce } = keySchedule(sharedSecret(dh, enc, publicOf(skR)), info));
  } catch (e) {
    if (e instanceof SealError) throw e;
    throw new SealError("the sealed payload could not be opened (key agreement failed)");
  }
  const body = sealed.subarray(N_ENC, sealed.length - N_T);
  const tag = sealed.subarray(sealed.length - N_T);
  const decipher = createDecipheriv("aes-128-gcm", key, nonce, { authTagLength: N_T });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new SealError();
  } finally {
    key.fill(0);
  }
}

/** The public half of a private key, computed once per key object. */
const publicCache = new WeakMap<KeyObject, Buffer>();
function publicOf(sk: KeyObject): Buffer {
  let pk = publicCache.get(sk);
  if (!pk) {
    pk = rawPublic(sk);
    publicCache.set(sk, pk);
  }
  return pk;
}

/**
 * Seals `plaintext` to the agent whose raw X25519 public key is given, bound to `aad`.
 * @returns base64url of enc (32 bytes) ‖ AES-128-GCM ciphertext ‖ tag (16 bytes).
 */
export async function seal(
  recipientPublicKeyRaw: Uint8Array | Buffer,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Promise<string> {
  return sealRaw(recipientPublicKeyRaw, plaintext, aad).toString("base64url");
}

/**
 * Opens what seal() made, with the agent's X25519 private key (a KeyObject, or its 32 raw bytes) and
 * the same associated data. Throws SealError for a wrong key, changed aad or tampered bytes. The
 * caller owns (and should zero) the returned bytes.
 */
export async function open(
  privateKey: KeyObject | Uint8Array,
  sealed: string,
  aad: Uint8Array,
): Promise<Uint8Array> {
  if (!/^[A-Za-z0-9_-]+$/.test(sealed)) throw new SealError("the sealed payload is not base64url");
  return openRaw(privateKey, Buffer.from(sealed, "base64url"), aad);
}

export interface OperationAadFields {
  opId: string;
  kind: string;
  tenantId: string;
  anchor: string;
}

const AAD_DOMAIN = te.encode("latchkey/op-aad/v1");

/**
 * The associated data of one operation's seal: a domain tag, then opId, kind, tenantId and anchor,
 * each as a 2-byte length and its UTF-8 bytes (so no two different field lists give the same bytes).
 */
export function operationAad(fields: OperationAadFields): Uint8Array {
  const parts: Uint8Array[] = [i2osp(AAD_DOMAIN.length, 2), AAD_DOMAIN];
  for (const value of [fields.opId, fields.kind, fields.tenantId, fields.anchor]) {
    const b = te.encode(value);
    if (b.length > 0xffff) throw new RangeError("an associated-data field is longer than 65535 bytes");
    parts.push(i2osp(b.length, 2), b);
  }
  return new Uint8Array(concat(...parts));
}

/** What the server seals for each kind (JSON, UTF-8). */
export interface SealedSecrets {
  newPassword?: string;
  oldPassword?: string;
  password?: string;
}
