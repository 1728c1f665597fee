import { afterEach, describe, expect, it } from "vitest";
import { parseMail } from "../../../../test-env/mail.js";
import { DemoOutboxTransport } from "./demo.js";
import { HttpSmsProvider, HttpVoiceProvider, renderTemplate } from "./http-provider.js";
import { SmtpTransport } from "./smtp.js";
import { verificationCodeVoice } from "./templates.js";
import {
  type RecordingServer,
  recordingServer,
  type SmtpSink,
  selfSignedCertificate,
  smtpSink,
} from "./testing/servers.js";
import { createTransports } from "./transports.js";
import { TwilioSmsProvider, TwilioVoiceProvider } from "./twilio.js";
import { type OutboundMessage, TransportError } from "./types.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});
async function server(respond?: Parameters<typeof recordingServer>[0]): Promise<RecordingServer> {
  const s = await recordingServer(respond);
  cleanups.push(() => s.close());
  return s;
}
async function sink(opts?: Parameters<typeof smtpSink>[0]): Promise<SmtpSink> {
  const s = await smtpSink(opts);
  cleanups.push(() => s.close());
  return s;
}

function msg(over: Partial<OutboundMessage> = {}): OutboundMessage {
  return {
    id: "m1",
    tenantId: "t1",
    channel: "sms",
    template: "verification.code",
    to: "+4915112345689",
    text: "123456 is your code",
    code: "123456",
    ...over,
  };
}

