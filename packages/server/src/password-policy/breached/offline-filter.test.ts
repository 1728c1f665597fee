import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildOfflineFilterFile,
  OfflineBreachedFilter,
  OfflineFilterFormatError,
  parseHashLine,
} from "./offline-filter.js";
import { sha1Bytes, sha1Hex } from "./types.js";

const member = (i: number) => `breached-${i}`;
const outsider = (i: number) => `never-breached-${i}`;
const hashOf = (s: string) => createHash("sha1").update(s).digest("hex").toUpperCase();

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lk-filter-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("OfflineBreachedFilter", () => {
  const N = 100_000;
  const lines = Array.from({ length: N }, (_, i) => `${hashOf(member(i))}:${(i % 50) + 1}`);

  for (const bits of [32, 16] as const) {
    it(`has no false negatives over ${N} hashes and a measured false-positive rate (${bits}-bit)`, async () => {
      const filter = OfflineBreachedFilter.fromHashLines(lines, { fingerprintBits: bits });
      for (let i = 0; i < N; i++) if (!filter.has(member(i))) throw new Error(`false negative at ${i}`);
      expect(await filter.isBreached(member(7))).toBe(true);
      const trials = 200_000;
      let falsePositives = 0;
      for (let i = 0; i < trials; i++) if (filter.hasHash(sha1Bytes(outsider(i)))) falsePositives++;
      const rate = falsePositives / trials;
      const bytesPerKey = filter.byteLength / N;
      console.info(
        `${bits}-bit: ${bytesPerKey.toFixed(2)} bytes/key, false positives ${falsePositives}/${trials} = ${rate}`,
      );
      if (bits === 32) {
        expect(falsePositives).toBeLessThanOrEqual(2); // expected ≈ 0.0003
        expect(bytesPerKey).toBeLessThan(5.1);
      } else {
        // Expected ≈ keys-per-bucket / 65536 ≈ 9e-5, i.e. ≈ 19 of 200k.
        expect(falsePositives).toBeGreaterThan(0);
        expect(rate).toBeLessThan(5e-4);
        expect(bytesPerKey).toBeLessThan(3.1);
      }
    });
  }

  it("round-trips through its file image and refuses a damaged one", () => {
    const filter = OfflineBreachedFilter.fromHashLines(lines.slice(0, 1000));
    const copy = OfflineBreachedFilter.fromBuffer(Buffer.from(filter.toBuffer()));
    expect(copy.size).toBe(1000);
    expect(copy.has(member(999))).toBe(true);
    expect(copy.has(outsider(1))).toBe(false);
    const bytes = Buffer.from(filter.toBuffer());
    expect(() => OfflineBreachedFilter.fromBuffer(bytes.subarray(0, bytes.length - 4))).toThrow(
      OfflineFilterFormatError,
    );
    const badMagic = Buffer.from(bytes);
    badMagic[0] = 0;
    expect(() => OfflineBreachedFilter.fromBuffer(badMagic)).toThrow(/magic/);
    const badOffsets = Buffer.from(bytes);
    badOffsets.writeUInt32LE(0xffffffff, bytes.length - 8);
    expect(() => OfflineBreachedFilter.fromBuffer(badOffsets)).toThrow(/offsets/);
  });

  it("works for empty and tiny lists", () => {
    const empty = OfflineBreachedFilter.fromHashLines([]);
    expect(empty.size).toBe(0);
    expect(empty.has("password")).toBe(false);
    const one = OfflineBreachedFilter.fromHashLines([sha1Hex("password")]);
    expect(one.has("password")).toBe(true);
    expect(one.has("Password")).toBe(false);
  });
});

describe("parseHashLine", () => {
  it("accepts HEX40 and HEX40:count in any case, skips blanks, padding and counts below minCount", () => {
    const h = hashOf("x");
    expect(parseHashLine(h, 1, 1)).toBe(BigInt(`0x${h.slice(0, 16)}`));
    expect(parseHashLine(`${h.toLowerCase()}:12\r`, 1, 1)).toBe(BigInt(`0x${h.slice(0, 16)}`));
    expect(parseHashLine("   ", 1, 1)).toBeNull();
    expect(parseHashLine(`${h}:0`, 1, 1)).toBeNull();
    expect(parseHashLine(`${h}:9`, 10, 1)).toBeNull();
  });

  it("names the line of a malformed entry and recognises an NTLM list", () => {
    expect(() => parseHashLine("zz", 1, 7)).toThrow(/line 7/);
    expect(() => parseHashLine("8846F7EAEE8FB117AD06BDD830B7586C:3", 1, 2)).toThrow(/NTLM/);
    expect(() => parseHashLine(`${hashOf("x")}:-1`, 1, 3)).toThrow(/count/);
  });
});

describe("buildOfflineFilterFile", () => {
  it("streams a sorted list and sorts an unsorted one into byte-identical files", async () => {
    const entries = Array.from({ length: 5000 }, (_, i) => `${hashOf(member(i))}:${i % 3}`);
    const sorted = [...entries].sort();
    const shuffled = [...entries].reverse();
    await writeFile(join(dir, "sorted.txt"), `${sorted.join("\r\n")}\r\n`);
    await writeFile(join(dir, "shuffled.txt"), shuffled.join("\n"));
    const a = await buildOfflineFilterFile(join(dir, "sorted.txt"), join(dir, "a.lkbf"));
    const b = await buildOfflineFilterFile(join(dir, "shuffled.txt"), join(dir, "b.lkbf"));
    expect(a.mode).toBe("streamed");
    expect(b.mode).toBe("in-memory");
    // Count-0 lines (a third of them) are padding, not breaches.
    expect(a.accepted).toBe(entries.filter((e) => !e.endsWith(":0")).length);
    expect(await readFile(join(dir, "a.lkbf"))).toEqual(await readFile(join(dir, "b.lkbf")));
    const filter = await OfflineBreachedFilter.load(join(dir, "a.lkbf"));
    expect(filter.has(member(1))).toBe(true);
    expect(filter.has(member(3))).toBe(false); // count 0
    expect(filter.byteLength).toBe(a.bytes);
  });

  it("keeps only entries seen at least minCount times, with 16-bit fingerprints", async () => {
    const entries = Array.from({ length: 300 }, (_, i) => `${hashOf(member(i))}:${i}`).sort();
    await writeFile(join(dir, "counts.txt"), entries.join("\n"));
    const report = await buildOfflineFilterFile(join(dir, "counts.txt"), join(dir, "c.lkbf"), {
      minCount: 100,
      fingerprintBits: 16,
    });
    expect(report.accepted).toBe(200);
    const filter = await OfflineBreachedFilter.load(join(dir, "c.lkbf"));
    expect(filter.fingerprintBits).toBe(16);
    expect(filter.has(member(150))).toBe(true);
  });

  it("refuses a malformed list without writing a usable file", async () => {
    await writeFile(join(dir, "bad.txt"), `${hashOf("a")}\nnot-a-hash\n`);
    await expect(buildOfflineFilterFile(join(dir, "bad.txt"), join(dir, "bad.lkbf"))).rejects.toThrow(
      /line 2/,
    );
  });
});
