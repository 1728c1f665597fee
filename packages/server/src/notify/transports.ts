/**
 * Builds the transport of each channel from plain option objects (the configuration loader owns
 * the file format; this is the shape it hands over). A channel left unconfigured has no transport:
 * the outbox marks its messages failed with `channel_not_configured`, and the reset flow should not
 * offer methods that need it. In demo mode every unconfigured channel goes to the demo outbox.
 */
import { z } from "zod";
import type { Clock } from "../core/clock.js";
import { LatchkeyError } from "../core/errors.js";
import { DemoOutboxTransport } from "./demo.js";
import { HttpSmsProvider, HttpVoiceProvider } from "./http-provider.js";
import { type SmtpOptions, SmtpTransport } from "./smtp.js";
import { TwilioSmsProvider, TwilioVoiceProvider } from "./twilio.js";
import type { ChannelTransports } from "./types.js";

export const smtpOptionsSchema = z.object({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  secure: z.boolean().default(false),
  startTls: z.boolean().default(true),
  from: z.string().min(3),
  user: z.string().min(1).optional(),
  password: z.string().optional(),
  caFile: z.string().min(1).optional(),
  timeoutMs: z.number().int().min(100).max(120_000).optional(),
});

export const phoneProviderOptionsSchema = z.object({
  type: z.enum(["none", "http", "twilio"]).default("none"),
  // generic HTTP
  url: z.string().optional(),
  method: z.enum(["POST", "PUT", "PATCH", "GET"]).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  bodyTemplate: z.string().optional(),
  contentType: z.string().optional(),
  // Twilio
  accountSid: z.string().optional(),
  authToken: z.string().optional(),
  baseUrl: z.string().optional(),
  // both
  from: z.string().optional(),
  timeoutMs: z.number().int().optional(),
});
export type PhoneProviderOptions = z.input<typeof phoneProviderOptionsSchema>;

export interface TransportsOptions {
  smtp?: z.input<typeof smtpOptionsSchema> | null;
  sms?: PhoneProviderOptions | null;
  voice?: PhoneProviderOptions | null;
  /** Demo mode: unconfigured channels deliver to an in-memory list (see DemoOutboxTransport). */
  demo?: boolean | { capacity?: number };
  /** For the demo list's timestamps. */
  clock?: Clock;
}

export interface CreatedTransports {
  transports: ChannelTransports;
  /** Present in demo mode only. */
  demo: DemoOutboxTransport | null;
  /** Closes every transport that holds resources. */
  close(): Promise<void>;
}

function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function phoneProvider(channel: "sms" | "voice", raw: PhoneProviderOptions | null | undefined) {
  if (!raw) return undefined;
  const parsed = phoneProviderOptionsSchema.safeParse(raw);
  if (!parsed.success)
    throw new LatchkeyError("CONFIG_INVALID", `${channel}: ${z.prettifyError(parsed.error)}`);
  const o = parsed.data;
  if (o.type === "none") return undefined;
  if (o.type === "http") {
    if (!o.url) throw new LatchkeyError("CONFIG_INVALID", `${channel}: type "http" needs a url`);
    const opts = defined({
      url: o.url,
      method: o.method,
      headers: o.headers,
      bodyTemplate: o.bodyTemplate,
      contentType: o.contentType,
      from: o.from,
      timeoutMs: o.timeoutMs,
    });
    return channel === "sms" ? new HttpSmsProvider(opts) : new HttpVoiceProvider(opts);
  }
  if (!o.accountSid || !o.authToken || !o.from) {
    throw new LatchkeyError(
      "CONFIG_INVALID",
      `${channel}: type "twilio" needs accountSid, authToken and from`,
    );
  }
  const opts = defined({
    accountSid: o.accountSid,
    authToken: o.authToken,
    from: o.from,
    // `url` doubles as the API base URL for Twilio, as the configuration file names it.
    baseUrl: o.baseUrl ?? o.url,
    timeoutMs: o.timeoutMs,
  });
  return channel === "sms" ? new TwilioSmsProvider(opts) : new TwilioVoiceProvider(opts);
}

export function createTransports(options: TransportsOptions): CreatedTransports {
  const transports: ChannelTransports = {};
  let smtp: SmtpTransport | null = null;
  if (options.smtp) {
    const parsed = smtpOptionsSchema.safeParse(options.smtp);
    if (!parsed.success) throw new LatchkeyError("CONFIG_INVALID", `smtp: ${z.prettifyError(parsed.error)}`);
    if (parsed.data.user && parsed.data.password === undefined) {
      throw new LatchkeyError("CONFIG_INVALID", "smtp: a user needs a password");
    }
    smtp = new SmtpTransport(defined(parsed.data) as SmtpOptions);
    transports.email = smtp;
  }
  const sms = phoneProvider("sms", options.sms);
  if (sms) transports.sms = sms;
  const voice = phoneProvider("voice", options.voice);
  if (voice) transports.voice = voice;

  let demo: DemoOutboxTransport | null = null;
  if (options.demo) {
    const capacity = typeof options.demo === "object" ? options.demo.capacity : undefined;
    const clock = options.clock;
    demo = new DemoOutboxTransport(capacity ?? 50, clock ? () => clock.now() : Date.now);
    transports.email ??= demo;
    transports.sms ??= demo;
    transports.voice ??= demo;
  }
  return {
    transports,
    demo,
    async close() {
      await smtp?.close();
    },
  };
}
