import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { createTestDatabase, readMail } from "../../../../test-env/env.js";
import { parseMail } from "../../../../test-env/mail.js";
import { StoreAudit } from "../audit/emitter.js";
import { ManualClock } from "../core/clock.js";
import { numericCode } from "../core/random.js";
import { randomSecrets } from "../core/secrets.js";
import { openStore, type Store } from "../store/db.js";
import { HttpSmsProvider } from "./http-provider.js";
import { Outbox, OutboxWorker } from "./outbox.js";
import { SmtpTransport } from "./smtp.js";
import { verificationCodeEmail } from "./templates.js";
import { type RecordingServer, recordingServer, type SmtpSink, smtpSink } from "./testing/servers.js";
import type { MessageTransport, OutboundMessage } from "./types.js";

const secrets = randomSecrets();

const TENANT = "tenant-1";

function tempDbFile(): string {
  return join(mkdtempSync(join(tmpdir(), "lk-outbox-")), "db.sqlite");
}

/** Every byte the SQLite database holds on disk (main file and write-ahead log). */
function rawDatabase(file: string): string {
  let out = readFileSync(file).toString("latin1");
  try {
    out += readFileSync(`${file}-wal`).toString("latin1");
  } catch {
    // no WAL yet
  }
  return out;
}

/** Every row of every table, as JSON. */
async function dumpTables(store: Store): Promise<string> {
  const parts: string[] = [];
  for (const t of ["outbox", "audit_events"] as const) {
    parts.push(JSON.stringify(await store.db.selectFrom(t).selectAll().execute()));
  }
  return parts.join("\n");
}

describe("outbox over real SMTP", () => {
  let sink: SmtpSink;
  let store: Store;
  let file: string;
  const clock = new ManualClock();

  beforeAll(async () => {
    sink = await smtpSink();
  });
  afterAll(async () => {
    await sink.close();
  });
  afterEach(async () => {
    await store.close();
  });

  it("delivers the code by email while the code is never in the database", async () => {
    file = tempDbFile();
    store = openStore({ url: file });
    await store.migrate();
    const audit = new StoreAudit(store.db, clock);
    const outbox = new Outbox({ db: store.db, clock, secrets, audit });
    const smtp = new SmtpTransport({
      host: "127.0.0.1",
      port: sink.port,
      secure: false,
      startTls: false,
      from: "Latchkey <no-reply@example.test>",
    });
    const worker = new OutboxWorker({
      db: store.db,
      engine: store.engine,
      clock,
      secrets,
      transports: { email: smtp },
      audit,
    });

    const code = numericCode(8);
    const to = "alice.smith@example.test";
    const content = verificationCodeEmail({ code, organisationName: "Example Org", minutes: 5 });
    const id = await outbox.enqueue({
      tenantId: TENANT,
      channel: "email",
      template: "verification.code",
      to,
      ...content,
      code,
    });

    const queued = await store.db
      .selectFrom("outbox")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
    expect(queued.state).toBe("queued");
    expect(queued.payload_sealed).toBeTruthy();
    expect(await dumpTables(store)).not.toContain(code);
    expect(await dumpTables(store)).not.toContain(to);
    expect(rawDatabase(file)).not.toContain(code);

    expect(await worker.drainOnce()).toBe(1);

    const mail = sink.messages.at(-1);
    expect(mail?.to).toEqual([to]);
    const parsed = parseMail(mail?.raw ?? "");
    expect(parsed.subject).toBe("Example Org verification code");
    expect(parsed.text).toContain(`Your verification code is ${code}.`);
    expect(parsed.html).toContain(code);

    const sent = await store.db
      .selectFrom("outbox")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
    expect(sent).toMatchObject({
      state: "sent",
      payload_sealed: null,
      attempts: 1,
      sent_at: clock.now(),
      last_error: null,
    });
    const events = await store.db
      .selectFrom("audit_events")
      .select(["event", "result", "details_json"])
      .execute();
    expect(events.map((e) => e.event)).toEqual(["notification.queued", "notification.sent"]);
    expect(await dumpTables(store)).not.toContain(code);
    expect(rawDatabase(file)).not.toContain(code);
    expect(await worker.drainOnce()).toBe(0);
  });

  it("sends right after enqueue when started, and stops cleanly", async () => {
    store = openStore({ url: ":memory:" });
    await store.migrate();
    const delivered: OutboundMessage[] = [];
    let notify: () => void = () => {};
    const arrived = new Promise<void>((r) => {
      notify = r;
    });
    const smtp = new SmtpTransport({
      host: "127.0.0.1",
      port: sink.port,
      secure: false,
      startTls: false,
      from: "x@example.test",
    });
    const watching: MessageTransport = {
      async send(m) {
        await smtp.send(m);
        delivered.push(m);
        notify();
      },
    };
    const outbox = new Outbox({ db: store.db, clock, secrets });
    // A poll interval far beyond the test's life: only the wake-up on enqueue can deliver in time.
    const worker = new OutboxWorker({
      db: store.db,
      engine: store.engine,
      clock,
      secrets,
      transports: { email: watching },
      outbox,
      pollIntervalMs: 3_600_000,
    });
    worker.start();
    await outbox.enqueue({
      tenantId: TENANT,
      channel: "email",
      template: "password.reset",
      to: "bob@example.test",
      subject: "s",
      text: "t",
    });
    await arrived;
    await worker.stop();
    expect(delivered.map((m) => m.to)).toEqual(["bob@example.test"]);
    const row = await store.db.selectFrom("outbox").select(["state"]).executeTakeFirstOrThrow();
    expect(row.state).toBe("sent");
  });
});

