/**
 * The two pieces of BER the password operations need that ldapts does not provide:
 *
 * - the RFC 3062 Password Modify request value: SEQUENCE { [0] userIdentity, [1] oldPasswd, [2] newPasswd };
 * - the ppolicy control (1.3.6.1.4.1.42.2.27.8.5.1): sent empty with a request; the response value is
 *   SEQUENCE { warning [0] CHOICE { timeBeforeExpiration [0] INTEGER, graceAuthNsRemaining [1] INTEGER }
 *   OPTIONAL, error [1] ENUMERATED OPTIONAL }.
 *
 * ldapts does not attach response controls to errors, but it parses a response control into the
 * request Control instance with the same OID (lab notes §4): so PpolicyControl parses itself, and the
 * caller reads it after the call, whether it resolved or threw.
 */
import { type BerReader, Control } from "ldapts";

export const PASSWORD_MODIFY_OID = "1.3.6.1.4.1.4203.1.11.1";
export const PPOLICY_OID = "1.3.6.1.4.1.42.2.27.8.5.1";

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.of(n);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.of(tag), lengthBytes(content.length), content]);
}

/**
 * The Password Modify request value. Passwords are taken as Buffers (UTF-8) so the caller can zero
 * them; the returned Buffer holds them too and should be zeroed after the call.
 */
export function passwordModifyValue(
  userDn: string,
  oldPassword: Buffer | null,
  newPassword: Buffer | null,
): Buffer {
  const parts = [tlv(0x80, Buffer.from(userDn, "utf8"))];
  if (oldPassword) parts.push(tlv(0x81, oldPassword));
  if (newPassword) parts.push(tlv(0x82, newPassword));
  const body = Buffer.concat(parts);
  const out = tlv(0x30, body);
  for (const p of parts) p.fill(0);
  body.fill(0);
  return out;
}

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

function readTlv(buf: Buffer, offset: number): Tlv | null {
  if (offset + 2 > buf.length) return null;
  const tag = buf[offset] as number;
  let len = buf[offset + 1] as number;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || start + n > buf.length) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | (buf[start + i] as number);
    start += n;
  }
  const end = start + len;
  return end > buf.length ? null : { tag, start, end };
}

function readInt(buf: Buffer, t: Tlv): number {
  let v = 0;
  for (let i = t.start; i < t.end; i++) v = v * 256 + (buf[i] as number);
  // Two's complement for a negative first byte (not expected here, but exact).
  if (t.end > t.start && ((buf[t.start] as number) & 0x80) !== 0) v -= 2 ** (8 * (t.end - t.start));
  return v;
}

export interface PpolicyResponse {
  error: number | null;
  timeBeforeExpiration: number | null;
  graceAuthNsRemaining: number | null;
}

/** Parses a ppolicy response control value; null when it is not one. */
export function parsePpolicyValue(value: Buffer): PpolicyResponse | null {
  const seq = readTlv(value, 0);
  if (seq?.tag !== 0x30) return null;
  const out: PpolicyResponse = { error: null, timeBeforeExpiration: null, graceAuthNsRemaining: null };
  let off = seq.start;
  while (off < seq.end) {
    const t = readTlv(value, off);
    if (!t) return null;
    if (t.tag === 0xa0) {
      const inner = readTlv(value, t.start);
      if (inner?.tag === 0x80) out.timeBeforeExpiration = readInt(value, inner);
      else if (inner?.tag === 0x81) out.graceAuthNsRemaining = readInt(value, inner);
    } else if (t.tag === 0x81) out.error = readInt(value, t);
    off = t.end;
  }
  return out;
}

/** Request the ppolicy control; after the call, `response` holds what the server said (or null). */
export class PpolicyControl extends Control {
  response: PpolicyResponse | null = null;

  constructor() {
    super(PPOLICY_OID, { critical: false });
  }

  protected override parseControl(reader: BerReader): void {
    this.response = parsePpolicyValue(reader.buffer);
  }
}
