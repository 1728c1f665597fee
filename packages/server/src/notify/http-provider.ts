/**
 * A generic SMS/voice provider for gateways that take one templated HTTP request per message.
 *
 * The administrator writes the request: url, method, headers and a body template with the
 * placeholders {{to}}, {{from}}, {{text}} and {{code}}. Values are encoded for where they land:
 * inside a JSON string literal (contentType "json": the template supplies the quotes), or
 * form-encoded (contentType "form"); placeholders in the URL are always percent-encoded.
 * Substitution is one pass, so a value containing "{{…}}" is never expanded again.
 * Success is any 2xx answer.
 */
import { z } from "zod";
import { LatchkeyError } from "../core/errors.js";
import { providerRequest } from "./http.js";
import type { OutboundMessage, SmsProvider, VoiceProvider } from "./types.js";

export const PLACEHOLDERS = ["to", "from", "text", "code"] as const;
type Placeholder = (typeof PLACEHOLDERS)[number];
const PLACEHOLDER_RE = /\{\{\s*([a-zA-Z]+)\s*\}\}/g;

export const httpProviderOptionsSchema = z.object({
  url: z.url({ protocol: /^https?$/ }),
  method: z.enum(["POST", "PUT", "PATCH", "GET"]).default("POST"),
  headers: z.record(z.string(), z.string()).default({}),
  bodyTemplate: z.string().max(10_000).default(""),
  /**
   * "json" or "form", or a MIME type: application/x-www-form-urlencoded form-encodes the values,
   * any other type JSON-escapes them (and is sent as the Content-Type).
   */
  contentType: z.string().min(1).max(200).default("json"),
  from: z.string().max(64).default(""),
  timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
});
export type HttpProviderOptions = z.input<typeof httpProviderOptionsSchema>;

export type BodyEncoding = "json" | "form" | "url";

function encode(value: string, encoding: BodyEncoding): string {
  if (encoding === "json") return JSON.stringify(value).slice(1, -1);
  return encodeURIComponent(value);
}

/** Fills {{to}}, {{from}}, {{text}}, {{code}} in one pass; throws CONFIG_INVALID on any other name. */
export function renderTemplate(
  template: string,
  values: Record<Placeholder, string>,
  encoding: BodyEncoding,
): string {
  return template.replace(PLACEHOLDER_RE, (_m, name: string) => {
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
      throw new LatchkeyError("CONFIG_INVALID", `unknown placeholder {{${name}}} in provider template`);
    }
    return encode(values[name as Placeholder], encoding);
  });
}

/** How values are encoded for a contentType setting, and the Content-Type header it sends. */
export function bodyEncoding(contentType: string): { encoding: "json" | "form"; mime: string } {
  const ct = contentType.trim();
  if (ct === "json") return { encoding: "json", mime: "application/json; charset=utf-8" };
  if (ct === "form") return { encoding: "form", mime: "application/x-www-form-urlencoded" };
  return { encoding: /^application\/x-www-form-urlencoded\b/i.test(ct) ? "form" : "json", mime: ct };
}

function checkPlaceholders(template: string): void {
  for (const m of template.matchAll(PLACEHOLDER_RE)) {
    const name = m[1] ?? "";
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
      throw new LatchkeyError(
        "CONFIG_INVALID",
        `unknown placeholder {{${name}}} in provider template; use ${PLACEHOLDERS.map((p) => `{{${p}}}`).join(", ")}`,
      );
    }
  }
}

class HttpTemplateProvider {
  protected readonly opts: z.output<typeof httpProviderOptionsSchema>;

  constructor(options: HttpProviderOptions) {
    const parsed = httpProviderOptionsSchema.safeParse(options);
    if (!parsed.success) {
      throw new LatchkeyError("CONFIG_INVALID", `HTTP provider: ${z.prettifyError(parsed.error)}`);
    }
    this.opts = parsed.data;
    checkPlaceholders(this.opts.url);
    checkPlaceholders(this.opts.bodyTemplate);
  }

  async send(msg: OutboundMessage): Promise<void> {
    const values = { to: msg.to, from: this.opts.from, text: msg.text, code: msg.code ?? "" };
    const url = renderTemplate(this.opts.url, values, "url");
    const headers: Record<string, string> = {};
    const hasBody = this.opts.method !== "GET";
    const { encoding, mime } = bodyEncoding(this.opts.contentType);
    if (hasBody) headers["content-type"] = mime;
    // Configured headers win, so an API that wants another content type can have it.
    for (const [k, v] of Object.entries(this.opts.headers)) headers[k.toLowerCase()] = v;
    await providerRequest({
      url,
      method: this.opts.method,
      headers,
      ...(hasBody ? { body: renderTemplate(this.opts.bodyTemplate, values, encoding) } : {}),
      timeoutMs: this.opts.timeoutMs,
    });
  }
}

export class HttpSmsProvider extends HttpTemplateProvider implements SmsProvider {
  readonly channel = "sms" as const;
}

export class HttpVoiceProvider extends HttpTemplateProvider implements VoiceProvider {
  readonly channel = "voice" as const;
}