describe("started worker", () => {
  it("keeps draining while batches come back full, without waiting for a poll", async () => {
    const store = openStore({ url: ":memory:" });
    await store.migrate();
    const clock = new ManualClock();
    try {
      const outbox = new Outbox({ db: store.db, clock, secrets });
      for (let i = 0; i < 10; i++) {
        await outbox.enqueue({
          tenantId: TENANT,
          channel: "sms",
          template: "t",
          to: "+4915112345689",
          text: `m${i}`,
        });
      }
      let seen = 0;
      let done: () => void = () => {};
      const all = new Promise<void>((r) => {
        done = r;
      });
      const counting: MessageTransport = {
        async send() {
          if (++seen === 10) done();
        },
      };
      const worker = new OutboxWorker({
        db: store.db,
        engine: store.engine,
        clock,
        secrets,
        transports: { sms: counting },
        maxPerDrain: 3,
        pollIntervalMs: 3_600_000,
      });
      worker.start();
      await all;
      await worker.stop();
      expect(seen).toBe(10);
      const states = await store.db.selectFrom("outbox").select("state").execute();
      expect(states.every((r) => r.state === "sent")).toBe(true);
    } finally {
      await store.close();
    }
  });
});

describe("retries", () => {
  let provider: RecordingServer;
  let store: Store;
  beforeAll(async () => {
    provider = await recordingServer((_r, res) => {
      res.writeHead(503).end("provider echoes the body here: never stored");
    });
  });
  afterAll(async () => {
    await provider.close();
  });
  afterEach(async () => {
    await store.close();
  });

  it("backs off exponentially on a failing provider, then fails and wipes the payload", async () => {
    store = openStore({ url: ":memory:" });
    await store.migrate();
    const clock = new ManualClock();
    const audit = new StoreAudit(store.db, clock);
    const outbox = new Outbox({ db: store.db, clock, secrets, audit });
    const sms = new HttpSmsProvider({
      url: `${provider.url}/send`,
      bodyTemplate: '{"to":"{{to}}","text":"{{text}}"}',
    });
    const worker = new OutboxWorker({
      db: store.db,
      engine: store.engine,
      clock,
      secrets,
      transports: { sms },
      audit,
      maxAttempts: 4,
      baseDelayMs: 10_000,
    });
    const id = await outbox.enqueue({
      tenantId: TENANT,
      channel: "sms",
      template: "verification.code",
      to: "+4915112345689",
      text: "code 77889911",
      code: "77889911",
    });
    const row = () =>
      store.db.selectFrom("outbox").selectAll().where("id", "=", id).executeTakeFirstOrThrow();

    const start = clock.now();
    expect(await worker.drainOnce()).toBe(1);
    expect(await row()).toMatchObject({
      state: "queued",
      attempts: 1,
      next_attempt_at: start + 10_000,
      last_error: "http_status_503",
    });
    clock.advance(9_999);
    expect(await worker.drainOnce()).toBe(0);
    clock.advance(1);
    expect(await worker.drainOnce()).toBe(1);
    expect(await row()).toMatchObject({
      state: "queued",
      attempts: 2,
      next_attempt_at: clock.now() + 20_000,
    });
    clock.advance(20_000);
    expect(await worker.drainOnce()).toBe(1);
    expect(await row()).toMatchObject({
      state: "queued",
      attempts: 3,
      next_attempt_at: clock.now() + 40_000,
    });
    clock.advance(40_000);
    expect(await worker.drainOnce()).toBe(1);
    expect(await row()).toMatchObject({
      state: "failed",
      attempts: 4,
      payload_sealed: null,
      last_error: "http_status_503",
    });
    clock.advance(3_600_000);
    expect(await worker.drainOnce()).toBe(0);
    expect(provider.requests).toHaveLength(4);

    const failures = await store.db
      .selectFrom("audit_events")
      .selectAll()
      .where("event", "=", "notification.failed")
      .execute();
    expect(failures.map((f) => JSON.parse(f.details_json).willRetry)).toEqual([true, true, true, false]);
    expect(failures.every((f) => f.reason === "http_status_503")).toBe(true);
    const everything = await dumpTables(store);
    expect(everything).not.toContain("77889911");
    expect(everything).not.toContain("+4915112345689");
    expect(everything).not.toContain("echoes");
  });

  it("does not retry a request the provider refuses as such (4xx)", async () => {
    store = openStore({ url: ":memory:" });
    await store.migrate();
    const clock = new ManualClock();
    const refusing = await recordingServer((_r, res) => {
      res.writeHead(400).end();
    });
    try {
      const outbox = new Outbox({ db: store.db, clock, secrets });
      const sms = new HttpSmsProvider({ url: refusing.url, bodyTemplate: "{{text}}" });
      const worker = new OutboxWorker({
        db: store.db,
        engine: store.engine,
        clock,
        secrets,
        transports: { sms },
      });
      await outbox.enqueue({
        tenantId: TENANT,
        channel: "sms",
        template: "t",
        to: "+4915112345689",
        text: "x",
      });
      await worker.drainOnce();
      expect(await store.db.selectFrom("outbox").selectAll().executeTakeFirstOrThrow()).toMatchObject({
        state: "failed",
        attempts: 1,
        payload_sealed: null,
        last_error: "http_status_400",
      });
    } finally {
      await refusing.close();
    }
  });

  it("fails a message whose channel has no transport, or whose payload does not open", async () => {
    store = openStore({ url: ":memory:" });
    await store.migrate();
    const clock = new ManualClock();
    const outbox = new Outbox({ db: store.db, clock, secrets });
    const a = await outbox.enqueue({
      tenantId: TENANT,
      channel: "voice",
      template: "t",
      to: "+4915112345689",
      text: "x",
    });
    // Sealed under another key: what a rotated or wrong data key looks like.
    const other = new Outbox({ db: store.db, clock, secrets: randomSecrets() });
    const b = await other.enqueue({
      tenantId: TENANT,
      channel: "email",
      template: "t",
      to: "a@example.test",
      text: "x",
    });
    const never: MessageTransport = {
      send: () => Promise.reject(new Error("must not be called")),
    };
    const worker = new OutboxWorker({
      db: store.db,
      engine: store.engine,
      clock,
      secrets,
      transports: { email: never },
    });
    expect(await worker.drainOnce()).toBe(2);
    const rows = await store.db
      .selectFrom("outbox")
      .select(["id", "state", "last_error", "payload_sealed"])
      .execute();
    expect(rows.find((r) => r.id === a)).toMatchObject({
      state: "failed",
      last_error: "channel_not_configured",
      payload_sealed: null,
    });
    expect(rows.find((r) => r.id === b)).toMatchObject({
      state: "failed",
      last_error: "payload_unreadable",
      payload_sealed: null,
    });
  });

  it("takes over a message whose sender died mid-send once the lease runs out", async () => {
    store = openStore({ url: ":memory:" });
    await store.migrate();
    const clock = new ManualClock();
    const outbox = new Outbox({ db: store.db, clock, secrets });
    await outbox.enqueue({
      tenantId: TENANT,
      channel: "sms",
      template: "t",
      to: "+4915112345689",
      text: "x",
    });
    // Simulate a claim by an instance that then died: state sending, lease 5 min ahead.
    await store.db
      .updateTable("outbox")
      .set({ state: "sending", attempts: 1, next_attempt_at: clock.now() + 300_000 })
      .execute();
    const ok = await recordingServer();
    try {
      const worker = new OutboxWorker({
        db: store.db,
        engine: store.engine,
        clock,
        secrets,
        transports: { sms: new HttpSmsProvider({ url: ok.url, bodyTemplate: "{{text}}" }) },
      });
      expect(await worker.drainOnce()).toBe(0);
      clock.advance(300_000);
      expect(await worker.drainOnce()).toBe(1);
      expect(await store.db.selectFrom("outbox").selectAll().executeTakeFirstOrThrow()).toMatchObject({
        state: "sent",
        attempts: 2,
      });
    } finally {
      await ok.close();
    }
  });

  it("refuses malformed input without echoing it", async () => {
    store = openStore({ url: ":memory:" });
    await store.migrate();
    const outbox = new Outbox({ db: store.db, clock: new ManualClock(), secrets });
    const bad = {
      tenantId: TENANT,
      channel: "fax",
      template: "t",
      to: "x",
      text: "secret 123456",
    } as unknown as Parameters<Outbox["enqueue"]>[0];
    const err = await outbox.enqueue(bad).catch((e: unknown) => e as Error);
    expect(err).toMatchObject({ code: "VALIDATION_FAILED" });
    expect(String((err as Error).message)).not.toContain("123456");
  });
});

