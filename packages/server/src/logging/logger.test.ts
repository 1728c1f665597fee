import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { censorDeep, createLogger } from "./logger.js";

/** Collects every line the logger writes. */
function capture(): { stream: Writable; text(): string; lines(): Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  return {
    stream,
    text: () => chunks.join(""),
    lines: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const SECRETS = {
  password: "Hunter2-very-secret",
  code: "493817",
  answer: "Fluffy the hamster",
  bearer: "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig",
  cookie: "lk_flow=flow-binding-secret-value",
  totp: "JBSWY3DPEHPK3PXP",
};

describe("logger redaction", () => {
  it("never writes a password, code, answer, bearer token or cookie, however deep", () => {
    const out = capture();
    const log = createLogger({ level: "trace", destination: out.stream });

    const flow = {
      id: "flow-1",
      state: "verify",
      context: {
        user: { username: "alice", newPassword: SECRETS.password },
        challenge: { method: "email", code: SECRETS.code, otpSecret: SECRETS.totp },
        questions: [{ id: "q1", answer: SECRETS.answer }],
        deeper: { a: { b: { c: { d: { passwd: SECRETS.password, Password: SECRETS.password } } } } },
      },
    };
    const req = {
      id: "req-1",
      method: "POST",
      url: "/api/v1/reset/flows/flow-1/verify",
      headers: {
        authorization: SECRETS.bearer,
        cookie: SECRETS.cookie,
        "user-agent": "vitest",
      },
      body: { code: SECRETS.code, answers: { q1: SECRETS.answer } },
    };

    log.info({ flow }, "flow step");
    log.info({ req }, "incoming request");
    log.warn({ headers: req.headers, body: req.body }, "raw headers and body");
    log.child({ token: SECRETS.bearer }).info({ password: SECRETS.password }, "child with a secret binding");
    log.error({ err: Object.assign(new Error("boom"), { code: "E_TEST", secret: SECRETS.totp }) }, "failed");
    log.debug([flow], "an array as the merging object");

    const text = out.text();
    for (const [name, secret] of Object.entries(SECRETS)) {
      expect(text, `${name} leaked into the log`).not.toContain(secret);
    }
    // The same leaks must not hide in escaped or partial forms.
    expect(text).not.toContain("Hunter2");
    expect(text).not.toContain("eyJhbGci");
    expect(text).not.toContain("hamster");
  });

  it("keeps what is useful: structure, non-secret fields, error codes and status codes", () => {
    const out = capture();
    const log = createLogger({ level: "info", destination: out.stream });
    log.info(
      {
        flow: { id: "flow-1", state: "verify", user: { username: "alice", password: "x" } },
        statusCode: 429,
      },
      "step",
    );
    log.error({ err: Object.assign(new Error("nope"), { code: "FLOW_EXPIRED" }) }, "error");
    const [first, second] = out.lines();
    expect(first?.msg).toBe("step");
    expect(first?.statusCode).toBe(429);
    expect(first?.flow).toEqual({
      id: "flow-1",
      state: "verify",
      user: { username: "alice", password: "[redacted]" },
    });
    expect(second?.err).toMatchObject({ code: "FLOW_EXPIRED", message: "nope" });
  });

  it("survives cycles and very deep objects", () => {
    const a: Record<string, unknown> = { name: "a" };
    a.self = a;
    let deep: Record<string, unknown> = { token: "t0p" };
    for (let i = 0; i < 50; i++) deep = { next: deep };
    const out = capture();
    const log = createLogger({ level: "info", destination: out.stream });
    log.info({ a, deep }, "odd shapes");
    const text = out.text();
    expect(text).toContain("[circular]");
    expect(text).not.toContain("t0p");
    expect(censorDeep({ x: [{ pass: "p" }] })).toEqual({ x: [{ pass: "[redacted]" }] });
  });
});
