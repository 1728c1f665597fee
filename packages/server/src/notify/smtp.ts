/**
 * Email through the organisation's SMTP server (nodemailer). TLS is either implicit (`secure`,
 * usually port 465) or STARTTLS, which `startTls` makes mandatory so a stripped STARTTLS
 * advertisement fails the send instead of falling back to clear text. `caFile` trusts a private CA.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import nodemailer, { type Transporter } from "nodemailer";
import type SMTPTransport from "nodemailer/lib/smtp-transport/index.js";
import { type MessageTransport, type OutboundMessage, TransportError } from "./types.js";

export interface SmtpOptions {
  host: string;
  port: number;
  /** Implicit TLS from the first byte (port 465). */
  secure: boolean;
  /** Require STARTTLS on a plain connection (port 587/25); refuse to send without it. */
  startTls: boolean;
  /** The From header, e.g. `"Latchkey" <no-reply@example.org>`. */
  from: string;
  user?: string;
  password?: string;
  /** PEM file with the CA(s) that sign the server's certificate, when it is not publicly trusted. */
  caFile?: string;
  /** Connection, greeting and socket timeout. Default 15 000 ms. */
  timeoutMs?: number;
}

export class SmtpTransport implements MessageTransport {
  private readonly transporter: Transporter<SMTPTransport.SentMessageInfo>;

  constructor(private readonly options: SmtpOptions) {
    const timeout = options.timeoutMs ?? 15_000;
    const transportOptions: SMTPTransport.Options = {
      host: options.host,
      port: options.port,
      secure: options.secure,
      requireTLS: !options.secure && options.startTls,
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      tls: {
        // SNI carries host names only (RFC 6066); for an IP address the certificate's IP SAN is checked.
        ...(isIP(options.host) ? {} : { servername: options.host }),
        minVersion: "TLSv1.2",
        ...(options.caFile ? { ca: readFileSync(options.caFile) } : {}),
      },
      ...(options.user ? { auth: { user: options.user, pass: options.password ?? "" } } : {}),
    };
    this.transporter = nodemailer.createTransport(transportOptions);
  }

  async send(msg: OutboundMessage): Promise<void> {
    try {
      await this.transporter.sendMail({
        from: this.options.from,
        to: msg.to,
        subject: msg.subject ?? "",
        text: msg.text,
        ...(msg.html ? { html: msg.html } : {}),
      });
    } catch (e) {
      // nodemailer messages can quote the server's reply, which may echo the recipient: keep the code only.
      const code = (e as { code?: unknown }).code;
      const responseCode = (e as { responseCode?: unknown }).responseCode;
      const reason =
        typeof responseCode === "number"
          ? `smtp_${responseCode}`
          : typeof code === "string" && /^[A-Z0-9_]{1,40}$/.test(code)
            ? `smtp_${code}`
            : "smtp_error";
      // A 5xx reply refuses this message for good (bad recipient, policy); everything else may pass later.
      const permanent = typeof responseCode === "number" && responseCode >= 500 && responseCode < 600;
      throw new TransportError(reason, !permanent);
    }
  }

  /** Connects and authenticates without sending, for readiness checks. */
  async verify(): Promise<boolean> {
    try {
      return await this.transporter.verify();
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.transporter.close();
  }
}