describe("generic HTTP provider", () => {
  it("POSTs the JSON template with JSON-escaped values and the configured headers", async () => {
    const s = await server();
    const p = new HttpSmsProvider({
      url: `${s.url}/v1/sms?to={{to}}`,
      headers: { "X-Api-Key": "k-1" },
      bodyTemplate: '{"to":"{{to}}","from":"{{from}}","message":"{{text}}","otp":"{{ code }}"}',
      from: "Latchkey",
    });
    const text = 'Line "one"\nline\\two {{code}} </script>';
    await p.send(msg({ text }));
    const [r] = s.requests;
    expect(r?.method).toBe("POST");
    expect(r?.url).toBe("/v1/sms?to=%2B4915112345689");
    expect(r?.headers["content-type"]).toBe("application/json; charset=utf-8");
    expect(r?.headers["x-api-key"]).toBe("k-1");
    // The body is valid JSON and every value arrives intact (no second expansion of {{code}} in the text).
    expect(JSON.parse(r?.body ?? "")).toEqual({
      to: "+4915112345689",
      from: "Latchkey",
      message: text,
      otp: "123456",
    });
  });

  it("form-encodes values for a form content type", async () => {
    const s = await server();
    const p = new HttpVoiceProvider({
      url: s.url,
      method: "PUT",
      contentType: "application/x-www-form-urlencoded",
      bodyTemplate: "number={{to}}&say={{text}}&pin={{code}}",
    });
    await p.send(msg({ channel: "voice", text: "a&b=c + d é" }));
    const [r] = s.requests;
    expect(r?.method).toBe("PUT");
    expect(r?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    const form = new URLSearchParams(r?.body);
    expect(Object.fromEntries(form)).toEqual({ number: "+4915112345689", say: "a&b=c + d é", pin: "123456" });
  });

  it("treats any 2xx as success and maps other answers to safe reasons", async () => {
    const statuses = [202, 429, 500, 404];
    let i = 0;
    const s = await server((_r, res) => {
      res.writeHead(statuses[i++] ?? 500).end("body with 123456 and +4915112345689");
    });
    const p = new HttpSmsProvider({ url: s.url, bodyTemplate: "{{text}}" });
    await expect(p.send(msg())).resolves.toBeUndefined();
    const errors = [];
    for (let k = 0; k < 3; k++) errors.push(await p.send(msg()).catch((e: unknown) => e));
    expect(errors.map((e) => [(e as TransportError).reason, (e as TransportError).retryable])).toEqual([
      ["http_status_429", true],
      ["http_status_500", true],
      ["http_status_404", false],
    ]);
    for (const e of errors) {
      expect(e).toBeInstanceOf(TransportError);
      expect(String((e as Error).message)).not.toMatch(/123456|4915112345689/);
    }
  });

  it("gives up after its timeout", async () => {
    const s = await server(() => {
      // never answers
    });
    const p = new HttpSmsProvider({ url: s.url, bodyTemplate: "{{text}}", timeoutMs: 200 });
    await expect(p.send(msg())).rejects.toMatchObject({ reason: "timeout", retryable: true });
  });

  it("does not follow redirects", async () => {
    const s = await server((_r, res) => {
      res.writeHead(302, { location: "http://127.0.0.1:9/elsewhere" }).end();
    });
    const p = new HttpSmsProvider({ url: s.url, bodyTemplate: "{{text}}" });
    await expect(p.send(msg())).rejects.toMatchObject({ reason: "http_status_302" });
  });

  it("reports a refused connection as retryable", async () => {
    const s = await server();
    const url = s.url;
    await s.close();
    cleanups.pop();
    const p = new HttpSmsProvider({ url, bodyTemplate: "{{text}}" });
    await expect(p.send(msg())).rejects.toMatchObject({ reason: "http_ECONNREFUSED", retryable: true });
  });

  it("refuses unknown placeholders and bad URLs at configuration time", () => {
    expect(() => new HttpSmsProvider({ url: "http://127.0.0.1/", bodyTemplate: "{{password}}" })).toThrow(
      /unknown placeholder/,
    );
    expect(() => new HttpSmsProvider({ url: "ftp://x/" })).toThrow(/HTTP provider/);
    expect(renderTemplate("{{text}}", { to: "", from: "", text: "{{code}}", code: "1" }, "json")).toBe(
      "{{code}}",
    );
  });
});

describe("Twilio-compatible provider", () => {
  const sid = "AC0123456789abcdef0123456789abcdef";
  const token = "tok-secret";
  const basic = `Basic ${Buffer.from(`${sid}:${token}`).toString("base64")}`;

  it("sends an SMS: POST Messages.json, Basic auth, form To/From/Body", async () => {
    const s = await server((_r, res) => {
      res.writeHead(201, { "content-type": "application/json" }).end('{"sid":"SM1"}');
    });
    const p = new TwilioSmsProvider({
      accountSid: sid,
      authToken: token,
      from: "+15005550006",
      baseUrl: `${s.url}/`,
    });
    await p.send(msg({ text: "123456 is your code. Never share it." }));
    const [r] = s.requests;
    expect(r?.method).toBe("POST");
    expect(r?.url).toBe(`/2010-04-01/Accounts/${sid}/Messages.json`);
    expect(r?.headers.authorization).toBe(basic);
    expect(r?.headers["content-type"]).toBe("application/x-www-form-urlencoded");
    expect(Object.fromEntries(new URLSearchParams(r?.body))).toEqual({
      To: "+4915112345689",
      From: "+15005550006",
      Body: "123456 is your code. Never share it.",
    });
  });

  it("uses MessagingServiceSid for a messaging service sender", async () => {
    const s = await server();
    const mg = "MG0123456789abcdef0123456789abcdef";
    await new TwilioSmsProvider({ accountSid: sid, authToken: token, from: mg, baseUrl: s.url }).send(msg());
    const form = Object.fromEntries(new URLSearchParams(s.requests[0]?.body));
    expect(form.MessagingServiceSid).toBe(mg);
    expect(form.From).toBeUndefined();
  });

  it("places a call: POST Calls.json with TwiML that reads the code digit by digit, twice", async () => {
    const s = await server((_r, res) => {
      res.writeHead(201).end("{}");
    });
    const p = new TwilioVoiceProvider({
      accountSid: sid,
      authToken: token,
      from: "+15005550006",
      baseUrl: s.url,
    });
    const text = verificationCodeVoice({ code: "406128", organisationName: "Smith & Sons <IT>", minutes: 5 });
    await p.send(msg({ channel: "voice", text, code: "406128" }));
    const [r] = s.requests;
    expect(r?.url).toBe(`/2010-04-01/Accounts/${sid}/Calls.json`);
    expect(r?.headers.authorization).toBe(basic);
    const form = Object.fromEntries(new URLSearchParams(r?.body));
    expect(form.To).toBe("+4915112345689");
    expect(form.From).toBe("+15005550006");
    expect(form.Twiml).toMatch(/^<Response><Say>.*<\/Say><\/Response>$/);
    expect(form.Twiml).toContain("Smith &amp; Sons &lt;IT&gt;");
    expect(form.Twiml?.split("4, 0, 6, 1, 2, 8")).toHaveLength(3);
  });

  it("maps an authentication failure to a non-retryable reason", async () => {
    const s = await server((_r, res) => {
      res.writeHead(401).end('{"code":20003}');
    });
    const p = new TwilioSmsProvider({
      accountSid: sid,
      authToken: "wrong",
      from: "+15005550006",
      baseUrl: s.url,
    });
    await expect(p.send(msg())).rejects.toMatchObject({ reason: "http_status_401", retryable: false });
  });
});

describe("SMTP transport", () => {
  const email = (over: Partial<OutboundMessage> = {}) =>
    msg({
      channel: "email",
      to: "carol@example.test",
      subject: "Hello",
      text: "plain body",
      html: "<p>html body</p>",
      ...over,
    });

  it("authenticates with the configured user", async () => {
    const s = await sink({
      authMethods: ["PLAIN", "LOGIN"],
      allowInsecureAuth: true,
      onAuth(auth, _session, cb) {
        if (auth.username === "mailer" && auth.password === "pw-1") cb(null, { user: "mailer" });
        else cb(Object.assign(new Error("Invalid credentials"), { responseCode: 535 }));
      },
    });
    const good = new SmtpTransport({
      host: "127.0.0.1",
      port: s.port,
      secure: false,
      startTls: false,
      from: "a@example.test",
      user: "mailer",
      password: "pw-1",
    });
    await good.send(email());
    expect(s.messages[0]?.user).toBe("mailer");
    const parsed = parseMail(s.messages[0]?.raw ?? "");
    expect(parsed.text.trim()).toBe("plain body");
    expect(parsed.html).toContain("<p>html body</p>");
    const bad = new SmtpTransport({
      host: "127.0.0.1",
      port: s.port,
      secure: false,
      startTls: false,
      from: "a@example.test",
      user: "mailer",
      password: "nope",
    });
    await expect(bad.send(email())).rejects.toMatchObject({ reason: "smtp_535", retryable: false });
    await good.close();
    await bad.close();
  });

  it("requires STARTTLS when startTls is set, verifying the server against caFile", async () => {
    const cert = selfSignedCertificate();
    const tls = await sink({ disabledCommands: [], key: cert.key, cert: cert.cert });
    const trusted = new SmtpTransport({
      host: "127.0.0.1",
      port: tls.port,
      secure: false,
      startTls: true,
      from: "a@example.test",
      caFile: cert.caFile,
    });
    await trusted.send(email());
    expect(tls.messages[0]?.secure).toBe(true);

    // Same server, no CA: the self-signed certificate is not trusted, nothing is sent.
    const untrusted = new SmtpTransport({
      host: "127.0.0.1",
      port: tls.port,
      secure: false,
      startTls: true,
      from: "a@example.test",
    });
    await expect(untrusted.send(email())).rejects.toBeInstanceOf(TransportError);
    expect(tls.messages).toHaveLength(1);

    // A server that does not offer STARTTLS: refused rather than sent in clear.
    const plain = await sink();
    const strict = new SmtpTransport({
      host: "127.0.0.1",
      port: plain.port,
      secure: false,
      startTls: true,
      from: "a@example.test",
      caFile: cert.caFile,
    });
    await expect(strict.send(email())).rejects.toBeInstanceOf(TransportError);
    expect(plain.messages).toHaveLength(0);
  });

  it("speaks implicit TLS when secure is set", async () => {
    const cert = selfSignedCertificate();
    const s = await sink({ secure: true, key: cert.key, cert: cert.cert });
    const t = new SmtpTransport({
      host: "127.0.0.1",
      port: s.port,
      secure: true,
      startTls: false,
      from: "a@example.test",
      caFile: cert.caFile,
    });
    await t.send(email());
    expect(s.messages[0]?.secure).toBe(true);
    expect(await t.verify()).toBe(true);
  });
});

describe("createTransports", () => {
  it("builds each configured channel and leaves the others out", async () => {
    const { transports, demo, close } = createTransports({
      smtp: { host: "127.0.0.1", port: 2525, secure: false, startTls: false, from: "a@example.test" },
      sms: { type: "twilio", accountSid: "AC1", authToken: "t", from: "+15005550006" },
      voice: { type: "none" },
    });
    expect(transports.email).toBeInstanceOf(SmtpTransport);
    expect(transports.sms).toBeInstanceOf(TwilioSmsProvider);
    expect(transports.voice).toBeUndefined();
    expect(demo).toBeNull();
    await close();
  });

  it("accepts the generic provider and the Twilio base URL under `url`", async () => {
    const s = await server();
    const { transports } = createTransports({
      sms: { type: "http", url: s.url, bodyTemplate: '{"t":"{{text}}"}', contentType: "application/json" },
      voice: { type: "twilio", accountSid: "AC1", authToken: "t", from: "+15005550006", url: s.url },
    });
    expect(transports.sms).toBeInstanceOf(HttpSmsProvider);
    await transports.voice?.send(msg({ channel: "voice" }));
    expect(s.requests[0]?.url).toBe("/2010-04-01/Accounts/AC1/Calls.json");
  });

  it("says what is missing", () => {
    expect(() => createTransports({ sms: { type: "http" } })).toThrow(/needs a url/);
    expect(() => createTransports({ voice: { type: "twilio", accountSid: "AC1" } })).toThrow(
      /accountSid, authToken and from/,
    );
    expect(() => createTransports({ smtp: { host: "", port: 25, from: "a@b" } })).toThrow(/smtp/);
  });

  it("in demo mode routes unconfigured channels to the in-memory outbox", async () => {
    const { transports, demo } = createTransports({ sms: { type: "none" }, demo: { capacity: 2 } });
    expect(demo).toBeInstanceOf(DemoOutboxTransport);
    expect(transports.email).toBe(demo);
    await transports.sms?.send(msg({ id: "1" }));
    await transports.email?.send(msg({ id: "2", channel: "email", tenantId: "t2" }));
    await transports.voice?.send(msg({ id: "3", channel: "voice" }));
    expect(demo?.list().map((m) => m.id)).toEqual(["3", "2"]);
    expect(demo?.list("t1").map((m) => m.id)).toEqual(["3"]);
  });
});
