/**
 * Twilio and Twilio-compatible APIs (same paths and fields; `baseUrl` points elsewhere for a
 * compatible gateway or a test server).
 * - SMS:   POST {baseUrl}/2010-04-01/Accounts/{AccountSid}/Messages.json, form: To, From, Body
 *          (MessagingServiceSid instead of From when `from` is a messaging service SID, MG…)
 * - Voice: POST {baseUrl}/2010-04-01/Accounts/{AccountSid}/Calls.json,    form: To, From, Twiml
 * Both with HTTP Basic auth AccountSid:AuthToken. The voice message's text (notify/templates.ts)
 * already spells the code digit by digit, twice; the TwiML says that text.
 */
import { z } from "zod";
import { LatchkeyError } from "../core/errors.js";
import { basicAuth, providerRequest } from "./http.js";
import type { OutboundMessage, SmsProvider, VoiceProvider } from "./types.js";

export const twilioOptionsSchema = z.object({
  accountSid: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9]+$/),
  authToken: z.string().min(1).max(256),
  /** Sender: an E.164 number or a messaging service / alphanumeric id the account allows. */
  from: z.string().min(1).max(64),
  baseUrl: z.url({ protocol: /^https?$/ }).default("https://api.twilio.com"),
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
});
export type TwilioOptions = z.input<typeof twilioOptionsSchema>;

export function xmlEscape(s: string): string {
  return s
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&apos;");
}

/** The TwiML of a verification call. */
export function voiceTwiml(text: string): string {
  return `<Response><Say>${xmlEscape(text)}</Say></Response>`;
}

class TwilioBase {
  protected readonly opts: z.output<typeof twilioOptionsSchema>;

  constructor(options: TwilioOptions) {
    const parsed = twilioOptionsSchema.safeParse(options);
    if (!parsed.success)
      throw new LatchkeyError("CONFIG_INVALID", `Twilio provider: ${z.prettifyError(parsed.error)}`);
    this.opts = parsed.data;
  }

  protected async post(
    resource: "Messages.json" | "Calls.json",
    form: Record<string, string>,
  ): Promise<void> {
    const base = this.opts.baseUrl.replace(/\/+$/, "");
    await providerRequest({
      url: `${base}/2010-04-01/Accounts/${encodeURIComponent(this.opts.accountSid)}/${resource}`,
      method: "POST",
      headers: {
        authorization: basicAuth(this.opts.accountSid, this.opts.authToken),
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
      },
      body: new URLSearchParams(form).toString(),
      timeoutMs: this.opts.timeoutMs,
    });
  }
}

export class TwilioSmsProvider extends TwilioBase implements SmsProvider {
  readonly channel = "sms" as const;

  async send(msg: OutboundMessage): Promise<void> {
    // A messaging service SID (MG…) goes in its own field; a number or sender id goes in From.
    const sender: Record<string, string> = /^MG[0-9a-fA-F]{32}$/.test(this.opts.from)
      ? { MessagingServiceSid: this.opts.from }
      : { From: this.opts.from };
    await this.post("Messages.json", { To: msg.to, ...sender, Body: msg.text });
  }
}

export class TwilioVoiceProvider extends TwilioBase implements VoiceProvider {
  readonly channel = "voice" as const;

  async send(msg: OutboundMessage): Promise<void> {
    await this.post("Calls.json", { To: msg.to, From: this.opts.from, Twiml: voiceTwiml(msg.text) });
  }
}
