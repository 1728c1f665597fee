/**
 * Contacts (email addresses, phone numbers): normalising what people type, and masking what the
 * page may show. Normalised forms are what registration stores and what strict mode compares.
 */
import { hmacHex, type ServerSecrets } from "../../core/secrets.js";

const BULLETS = "•••";

/** Trim and lower-case; null when it cannot be an address (no @, too long, spaces inside). */
export function normaliseEmail(raw: string): string | null {
  const s = raw.trim().toLowerCase();
  if (s.length < 3 || s.length > 254) return null;
  const at = s.lastIndexOf("@");
  if (at < 1 || at === s.length - 1 || /\s/.test(s)) return null;
  return s;
}

/**
 * To E.164: strip spaces, dashes, dots and parentheses; a leading 00 becomes +. Null unless the
 * result is + and 8–15 digits (a number without its country code cannot be compared safely).
 */
export function normalisePhone(raw: string): string | null {
  let s = raw.trim().replace(/[\s\-.()/\u00a0]/g, "");
  if (s.startsWith("00")) s = `+${s.slice(2)}`;
  return /^\+[1-9]\d{7,14}$/.test(s) ? s : null;
}

/** "john.doe@contoso.com" → "j•••@c•••.com" */
export function maskEmail(address: string): string {
  const at = address.lastIndexOf("@");
  const local = at > 0 ? address.slice(0, at) : address;
  const domain = at > 0 ? address.slice(at + 1) : "";
  const dot = domain.lastIndexOf(".");
  const tld = dot > 0 ? domain.slice(dot) : "";
  return `${[...local][0] ?? ""}${BULLETS}@${[...domain][0] ?? ""}${BULLETS}${tld}`;
}

/** "+4915112345689" → "•••• •••• 89" */
export function maskPhone(number: string): string {
  const digits = number.replace(/\D/g, "");
  return `•••• •••• ${digits.slice(-2)}`;
}

/**
 * A stable, plausible masked contact for a phantom (unknown user) in guided mode, so its prompt
 * looks like a real one. Derived from the server key and a seed (the flow id), so repeated starts
 * of one flow show the same value and nothing about it is predictable from outside.
 */
export function phantomMask(secrets: ServerSecrets, kind: "email" | "phone", seed: string): string {
  const h = hmacHex(secrets, `phantom-mask:${kind}`, seed);
  const letters = "abcdefghijklmnoprstw";
  const pick = (i: number) => letters[Number.parseInt(h.slice(i, i + 2), 16) % letters.length] ?? "a";
  if (kind === "email") {
    const tlds = [".com", ".org", ".net", ".de", ".fr", ".co.uk"];
    const tld = tlds[Number.parseInt(h.slice(4, 6), 16) % tlds.length] ?? ".com";
    return `${pick(0)}${BULLETS}@${pick(2)}${BULLETS}${tld.slice(tld.lastIndexOf("."))}`;
  }
  return `•••• •••• ${String(Number.parseInt(h.slice(6, 10), 16) % 100).padStart(2, "0")}`;
}
