/**
 * One HTTP request to a message provider, with a timeout, mapped to TransportError. Neither the
 * request nor the response body reaches an error: both can hold the code.
 */
import { TransportError } from "./types.js";

export interface ProviderRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

export async function providerRequest(req: ProviderRequest): Promise<void> {
  let res: Response;
  try {
    res = await fetch(req.url, {
      method: req.method,
      headers: req.headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
      // A redirect would resend the message somewhere the configuration did not name.
      redirect: "manual",
      signal: AbortSignal.timeout(req.timeoutMs),
    });
  } catch (e) {
    const name = (e as { name?: unknown }).name;
    if (name === "TimeoutError" || name === "AbortError") throw new TransportError("timeout", true);
    const causeCode = (e as { cause?: { code?: unknown } }).cause?.code;
    throw new TransportError(
      typeof causeCode === "string" && /^[A-Z0-9_]{1,40}$/.test(causeCode)
        ? `http_${causeCode}`
        : "http_error",
      true,
    );
  }
  // Release the connection; the body is never read into an error or a log.
  await res.body?.cancel().catch(() => {});
  if (res.status >= 200 && res.status < 300) return;
  // 408, 429 and 5xx may pass later; any other status refuses this request as it is.
  const retryable = res.status === 408 || res.status === 429 || res.status >= 500;
  throw new TransportError(`http_status_${res.status}`, retryable);
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`;
}
