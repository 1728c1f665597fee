/**
 * The shapes the outbox and its transports share. A transport delivers one message to one provider
 * (SMTP server, SMS gateway, voice gateway) and either resolves or throws a TransportError whose
 * `reason` is safe to store and log: it never carries the message, the recipient or a provider's
 * response body, because providers sometimes echo what they were sent.
 */
import { LatchkeyError } from "../core/errors.js";

export const CHANNELS = ["email", "sms", "voice"] as const;
export type Channel = (typeof CHANNELS)[number];

/** What a caller hands to the outbox. Everything but tenantId/channel/template is sealed at rest. */
export interface MessageInput {
  tenantId: string;
  channel: Channel;
  /** Message id from notify/templates.ts, e.g. 'verification.code'. Stored in clear. */
  template: string;
  /** Email address or E.164 number. */
  to: string;
  subject?: string;
  text: string;
  html?: string;
  /**
   * The bare one-time code when the message carries one, for providers whose request templates
   * place it separately (`{{code}}` in the generic HTTP provider). Sealed with the rest.
   */
  code?: string;
}

/** A message as a transport receives it: the opened payload plus its outbox id. */
export interface OutboundMessage extends MessageInput {
  id: string;
}

export interface MessageTransport {
  send(msg: OutboundMessage): Promise<void>;
  /** Release sockets and timers; optional. */
  close?(): Promise<void>;
}

export interface SmsProvider extends MessageTransport {
  readonly channel: "sms";
}

export interface VoiceProvider extends MessageTransport {
  readonly channel: "voice";
}

/** The transport for each channel; a missing entry means the channel is not configured. */
export type ChannelTransports = Partial<Record<Channel, MessageTransport>>;

/**
 * A delivery failure. `reason` is a short token such as `http_status_503`, `timeout`,
 * `smtp_EAUTH`; `retryable` false means retrying cannot help (e.g. a 4xx refusal of the request).
 */
export class TransportError extends LatchkeyError {
  readonly reason: string;
  readonly retryable: boolean;

  constructor(reason: string, retryable = true) {
    super("PROVIDER_FAILED", `provider failed: ${reason}`, { reason });
    this.name = "TransportError";
    this.reason = reason;
    this.retryable = retryable;
  }
}

/** Maps any thrown value to a reason safe to persist (never the error's message text). */
export function safeReason(e: unknown): { reason: string; retryable: boolean } {
  if (e instanceof TransportError) return { reason: e.reason, retryable: e.retryable };
  if (e && typeof e === "object") {
    const name = (e as { name?: unknown }).name;
    if (name === "TimeoutError" || name === "AbortError") return { reason: "timeout", retryable: true };
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && /^[A-Z0-9_]{1,40}$/.test(code))
      return { reason: `error_${code}`, retryable: true };
  }
  return { reason: "error", retryable: true };
}
