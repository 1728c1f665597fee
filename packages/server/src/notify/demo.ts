/**
 * Demo mode only: a transport that keeps the last N delivered messages in memory so the demo's
 * outbox page can show them (codes included — that is the point of the demo, and nothing is
 * persisted). Never wired outside demo mode.
 */
import type { Channel, MessageTransport, OutboundMessage } from "./types.js";

export interface DemoMessage {
  id: string;
  tenantId: string;
  channel: Channel;
  template: string;
  to: string;
  subject: string | null;
  text: string;
  html: string | null;
  /** Epoch ms when the worker delivered it. */
  deliveredAt: number;
}

export class DemoOutboxTransport implements MessageTransport {
  private readonly messages: DemoMessage[] = [];

  constructor(
    private readonly capacity = 50,
    private readonly now: () => number = Date.now,
  ) {}

  async send(msg: OutboundMessage): Promise<void> {
    this.messages.push({
      id: msg.id,
      tenantId: msg.tenantId,
      channel: msg.channel,
      template: msg.template,
      to: msg.to,
      subject: msg.subject ?? null,
      text: msg.text,
      html: msg.html ?? null,
      deliveredAt: this.now(),
    });
    if (this.messages.length > this.capacity) this.messages.splice(0, this.messages.length - this.capacity);
  }

  /** Newest first, optionally for one tenant. Copies, so the page cannot alter the store. */
  list(tenantId?: string): DemoMessage[] {
    return this.messages
      .filter((m) => tenantId === undefined || m.tenantId === tenantId)
      .map((m) => ({ ...m }))
      .reverse();
  }

  clear(): void {
    this.messages.length = 0;
  }
}
