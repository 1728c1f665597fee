// An SMTP sink (smtp-server) that accepts every message and writes it as JSON into <runDir>/mail/.
// Three listeners share the sink: plain (no STARTTLS offered), STARTTLS, and implicit TLS.
// AUTH is accepted with any credentials and is optional.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  SMTPServer,
  type SMTPServerDataStream,
  type SMTPServerOptions,
  type SMTPServerSession,
} from "smtp-server";
import { parseMail, type ReceivedMail } from "../mail.js";
import type { SmtpEnv } from "../types.js";
import { seconds } from "./proc.js";
import type { TlsFiles } from "./tls.js";

export interface SmtpHandle {
  env: SmtpEnv;
  timings: Record<string, number>;
  stop(): Promise<void>;
}

let seq = 0;

function store(mailDir: string, raw: string, session: SMTPServerSession): void {
  const now = new Date();
  const id = `${now.getTime()}-${String(++seq).padStart(5, "0")}-${randomBytes(3).toString("hex")}`;
  const parsed = parseMail(raw);
  const mailFrom = session.envelope.mailFrom;
  const mail: ReceivedMail = {
    id,
    from: mailFrom ? mailFrom.address : "",
    to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
    headers: parsed.headers,
    subject: parsed.subject,
    text: parsed.text,
    html: parsed.html,
    attachments: parsed.attachments,
    raw,
    receivedAt: now.toISOString(),
    secure: session.secure,
    ...(session.user ? { authUser: String(session.user) } : {}),
  };
  // Write then rename, so readers never see half a file.
  const tmp = join(mailDir, `.${id}.tmp`);
  writeFileSync(tmp, JSON.stringify(mail, null, 2));
  renameSync(tmp, join(mailDir, `${id}.json`));
}

export async function startSmtpSink(opts: { runDir: string; tls: TlsFiles }): Promise<SmtpHandle> {
  const t0 = performance.now();
  const mailDir = join(opts.runDir, "mail");
  mkdirSync(mailDir, { recursive: true });
  const key = readFileSync(opts.tls.keyFile);
  const cert = readFileSync(opts.tls.certFile);

  const base: SMTPServerOptions = {
    name: "localhost",
    authOptional: true,
    allowInsecureAuth: true,
    disableReverseLookup: true,
    logger: false,
    size: 25 * 1024 * 1024,
    closeTimeout: 1000,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username ?? "anonymous" });
    },
    onData(stream: SMTPServerDataStream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", (e: Error) => callback(e));
      stream.on("end", () => {
        try {
          store(mailDir, Buffer.concat(chunks).toString("utf8"), session);
          callback(null, "stored by the Latchkey test sink");
        } catch (e) {
          callback(e as Error);
        }
      });
    },
  };
  const servers = [
    new SMTPServer({ ...base, disabledCommands: ["STARTTLS"] }),
    new SMTPServer({ ...base, key, cert }),
    new SMTPServer({ ...base, key, cert, secure: true }),
  ];
  const ports: number[] = [];
  for (const s of servers) {
    ports.push(
      await new Promise<number>((resolve, reject) => {
        s.on("error", reject);
        const srv = s.listen(0, "127.0.0.1", () => {
          const addr = srv.address();
          resolve(typeof addr === "object" && addr ? addr.port : 0);
        });
      }),
    );
  }
  return {
    env: {
      host: "127.0.0.1",
      port: ports[0] ?? 0,
      starttlsPort: ports[1] ?? 0,
      tlsPort: ports[2] ?? 0,
      mailDir,
    },
    timings: { smtp: seconds(t0) },
    stop: async () => {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
