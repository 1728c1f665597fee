/**
 * Outbound proxy selection, as curl and most tools do it: HTTPS_PROXY / https_proxy for https:// and
 * wss://, HTTP_PROXY / http_proxy for http:// and ws://, unless NO_PROXY / no_proxy lists the host.
 * NO_PROXY entries: `*` (everything), a host name or IP (exact), a domain (`example.com` or
 * `.example.com`: the domain and its subdomains), each optionally with `:port`. The proxy is reached
 * with CONNECT (https-proxy-agent), so TLS runs end to end between the agent and the server.
 */
import type { Agent } from "node:http";
import { HttpsProxyAgent } from "https-proxy-agent";

function envValue(env: NodeJS.ProcessEnv, ...names: string[]): string | undefined {
  for (const n of names) {
    const v = env[n];
    if (v !== undefined && v.trim() !== "") return v.trim();
  }
  return undefined;
}

function defaultPort(protocol: string): string {
  return protocol === "https:" || protocol === "wss:" ? "443" : "80";
}

/** Whether NO_PROXY exempts the URL. */
export function bypassesProxy(url: URL, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  const port = url.port || defaultPort(url.protocol);
  for (const rawEntry of noProxy.split(/[,\s]+/)) {
    const entry = rawEntry.trim().toLowerCase();
    if (!entry) continue;
    if (entry === "*") return true;
    let name = entry;
    let entryPort: string | undefined;
    const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
    if (bracket) {
      name = bracket[1] ?? "";
      entryPort = bracket[2];
    } else {
      const m = /^([^:]+):(\d+)$/.exec(entry);
      if (m) {
        name = m[1] ?? "";
        entryPort = m[2];
      }
    }
    if (entryPort !== undefined && entryPort !== port) continue;
    const domain = name.replace(/^\*?\./, "");
    if (host === domain || host.endsWith(`.${domain}`)) return true;
  }
  return false;
}

/** The proxy URL to use for `url`, or undefined for a direct connection. */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const secure = url.protocol === "https:" || url.protocol === "wss:";
  const proxy = secure
    ? envValue(env, "HTTPS_PROXY", "https_proxy")
    : envValue(env, "HTTP_PROXY", "http_proxy");
  if (!proxy) return undefined;
  if (bypassesProxy(url, envValue(env, "NO_PROXY", "no_proxy"))) return undefined;
  return proxy;
}

/** An http.Agent tunnelling through the proxy for `url`, or undefined when it goes direct. */
export function proxyAgentFor(url: URL, env: NodeJS.ProcessEnv = process.env): Agent | undefined {
  const proxy = proxyFor(url, env);
  return proxy ? new HttpsProxyAgent(proxy) : undefined;
}

/** The proxy URL without credentials, for logs. */
export function describeProxy(proxy: string): string {
  try {
    const u = new URL(proxy);
    u.username = "";
    u.password = "";
    return u.origin;
  } catch {
    return "(unparseable proxy URL)";
  }
}