/** Enqueues `n` SMS, runs two workers (two store connections) concurrently, counts deliveries. */
async function concurrentDrain(url: string, n: number) {
  const clock = new ManualClock();
  const a = openStore({ url });
  await a.migrate();
  const b = openStore({ url });
  const provider = await recordingServer();
  try {
    const outbox = new Outbox({ db: a.db, clock, secrets });
    for (let i = 0; i < n; i++) {
      await outbox.enqueue({
        tenantId: TENANT,
        channel: "sms",
        template: "t",
        to: "+4915112345689",
        text: `message ${i}`,
      });
    }
    const sms = new HttpSmsProvider({
      url: provider.url,
      bodyTemplate: "{{text}}",
      contentType: "text/plain",
    });
    const workers = [a, b, a, b].map(
      (s) => new OutboxWorker({ db: s.db, engine: s.engine, clock, secrets, transports: { sms } }),
    );
    const handled = await Promise.all(workers.map((w) => w.drainOnce()));
    const bodies = provider.requests.map((r) => r.body).sort();
    const states = await a.db.selectFrom("outbox").select("state").execute();
    return { handled, bodies, states: states.map((s) => s.state) };
  } finally {
    await provider.close();
    await a.close();
    await b.close();
  }
}

describe("several workers", () => {
  it("never send a message twice (SQLite, two connections to one file)", async () => {
    const n = 40;
    const { handled, bodies, states } = await concurrentDrain(tempDbFile(), n);
    expect(handled.reduce((x, y) => x + y, 0)).toBe(n);
    expect(bodies).toEqual(Array.from({ length: n }, (_, i) => `message ${i}`).sort());
    expect(states.every((s) => s === "sent")).toBe(true);
  });

  it("never send a message twice (PostgreSQL, FOR UPDATE SKIP LOCKED)", async () => {
    const pg = await createTestDatabase();
    try {
      const n = 40;
      const { handled, bodies, states } = await concurrentDrain(pg.url, n);
      expect(handled.reduce((x, y) => x + y, 0)).toBe(n);
      expect(bodies).toEqual(Array.from({ length: n }, (_, i) => `message ${i}`).sort());
      expect(states.every((s) => s === "sent")).toBe(true);
    } finally {
      await pg.drop();
    }
  });
});

