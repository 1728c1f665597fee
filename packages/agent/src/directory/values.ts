/**
 * Reading attribute values out of ldapts entries: names are matched without regard to case (servers
 * answer with their own spelling), a requested-but-absent attribute comes back as [] and means
 * "no value", and binary attributes are Buffers only when asked for in explicitBufferAttributes.
 */
import type { Entry } from "ldapts";

function key(entry: Entry, name: string): string | undefined {
  if (name in entry) return name;
  const lower = name.toLowerCase();
  return Object.keys(entry).find((k) => k.toLowerCase() === lower);
}

/** Every value of `name` as text (UTF-8 for Buffers). */
export function values(entry: Entry, name: string): string[] {
  const k = key(entry, name);
  if (k === undefined) return [];
  const v = entry[k];
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return list.map((x) => (Buffer.isBuffer(x) ? x.toString("utf8") : String(x)));
}

/** The first non-empty value of `name`, or null. */
export function first(entry: Entry, name: string): string | null {
  for (const v of values(entry, name)) if (v !== "") return v;
  return null;
}

/** The first value of a binary attribute, or null. */
export function firstBuffer(entry: Entry, name: string): Buffer | null {
  const k = key(entry, name);
  if (k === undefined) return null;
  const v = entry[k];
  const one = Array.isArray(v) ? v[0] : v;
  if (one === undefined) return null;
  return Buffer.isBuffer(one) ? one : Buffer.from(String(one), "binary");
}

/** The first value as a BigInt (for 64-bit integers such as FILETIMEs and USNs), or null. */
export function firstBigInt(entry: Entry, name: string): bigint | null {
  const v = first(entry, name);
  if (v === null || !/^-?\d+$/.test(v.trim())) return null;
  return BigInt(v.trim());
}

/** The first value as a safe integer, or null. */
export function firstInt(entry: Entry, name: string): number | null {
  const b = firstBigInt(entry, name);
  if (b === null) return null;
  const n = Number(b);
  return Number.isSafeInteger(n) ? n : null;
}
