import { describe, expect, it } from "vitest";
import { bypassesProxy, describeProxy, proxyFor } from "./proxy.js";
import { checkServerUrl, enrollUrl, InsecureUrlError, linkUrl } from "./urls.js";

describe("server URLs", () => {
  it("accepts https and wss, plain only to loopback or when allowed", () => {
    expect(checkServerUrl("https://reset.example.com").host).toBe("reset.example.com");
    expect(checkServerUrl("wss://reset.example.com:8443").port).toBe("8443");
    expect(checkServerUrl("http://127.0.0.1:3000").hostname).toBe("127.0.0.1");
    expect(checkServerUrl("ws://[::1]:3000").hostname).toBe("[::1]");
    expect(checkServerUrl("http://localhost").hostname).toBe("localhost");
    expect(() => checkServerUrl("http://reset.example.com")).toThrow(InsecureUrlError);
    expect(() => checkServerUrl("ws://10.0.0.5")).toThrow(/allow-insecure-link/);
    expect(checkServerUrl("ws://10.0.0.5", true).hostname).toBe("10.0.0.5");
    expect(() => checkServerUrl("ftp://x")).toThrow(/not supported/);
    expect(() => checkServerUrl("https://user:pw@x")).toThrow(/credentials/);
    expect(() => checkServerUrl("not a url")).toThrow(/not a URL/);
  });

  it("keeps a path prefix and switches schemes", () => {
    const s = checkServerUrl("https://example.com/sspr/");
    expect(enrollUrl(s).href).toBe("https://example.com/sspr/api/v1/agents/enroll");
    expect(linkUrl(s, "/api/v1/agents/link").href).toBe("wss://example.com/sspr/api/v1/agents/link");
    expect(linkUrl(checkServerUrl("http://127.0.0.1:80"), "/l").href).toBe("ws://127.0.0.1/l");
    expect(enrollUrl(checkServerUrl("wss://example.com")).protocol).toBe("https:");
  });
});

describe("proxy selection", () => {
  const u = (s: string) => new URL(s);
  it("HTTPS_PROXY for wss/https, HTTP_PROXY for ws/http, lower-case names too", () => {
    expect(proxyFor(u("wss://a.example.com"), { HTTPS_PROXY: "http://proxy:3128" })).toBe(
      "http://proxy:3128",
    );
    expect(proxyFor(u("https://a.example.com"), { https_proxy: "http://p2:8080" })).toBe("http://p2:8080");
    expect(proxyFor(u("ws://127.0.0.1"), { HTTPS_PROXY: "http://proxy:3128" })).toBeUndefined();
    expect(proxyFor(u("ws://127.0.0.1"), { HTTP_PROXY: "http://proxy:3128" })).toBe("http://proxy:3128");
    expect(proxyFor(u("wss://a.example.com"), {})).toBeUndefined();
  });

  it("NO_PROXY: exact hosts, domains and subdomains, ports, wildcard", () => {
    const wss = u("wss://reset.corp.example.com");
    expect(bypassesProxy(wss, "corp.example.com")).toBe(true);
    expect(bypassesProxy(wss, ".example.com")).toBe(true);
    expect(bypassesProxy(wss, "*.example.com")).toBe(true);
    expect(bypassesProxy(wss, "reset.corp.example.com:443")).toBe(true);
    expect(bypassesProxy(wss, "reset.corp.example.com:8443")).toBe(false);
    expect(bypassesProxy(wss, "xample.com")).toBe(false);
    expect(bypassesProxy(wss, "other.com, localhost")).toBe(false);
    expect(bypassesProxy(wss, "*")).toBe(true);
    expect(bypassesProxy(u("https://[::1]:9/"), "[::1]:9")).toBe(true);
    expect(proxyFor(wss, { HTTPS_PROXY: "http://p:1", NO_PROXY: "example.com" })).toBeUndefined();
    expect(proxyFor(wss, { HTTPS_PROXY: "http://p:1", no_proxy: "other.org" })).toBe("http://p:1");
  });

  it("logs a proxy without its credentials", () => {
    expect(describeProxy("http://user:secret@proxy.corp:3128")).toBe("http://proxy.corp:3128");
  });
});