describe("through the test environment's SMTP sink", () => {
  const env = inject("latchkeyEnv");

  it("delivers over STARTTLS verified against the run's CA and over implicit TLS", async () => {
    if (!env) throw new Error("the test-env global setup did not run");
    const store = openStore({ url: ":memory:" });
    await store.migrate();
    const clock = new ManualClock();
    try {
      const outbox = new Outbox({ db: store.db, clock, secrets });
      const base = { host: "localhost", from: "Latchkey <no-reply@example.test>", caFile: env.caFile };
      const variants = [
        { port: env.smtp.starttlsPort, secure: false, startTls: true },
        { port: env.smtp.tlsPort, secure: true, startTls: false },
      ];
      for (const v of variants) {
        const to = `outbox-${randomBytes(4).toString("hex")}@example.test`;
        const code = numericCode(8);
        const content = verificationCodeEmail({ code, organisationName: "Example Org", minutes: 5 });
        await outbox.enqueue({
          tenantId: TENANT,
          channel: "email",
          template: "verification.code",
          to,
          ...content,
          code,
        });
        const worker = new OutboxWorker({
          db: store.db,
          engine: store.engine,
          clock,
          secrets,
          transports: { email: new SmtpTransport({ ...base, ...v }) },
        });
        expect(await worker.drainOnce()).toBe(1);
        const mail = await readMail({ to });
        expect(mail.secure).toBe(true);
        expect(mail.text).toContain(code);
        expect(await dumpTables(store)).not.toContain(code);
      }
    } finally {
      await store.close();
    }
  });
});
