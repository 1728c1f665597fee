import { randomBytes } from "node:crypto";
import { solveChallenge } from "altcha-lib";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { ManualClock, systemClock } from "../core/clock.js";
import { type CaptchaChallenge, createCaptcha } from "./altcha.js";
import type { Branding } from "./layout.js";
import { type OutboxMessage, webPlugin } from "./plugin.js";
import { CONTENT_SECURITY_POLICY } from "./security-headers.js";

const branding: Branding = {
  organisationName: "Acme",
  helpdeskUrl: null,
  helpdeskText: "Call 0100",
  primaryColour: "#1f4e8c",
};

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(opts: {
  demoMode: boolean;
  messages?: OutboxMessage[];
  brandingFor?: (slug?: string) => Branding;
}) {
  const seen: (string | undefined)[] = [];
  app = Fastify();
  await app.register(webPlugin, {
    demoMode: opts.demoMode,
    captcha: createCaptcha({ hmacKey: randomBytes(32), clock: systemClock, maxNumber: 1000 }),
    getBranding: async (slug) => {
      seen.push(slug);
      return opts.brandingFor?.(slug) ?? branding;
    },
    demoOutbox: { list: () => opts.messages ?? [] },
  });
  await app.ready();
  return { app, seen };
}

describe("static assets", () => {
  it("serves our stylesheet and scripts with the right types", async () => {
    const { app } = await start({ demoMode: false });
    const css = await app.inject("/static/latchkey.css");
    expect(css.statusCode).toBe(200);
    expect(css.headers["content-type"]).toMatch(/^text\/css/);
    expect(css.headers["x-content-type-options"]).toBe("nosniff");
    expect(css.body).toContain("var(--brand)");
    for (const js of ["/static/password-rules.js", "/static/latchkey.js"]) {
      const r = await app.inject(js);
      expect(r.statusCode, js).toBe(200);
      expect(r.headers["content-type"]).toMatch(/javascript/);
    }
  });

  it("serves the altcha widget build that injects no style and needs no blob: worker", async () => {
    const { app } = await start({ demoMode: false });
    const js = await app.inject("/static/vendor/altcha.js");
    expect(js.statusCode).toBe(200);
    expect(js.headers["content-type"]).toMatch(/javascript/);
    expect(js.body).toContain('customElements.define("altcha-widget"');
    expect(js.body).not.toContain('createElement("style")');
    expect(js.body).toContain('new URL(e || "./worker.js", import.meta.url)');
    expect((await app.inject("/static/vendor/worker.js")).statusCode).toBe(200);
    const css = await app.inject("/static/vendor/altcha.css");
    expect(css.statusCode).toBe(200);
    expect(css.headers["content-type"]).toMatch(/^text\/css/);
    expect(css.body).toContain(".altcha{");
  });

  it("does not serve files outside the static folder", async () => {
    const { app } = await start({ demoMode: false });
    for (const url of [
      "/static/../package.json",
      "/static/%2e%2e/package.json",
      "/static/..%2fpackage.json",
      "/static/vendor/altcha.d.ts",
    ]) {
      const r = await app.inject(url);
      expect(r.statusCode, url).toBeGreaterThanOrEqual(400);
      expect(r.body).not.toContain("@latchkey/server");
    }
  });
});

describe("/brand.css", () => {
  it("emits the tenant's colour, asking getBranding for a valid slug only", async () => {
    const { app, seen } = await start({
      demoMode: false,
      brandingFor: (slug) => ({ ...branding, primaryColour: slug === "acme" ? "#ffff00" : "#1f4e8c" }),
    });
    const r = await app.inject("/brand.css?tenant=acme");
    expect(r.headers["content-type"]).toMatch(/^text\/css/);
    expect(r.body).toBe(":root{--brand:#ffff00;--brand-on:#000000;--brand-ink:#737300}\n");
    await app.inject("/brand.css?tenant=..%2Fx%3C");
    await app.inject("/brand.css");
    expect(seen).toEqual(["acme", undefined, undefined]);
  });
});

describe("GET /api/v1/captcha/challenge", () => {
  it("returns a fresh, uncacheable challenge that the captcha then verifies", async () => {
    const clock = new ManualClock(Date.now());
    const captcha = createCaptcha({ hmacKey: randomBytes(32), clock, maxNumber: 1000 });
    app = Fastify();
    await app.register(webPlugin, { demoMode: false, captcha, getBranding: async () => branding });
    const r = await app.inject("/api/v1/captcha/challenge");
    expect(r.statusCode).toBe(200);
    expect(r.headers["cache-control"]).toBe("no-store");
    const c = r.json<CaptchaChallenge>();
    const again = (await app.inject("/api/v1/captcha/challenge")).json<CaptchaChallenge>();
    expect(again.salt).not.toBe(c.salt);
    const s = await solveChallenge(c.challenge, c.salt, c.algorithm, c.maxnumber).promise;
    const payload = Buffer.from(JSON.stringify({ ...c, number: s?.number })).toString("base64");
    expect(await captcha.verify(payload)).toBe(true);
  });
});

describe("/demo/outbox", () => {
  const messages: OutboxMessage[] = [
    {
      channel: "email",
      to: "jo@example.com",
      subject: "Your code <b>",
      text: "Code: 123456\n<script>alert(1)</script>",
      sentAt: Date.UTC(2026, 0, 2, 3, 4, 5),
    },
    { channel: "sms", to: "+44 7700 900123", text: "Code 654321", sentAt: new Date(Date.UTC(2026, 0, 2)) },
  ];

  it("does not exist outside demo mode", async () => {
    const { app } = await start({ demoMode: false, messages });
    const r = await app.inject("/demo/outbox");
    expect(r.statusCode).toBe(404);
    expect(r.body).not.toContain("123456");
    expect(r.body).not.toContain("jo@example.com");
  });

  it("lists the messages, escaped, under the page CSP in demo mode", async () => {
    const { app } = await start({ demoMode: true, messages });
    const r = await app.inject("/demo/outbox");
    expect(r.statusCode).toBe(200);
    expect(r.headers["content-security-policy"]).toBe(CONTENT_SECURITY_POLICY);
    expect(r.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(r.body).toContain("<dd>jo@example.com</dd>");
    expect(r.body).toContain("<dd>Your code &lt;b&gt;</dd>");
    expect(r.body).toContain("<pre>Code: 123456\n&lt;script&gt;alert(1)&lt;/script&gt;</pre>");
    expect(r.body).toContain("<dd>2026-01-02T03:04:05.000Z</dd>");
    expect(r.body).toContain("<dd>+44 7700 900123</dd>");
    expect(r.body).not.toContain("<script>alert");
  });

  it("says so when nothing was sent", async () => {
    const { app } = await start({ demoMode: true });
    expect((await app.inject("/demo/outbox")).body).toContain("No messages have been sent yet.");
  });
});
