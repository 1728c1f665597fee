/**
 * The offline breached-password filter: a sorted array of short SHA-1 fingerprints, bucketed by
 * the hash's leading bits. No false negatives by construction; a false positive needs an unrelated
 * hash to land in the same bucket with the same fingerprint, so the rate is about
 * (keys per bucket) / 2^fingerprintBits: ≈1e-9 with 32-bit fingerprints, ≈1e-4 with 16-bit.
 *
 * Why not a binary fuse / xor filter: at 32-bit fingerprints this costs 4.5–5 bytes per key
 * (BinaryFuse16 would be 2.25 for a 1e-5 rate), but it is exact enough to never bother a person,
 * simple to build in one streaming pass over HIBP's sorted download (a fuse filter needs the whole
 * key set in memory, ~64 bytes per key, to build), and a lookup is one bucket read plus a binary
 * search over ~6 entries. 16-bit fingerprints give 2.5–3 bytes per key where memory matters more.
 *
 * Binary format (little-endian), docs/password-policy.md "Offline filter format":
 *   0  "LKBF"  4  version=1  5  fingerprintBits (16|32)  6  bucketBits  7  0
 *   8  keyCount u32  12  0 u32
 *   16 fingerprints (keyCount × fingerprintBits/8 bytes), zero-padded to a multiple of 4
 *   …  bucket offsets ((2^bucketBits + 1) × u32): keys of bucket b are [off[b], off[b+1])
 */
import { createReadStream } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { endianness } from "node:os";
import { createInterface } from "node:readline";
import { type BreachedChecker, sha1Bytes } from "./types.js";

const MAGIC = 0x4642_4b4c; // "LKBF" read as a little-endian u32
const VERSION = 1;
const HEADER_BYTES = 16;
const MAX_KEYS = 0xffff_ffff;

export type FingerprintBits = 16 | 32;

export class OfflineFilterFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OfflineFilterFormatError";
  }
}

/** Bucket bits for n keys: about 4–8 keys per bucket, so the offset table costs 4–8 bits per key. */
export function bucketBitsFor(n: number): number {
  if (n < 8) return 0;
  return Math.min(30, Math.floor(Math.log2(n)) - 2);
}

const HEX40 = /^[0-9A-Fa-f]{40}$/;

/**
 * Parses one line of a hash list: "HEX40" or "HEX40:count". Returns the 64-bit key, `null` for a
 * blank line or a line whose count is below `minCount`, and throws on anything else.
 */
export function parseHashLine(line: string, minCount: number, lineNumber: number): bigint | null {
  const text = line.trim();
  if (text.length === 0) return null;
  const colon = text.indexOf(":");
  const hex = colon >= 0 ? text.slice(0, colon) : text;
  if (!HEX40.test(hex)) {
    const hint = /^[0-9A-Fa-f]{32}$/.test(hex) ? " (32 hex digits: an NTLM list? SHA-1 is needed)" : "";
    throw new OfflineFilterFormatError(`line ${lineNumber}: expected 40 hex digits of SHA-1${hint}`);
  }
  if (colon >= 0) {
    const countText = text.slice(colon + 1);
    if (!/^\d{1,15}$/.test(countText)) throw new OfflineFilterFormatError(`line ${lineNumber}: bad count`);
    // HIBP pads range responses with count-0 entries; a count below the threshold is not a breach.
    if (Number(countText) < Math.max(1, minCount)) return null;
  }
  return BigInt(`0x${hex.slice(0, 16)}`);
}

function fingerprintOf(key: bigint, bucketBits: number, fingerprintBits: FingerprintBits): number {
  return Number((key >> BigInt(64 - bucketBits - fingerprintBits)) & ((1n << BigInt(fingerprintBits)) - 1n));
}

function bucketOf(key: bigint, bucketBits: number): number {
  return bucketBits === 0 ? 0 : Number(key >> BigInt(64 - bucketBits));
}

function layout(keyCount: number, bucketBits: number, fingerprintBits: FingerprintBits) {
  const fingerprintBytes = keyCount * (fingerprintBits / 8);
  const padded = Math.ceil(fingerprintBytes / 4) * 4;
  const offsetsStart = HEADER_BYTES + padded;
  const offsetsCount = 2 ** bucketBits + 1;
  return { fingerprintBytes, offsetsStart, offsetsCount, total: offsetsStart + offsetsCount * 4 };
}

