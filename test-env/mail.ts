// A minimal MIME reader for the mail the SMTP sink captures: enough for what nodemailer sends
// (headers with RFC 2047 encoded words, multipart/*, quoted-printable, base64, 7bit/8bit, UTF-8
// and Latin-1 charsets). Not a general-purpose parser.

/** One captured message, as stored (JSON) in the sink's mail directory. */
export interface ReceivedMail {
  id: string;
  /** Envelope sender (MAIL FROM). */
  from: string;
  /** Envelope recipients (RCPT TO), lower-cased. */
  to: string[];
  /** Decoded header values (lower-case names; the last one wins when repeated). */
  headers: Record<string, string>;
  subject: string;
  /** The first text/plain part, decoded; "" when there is none. */
  text: string;
  /** The first text/html part, decoded; "" when there is none. */
  html: string;
  attachments: { filename: string; contentType: string; size: number }[];
  /** The message exactly as received. */
  raw: string;
  receivedAt: string;
  /** The user name given with AUTH, if the client authenticated. */
  authUser?: string;
  /** True when the session used TLS (STARTTLS or implicit). */
  secure: boolean;
}

export interface ParsedMail {
  headers: Record<string, string>;
  subject: string;
  text: string;
  html: string;
  attachments: { filename: string; contentType: string; size: number }[];
}

interface Part {
  headers: Record<string, string>;
  body: string;
}

function splitHeaderBody(raw: string): Part {
  const m = /\r?\n\r?\n/.exec(raw);
  const head = m ? raw.slice(0, m.index) : raw;
  const body = m ? raw.slice(m.index + m[0].length) : "";
  const headers: Record<string, string> = {};
  const unfolded = head.replace(/\r?\n[ \t]+/g, " ");
  for (const line of unfolded.split(/\r?\n/)) {
    const i = line.indexOf(":");
    if (i <= 0) continue;
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { headers, body };
}

/** Splits `type/subtype; a=b; c="d"` into the type and its parameters. */
function parseParams(value: string): { value: string; params: Record<string, string> } {
  const parts = value.match(/(?:[^;"]|"(?:\\.|[^"\\])*")+/g) ?? [];
  const params: Record<string, string> = {};
  for (const p of parts.slice(1)) {
    const i = p.indexOf("=");
    if (i < 0) continue;
    let v = p.slice(i + 1).trim();
    if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, "$1");
    params[p.slice(0, i).trim().toLowerCase()] = v;
  }
  return { value: (parts[0] ?? "").trim().toLowerCase(), params };
}

function bytesToString(bytes: Buffer, charset: string | undefined): string {
  const cs = (charset ?? "utf-8").toLowerCase();
  try {
    return new TextDecoder(cs === "us-ascii" ? "utf-8" : cs).decode(bytes);
  } catch {
    return bytes.toString("utf8");
  }
}

function decodeQuotedPrintable(text: string): Buffer {
  const soft = text.replace(/=\r?\n/g, "");
  const out: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    const ch = soft[i] ?? "";
    const hex = soft.slice(i + 1, i + 3);
    if (ch === "=" && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      out.push(Number.parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of Buffer.from(ch, "utf8")) out.push(b);
    }
  }
  return Buffer.from(out);
}

function decodeBody(part: Part): Buffer {
  const cte = (part.headers["content-transfer-encoding"] ?? "7bit").toLowerCase().trim();
  if (cte === "base64") return Buffer.from(part.body.replace(/\s+/g, ""), "base64");
  if (cte === "quoted-printable") return decodeQuotedPrintable(part.body);
  return Buffer.from(part.body, "utf8");
}

/** Decodes RFC 2047 encoded words (=?charset?B|Q?...?=) in a header value. */
export function decodeHeader(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, "$1")
    .replace(
      /=\?([^?*]+)(?:\*[^?]*)?\?([BbQq])\?([^?]*)\?=/g,
      (_m, charset: string, enc: string, data: string) => {
        const bytes =
          enc.toUpperCase() === "B"
            ? Buffer.from(data, "base64")
            : decodeQuotedPrintable(data.replace(/_/g, " "));
        return bytesToString(bytes, charset);
      },
    );
}

export function parseMail(raw: string): ParsedMail {
  const top = splitHeaderBody(raw);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(top.headers)) headers[k] = decodeHeader(v);
  const out: ParsedMail = { headers, subject: headers.subject ?? "", text: "", html: "", attachments: [] };

  const walk = (part: Part, depth: number): void => {
    const ct = parseParams(part.headers["content-type"] ?? "text/plain; charset=us-ascii");
    const disposition = parseParams(part.headers["content-disposition"] ?? "");
    if (ct.value.startsWith("multipart/") && ct.params.boundary && depth < 10) {
      const boundary = `--${ct.params.boundary}`;
      const sections = part.body.split(
        new RegExp(`^${boundary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?:--)?[ \\t]*\\r?$`, "m"),
      );
      // sections[0] is the preamble; the last one the epilogue after the closing boundary.
      for (const s of sections.slice(1, -1)) {
        walk(splitHeaderBody(s.replace(/^\r?\n/, "").replace(/\r?\n$/, "")), depth + 1);
      }
      return;
    }
    const bytes = decodeBody(part);
    const filename = decodeHeader(disposition.params.filename ?? ct.params.name ?? "");
    if (disposition.value === "attachment" || (filename && !ct.value.startsWith("text/"))) {
      out.attachments.push({ filename, contentType: ct.value, size: bytes.length });
      return;
    }
    if (ct.value === "text/plain" && out.text === "") out.text = bytesToString(bytes, ct.params.charset);
    else if (ct.value === "text/html" && out.html === "") out.html = bytesToString(bytes, ct.params.charset);
    else out.attachments.push({ filename, contentType: ct.value, size: bytes.length });
  };
  walk(top, 0);
  return out;
}

/** Pulls the bare addresses out of an address header ("A <a@x>, b@y" → ["a@x", "b@y"]), lower-cased. */
export function addressesOf(header: string | undefined): string[] {
  if (!header) return [];
  const out: string[] = [];
  for (const m of header.matchAll(/<([^>]+)>|([^\s<>,;:"]+@[^\s<>,;:"]+)/g)) {
    const a = (m[1] ?? m[2] ?? "").trim().toLowerCase();
    if (a) out.push(a);
  }
  return out;
}
