import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHibpRangeChecker, HibpUnavailableError, rangeResponseContains } from "./hibp.js";
import { sha1Hex } from "./types.js";

/** A local server speaking the range protocol: real suffixes, padded with count-0 entries. */
const breached = new Map([
  ["password", 9_545_824],
  ["letmein123", 33],
]);
const paddingOnly = "padded-but-never-breached";
const requests: { url: string; headers: IncomingHttpHeaders }[] = [];
let server: Server;
let baseUrl: string;
let mode: "normal" | "error" | "hang" | "huge" = "normal";

function rangeBody(prefix: string): string {
  const lines: string[] = [];
  for (const [pw, count] of breached) {
    const h = sha1Hex(pw);
    if (h.startsWith(prefix)) lines.push(`${h.slice(5)}:${count}`);
  }
  const p = sha1Hex(paddingOnly);
  if (p.startsWith(prefix)) lines.push(`${p.slice(5)}:0`);
  while (lines.length < 800) lines.push(`${randomBytes(18).toString("hex").slice(0, 35).toUpperCase()}:0`);
  return lines.sort().join("\r\n");
}

beforeAll(async () => {
  server = createServer((req, res) => {
    requests.push({ url: req.url ?? "", headers: req.headers });
    if (mode === "hang") return; // never answers
    if (mode === "error") {
      res.writeHead(503).end("busy");
      return;
    }
    const m = /^\/range\/([0-9A-F]{5})$/.exec(req.url ?? "");
    if (m === null) {
      res.writeHead(400).end();
      return;
    }
    const body = mode === "huge" ? "A".repeat(400_000) : rangeBody(m[1]!);
    res.writeHead(200, { "content-type": "text/plain" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe("createHibpRangeChecker against a local range server", () => {
  it("finds breached passwords and sends only the 5-character prefix, with padding requested", async () => {
    mode = "normal";
    requests.length = 0;
    const hibp = createHibpRangeChecker({ baseUrl });
    expect(await hibp.isBreached("password")).toBe(true);
    expect(await hibp.isBreached("letmein123")).toBe(true);
    expect(await hibp.isBreached("zebra-cactus-violin-41")).toBe(false);
    expect(requests).toHaveLength(3);
    for (const r of requests) {
      expect(r.url).toMatch(/^\/range\/[0-9A-F]{5}$/);
      expect(r.headers["add-padding"]).toBe("true");
    }
    expect(requests[0]!.url).toBe(`/range/${sha1Hex("password").slice(0, 5)}`);
  });

  it("ignores count-0 padding entries even when the suffix matches", async () => {
    mode = "normal";
    expect(await createHibpRangeChecker({ baseUrl }).isBreached(paddingOnly)).toBe(false);
  });

  it("throws HibpUnavailableError on an error status, a timeout or an oversized answer", async () => {
    mode = "error";
    await expect(createHibpRangeChecker({ baseUrl }).isBreached("password")).rejects.toBeInstanceOf(
      HibpUnavailableError,
    );
    mode = "hang";
    await expect(
      createHibpRangeChecker({ baseUrl, timeoutMs: 200 }).isBreached("password"),
    ).rejects.toBeInstanceOf(HibpUnavailableError);
    mode = "huge";
    await expect(
      createHibpRangeChecker({ baseUrl, maxResponseBytes: 100_000 }).isBreached("password"),
    ).rejects.toThrow(/too large/);
    mode = "normal";
  });

  it("throws when nothing listens", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(
      createHibpRangeChecker({ baseUrl: `http://127.0.0.1:${port}` }).isBreached("password"),
    ).rejects.toBeInstanceOf(HibpUnavailableError);
  });
});

describe("rangeResponseContains", () => {
  const suffix = sha1Hex("password").slice(5);
  it("matches case-insensitively, needs a positive count and skips malformed lines", () => {
    expect(rangeResponseContains(`${suffix.toLowerCase()}:3\n`, suffix)).toBe(true);
    expect(rangeResponseContains(`${suffix}:0`, suffix)).toBe(false);
    expect(rangeResponseContains(`garbage\n${suffix}\n:5\n${suffix}x:5`, suffix)).toBe(false);
    expect(rangeResponseContains("", suffix)).toBe(false);
  });
});