function header(keyCount: number, bucketBits: number, fingerprintBits: FingerprintBits): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.writeUInt32LE(MAGIC, 0);
  h.writeUInt8(VERSION, 4);
  h.writeUInt8(fingerprintBits, 5);
  h.writeUInt8(bucketBits, 6);
  h.writeUInt32LE(keyCount, 8);
  return h;
}

/** Options for building a filter. */
export interface BuildOptions {
  /** 32 (default): ≈1e-9 false positives, 4.5–5 bytes/key. 16: ≈1e-4, 2.5–3 bytes/key. */
  fingerprintBits?: FingerprintBits;
  /** Skip "HEX:count" lines whose count is below this (e.g. 10 keeps passwords seen 10+ times). Default 1. */
  minCount?: number;
}

export class OfflineBreachedFilter implements BreachedChecker {
  readonly #fingerprints: Uint16Array | Uint32Array;
  readonly #offsets: Uint32Array;
  readonly #bucketBits: number;
  readonly #fingerprintBits: FingerprintBits;
  readonly #bytes: Buffer;

  private constructor(bytes: Buffer) {
    if (endianness() !== "LE")
      throw new OfflineFilterFormatError("the offline filter needs a little-endian CPU");
    if (bytes.length < HEADER_BYTES || bytes.readUInt32LE(0) !== MAGIC) {
      throw new OfflineFilterFormatError("not a Latchkey breached-password filter (bad magic)");
    }
    if (bytes.readUInt8(4) !== VERSION)
      throw new OfflineFilterFormatError(`unsupported version ${bytes.readUInt8(4)}`);
    const fingerprintBits = bytes.readUInt8(5);
    if (fingerprintBits !== 16 && fingerprintBits !== 32)
      throw new OfflineFilterFormatError("bad fingerprint width");
    const bucketBits = bytes.readUInt8(6);
    if (bucketBits > 30) throw new OfflineFilterFormatError("bad bucket bits");
    const keyCount = bytes.readUInt32LE(8);
    const l = layout(keyCount, bucketBits, fingerprintBits);
    if (bytes.length !== l.total) throw new OfflineFilterFormatError("file size does not match its header");
    // Typed-array views need aligned offsets; copy once if the buffer came from a shared pool.
    const own = bytes.byteOffset % 4 === 0 ? bytes : Buffer.from(Uint8Array.from(bytes).buffer);
    this.#bytes = own;
    this.#fingerprints =
      fingerprintBits === 16
        ? new Uint16Array(own.buffer, own.byteOffset + HEADER_BYTES, keyCount)
        : new Uint32Array(own.buffer, own.byteOffset + HEADER_BYTES, keyCount);
    this.#offsets = new Uint32Array(own.buffer, own.byteOffset + l.offsetsStart, l.offsetsCount);
    let previous = 0;
    for (const o of this.#offsets) {
      if (o < previous || o > keyCount)
        throw new OfflineFilterFormatError("bucket offsets are not monotonic");
      previous = o;
    }
    if (this.#offsets[0] !== 0 || previous !== keyCount)
      throw new OfflineFilterFormatError("bucket offsets do not cover the keys");
    this.#bucketBits = bucketBits;
    this.#fingerprintBits = fingerprintBits;
  }

  /** Loads a filter written by {@link buildOfflineFilterFile} or {@link OfflineBreachedFilter.toBuffer}. */
  static async load(path: string): Promise<OfflineBreachedFilter> {
    return new OfflineBreachedFilter(await readFile(path));
  }

  static fromBuffer(bytes: Buffer): OfflineBreachedFilter {
    return new OfflineBreachedFilter(bytes);
  }

  /** Builds in memory from 64-bit keys (the first 16 hex digits of each SHA-1). */
  static fromKeys(keys: BigUint64Array, fingerprintBits: FingerprintBits = 32): OfflineBreachedFilter {
    if (keys.length > MAX_KEYS)
      throw new OfflineFilterFormatError("too many keys for one filter (max 2^32-1)");
    const sorted = keys.slice().sort();
    const bucketBits = bucketBitsFor(sorted.length);
    // Fingerprints, deduplicated (a repeated key or a fingerprint collision within a bucket).
    const fps = new Uint32Array(sorted.length);
    let kept = 0;
    const counts = new Uint32Array(2 ** bucketBits);
    let lastBucket = -1;
    let lastFp = -1;
    for (const key of sorted) {
      const b = bucketOf(key, bucketBits);
      const fp = fingerprintOf(key, bucketBits, fingerprintBits);
      if (b === lastBucket && fp === lastFp) continue;
      fps[kept++] = fp;
      counts[b]! += 1;
      lastBucket = b;
      lastFp = fp;
    }
    const l = layout(kept, bucketBits, fingerprintBits);
    const out = Buffer.alloc(l.total);
    header(kept, bucketBits, fingerprintBits).copy(out, 0);
    const fpView =
      fingerprintBits === 16
        ? new Uint16Array(out.buffer, out.byteOffset + HEADER_BYTES, kept)
        : new Uint32Array(out.buffer, out.byteOffset + HEADER_BYTES, kept);
    fpView.set(fps.subarray(0, kept));
    const offsets = new Uint32Array(out.buffer, out.byteOffset + l.offsetsStart, l.offsetsCount);
    let sum = 0;
    for (let b = 0; b < counts.length; b++) {
      offsets[b] = sum;
      sum += counts[b]!;
    }
    offsets[counts.length] = sum;
    return new OfflineBreachedFilter(out);
  }

  /** Builds in memory from SHA-1 hex strings ("HEX40" or "HEX40:count"). */
  static fromHashLines(lines: Iterable<string>, options: BuildOptions = {}): OfflineBreachedFilter {
    const keys = new KeyBuffer();
    let n = 0;
    for (const line of lines) {
      n++;
      const key = parseHashLine(line, options.minCount ?? 1, n);
      if (key !== null) keys.push(key);
    }
    return OfflineBreachedFilter.fromKeys(keys.view(), options.fingerprintBits);
  }

  /** Reads a text hash list into memory (fine up to tens of millions of lines; build a file beyond that). */
  static async fromHashFile(path: string, options: BuildOptions = {}): Promise<OfflineBreachedFilter> {
    const keys = new KeyBuffer();
    let n = 0;
    for await (const line of lines(path)) {
      n++;
      const key = parseHashLine(line, options.minCount ?? 1, n);
      if (key !== null) keys.push(key);
    }
    return OfflineBreachedFilter.fromKeys(keys.view(), options.fingerprintBits);
  }

  /** Distinct fingerprints stored. */
  get size(): number {
    return this.#fingerprints.length;
  }

  /** Bytes held in memory (the whole file image). */
  get byteLength(): number {
    return this.#bytes.length;
  }

  get fingerprintBits(): FingerprintBits {
    return this.#fingerprintBits;
  }

  /** The file image, for writing to disk. */
  toBuffer(): Buffer {
    return this.#bytes;
  }

  /** Whether a SHA-1 (20 bytes, or at least its first 8) is in the filter. */
  hasHash(sha1: Uint8Array): boolean {
    if (sha1.length < 8) throw new RangeError("need at least 8 bytes of the SHA-1");
    const hi = ((sha1[0]! << 24) | (sha1[1]! << 16) | (sha1[2]! << 8) | sha1[3]!) >>> 0;
    const lo = ((sha1[4]! << 24) | (sha1[5]! << 16) | (sha1[6]! << 8) | sha1[7]!) >>> 0;
    const bb = this.#bucketBits;
    const bucket = bb === 0 ? 0 : hi >>> (32 - bb);
    const fp32 = bb === 0 ? hi : ((hi << bb) | (lo >>> (32 - bb))) >>> 0;
    const fp = this.#fingerprintBits === 32 ? fp32 : fp32 >>> 16;
    let low = this.#offsets[bucket]!;
    let high = this.#offsets[bucket + 1]!;
    const fps = this.#fingerprints;
    while (low < high) {
      const mid = (low + high) >>> 1;
      const v = fps[mid]!;
      if (v === fp) return true;
      if (v < fp) low = mid + 1;
      else high = mid;
    }
    return false;
  }

  has(password: string): boolean {
    return this.hasHash(sha1Bytes(password));
  }

  async isBreached(password: string): Promise<boolean> {
    return this.has(password);
  }
}

/** A growable BigUint64Array. */
class KeyBuffer {
  #data = new BigUint64Array(1024);
  #length = 0;
  push(key: bigint): void {
    if (this.#length === this.#data.length) {
      const bigger = new BigUint64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#length++] = key;
  }
  view(): BigUint64Array {
    return this.#data.subarray(0, this.#length);
  }
}

function lines(path: string): AsyncIterable<string> {
  return createInterface({
    input: createReadStream(path, { encoding: "utf8" }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
}

export interface BuildReport {
  /** Valid lines that passed `minCount`. */
  accepted: number;
  /** Distinct fingerprints written. */
  keys: number;
  bytes: number;
  /** "streamed" when the input was sorted (HIBP downloads are), "in-memory" otherwise. */
  mode: "streamed" | "in-memory";
}

/**
 * Builds a filter file from a text hash list ("HEX40" or "HEX40:count" lines, any case, CRLF ok).
 * A sorted input (as HIBP's downloader writes it) is streamed in two passes with constant memory
 * apart from the bucket table; an unsorted one is read into memory (8 bytes per key) and sorted.
 */
export async function buildOfflineFilterFile(
  inputPath: string,
  outputPath: string,
  options: BuildOptions = {},
): Promise<BuildReport> {
  const fingerprintBits = options.fingerprintBits ?? 32;
  const minCount = options.minCount ?? 1;
  // Pass 1: validate, count, check the order.
  let accepted = 0;
  let sorted = true;
  let previous = -1n;
  let lineNumber = 0;
  for await (const line of lines(inputPath)) {
    lineNumber++;
    const key = parseHashLine(line, minCount, lineNumber);
    if (key === null) continue;
    accepted++;
    if (key < previous) sorted = false;
    previous = key;
  }
  if (accepted > MAX_KEYS) throw new OfflineFilterFormatError("too many keys for one filter (max 2^32-1)");
  if (!sorted) {
    const filter = await OfflineBreachedFilter.fromHashFile(inputPath, { fingerprintBits, minCount });
    const bytes = filter.toBuffer();
    const fh = await open(outputPath, "w");
    try {
      await fh.writeFile(bytes);
    } finally {
      await fh.close();
    }
    return { accepted, keys: filter.size, bytes: bytes.length, mode: "in-memory" };
  }
  // Pass 2: stream fingerprints, count buckets, then append the offsets and patch the header.
  const bucketBits = bucketBitsFor(accepted);
  const counts = new Uint32Array(2 ** bucketBits);
  const width = fingerprintBits / 8;
  const fh = await open(outputPath, "w");
  try {
    await fh.write(header(0, bucketBits, fingerprintBits), 0, HEADER_BYTES, 0);
    const chunk = Buffer.alloc(64 * 1024);
    let used = 0;
    let position = HEADER_BYTES;
    let keys = 0;
    let lastBucket = -1;
    let lastFp = -1;
    lineNumber = 0;
    for await (const line of lines(inputPath)) {
      lineNumber++;
      const key = parseHashLine(line, minCount, lineNumber);
      if (key === null) continue;
      const b = bucketOf(key, bucketBits);
      const fp = fingerprintOf(key, bucketBits, fingerprintBits);
      if (b === lastBucket && fp === lastFp) continue;
      lastBucket = b;
      lastFp = fp;
      if (width === 4) chunk.writeUInt32LE(fp, used);
      else chunk.writeUInt16LE(fp, used);
      used += width;
      counts[b]! += 1;
      keys++;
      if (used === chunk.length) {
        await fh.write(chunk, 0, used, position);
        position += used;
        used = 0;
      }
    }
    await fh.write(chunk, 0, used, position);
    const l = layout(keys, bucketBits, fingerprintBits);
    const offsets = new Uint32Array(l.offsetsCount);
    let sum = 0;
    for (let b = 0; b < counts.length; b++) {
      offsets[b] = sum;
      sum += counts[b]!;
    }
    offsets[counts.length] = sum;
    const padding = l.offsetsStart - (HEADER_BYTES + l.fingerprintBytes);
    if (padding > 0) await fh.write(Buffer.alloc(padding), 0, padding, HEADER_BYTES + l.fingerprintBytes);
    await fh.write(
      Buffer.from(offsets.buffer, offsets.byteOffset, offsets.byteLength),
      0,
      offsets.byteLength,
      l.offsetsStart,
    );
    await fh.write(header(keys, bucketBits, fingerprintBits), 0, HEADER_BYTES, 0);
    await fh.truncate(l.total);
    return { accepted, keys, bytes: l.total, mode: "streamed" };
  } finally {
    await fh.close();
  }
}
