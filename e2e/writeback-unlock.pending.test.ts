/**
 * Issue 5's completion after "pending", over HTTP against a real server (buildApp + the directory
 * link) on SQLite and PostgreSQL, with a `ws` agent that opens each op.request's seal and answers only
 * when the test says so — so "the directory outlived the wait" is a fact of the test, not a race:
 * - a reset answered "pending" (pendingAfterMs 300 ms) leaves the flow `pending`, with none of the
 *   completion done; when the agent then answers "applied", the flow completes, the user's sessions
 *   are revoked, and the "your password was reset" notice is queued exactly once (the result email
 *   is that notice, not a second message), and audited once;
 * - an "unlock only" answered "pending" whose operation is then refused ends the flow `failed` and
 *   the person is emailed that the account was not unlocked, with the directory's sentence.
 * The pages of those states ("still working on it", done, "not unlocked") are opened in Chromium with
 * the flow's cookie and checked with axe.
 */
import { type OpRequest, open, operationAad, type SealedSecrets } from "@latchkey/protocol";
import { sql } from "kysely";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../packages/server/src/core/random.js";
import {
  type AgentKeys,
  syncedUser,
  type TestAgentLink,
} from "../packages/server/src/directory-link/testing/agent-client.js";
import {
  type LinkServer,
  sqliteDatabase,
  startLinkServer,
} from "../packages/server/src/directory-link/testing/server.js";
import { t } from "../packages/server/src/i18n/index.js";
import { registerEmail } from "../packages/server/src/methods/email-code/index.js";
import type { User } from "../packages/server/src/store/schema.js";
import type { CaptchaChallenge } from "../packages/server/src/web/altcha.js";
import { createTestDatabase, getTestEnv, readMail } from "../test-env/env.js";
import { until } from "./harness/agent-process.js";
import { HttpClient, solveCaptchaChallengeFast } from "./harness/client.js";
import { checkA11y, formatViolations, launchBrowser } from "./helpers/index.js";

interface Agent {
  agentId: string;
  keys: AgentKeys;
  link: TestAgentLink;
}

type FlowView = { flowId: string; csrf: string; state: string; kind?: string; messageId?: string };
type Answer = { flow?: FlowView; error?: { code: string; messageId: string } };

const td = new TextDecoder();

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

/** The reset page of the client's flow in Chromium (its cookies copied over), checked with axe; its h1. */
async function showPage(baseUrl: string, c: HttpClient, what: string): Promise<string> {
  const context = await browser.newContext({ locale: "en-GB" });
  try {
    await context.addCookies([...c.cookies].map(([name, value]) => ({ name, value, url: baseUrl })));
    const page = await context.newPage();
    await page.goto(`${baseUrl}/reset`);
    const v = await checkA11y(page);
    expect(v, `${what}: ${formatViolations(v)}`).toEqual([]);
    return ((await page.locator("h1").first().textContent()) ?? "").trim();
  } finally {
    await context.close();
  }
}

describe.each(["sqlite", "postgres"] as const)("completion after pending (%s)", (engine) => {
  let s: LinkServer;
  let agent: Agent;
  let n = 0;

  beforeAll(async () => {
    s = await startLinkServer({
      database: engine === "postgres" ? await createTestDatabase() : sqliteDatabase(),
      smtpPort: getTestEnv().smtp.port,
      outboxPollMs: 50,
      // The person is told "pending" after 300 ms; the agent here answers only when told to, well
      // inside one attempt's deadline.
      writeback: { pendingAfterMs: 300, attemptDeadlineMs: 30_000, answerGraceMs: 5_000 },
      settings: {
        reset: { disclosure: "guided", scope: "all", gates: 1, methods: ["email"] },
        branding: { organisationName: "Contoso" },
        throttles: { perIpPerMinute: 1000 },
      },
    });
    agent = await s.connectAgent({ directories: [{ id: "corp", dialect: "openldap", description: "t" }] });
  });
  afterAll(async () => {
    agent?.link.close();
    await s?.close();
  });

  /** Syncs a fresh user (locked or not) through the agent, with a confirmed email registered. */
  async function user(locked: boolean): Promise<User> {
    n += 1;
    const anchor = `44444444-0000-4000-8000-${String(n).padStart(12, "0")}`;
    const name = `Pend.${engine}.${n}`;
    const ack = await agent.link.sync({
      directoryId: "corp",
      syncId: `pend-${n}`,
      full: false,
      seq: 0,
      final: true,
      users: [syncedUser(anchor, name, { mail: `pend.${engine}.${n}@contoso.test`, locked })],
    });
    if (ack.type !== "sync.ack") throw new Error(JSON.stringify(ack));
    const u = await s.store.db
      .selectFrom("users")
      .selectAll()
      .where("source_anchor", "=", anchor)
      .executeTakeFirstOrThrow();
    await registerEmail(s.store.db, {
      tenantId: s.tenant.id,
      userId: u.id,
      address: u.email ?? "",
      confirmed: true,
      clock: s.clock,
    });
    return u;
  }

  async function addSession(u: User): Promise<string> {
    const id = newId();
    const now = Date.now();
    await sql`insert into sessions (id, tenant_id, user_id, token_hash, ip, user_agent, created_at, last_seen_at, expires_at, revoked_at)
      values (${id}, ${u.tenant_id}, ${u.id}, ${newId()}, null, null, ${now}, ${now}, ${now + 3_600_000}, null)`.execute(
      s.store.db,
    );
    return id;
  }

  async function revoked(sessionId: string): Promise<boolean> {
    const r = await s.store.db
      .selectFrom("sessions")
      .select("revoked_at")
      .where("id", "=", sessionId)
      .executeTakeFirstOrThrow();
    return r.revoked_at !== null;
  }

  /** The outbox templates queued for the tenant since `since` (the only messages here are ours). */
  async function queued(since: number): Promise<string[]> {
    const rows = await s.store.db
      .selectFrom("outbox")
      .select("template")
      .where("tenant_id", "=", s.tenant.id)
      .where("created_at", ">=", since)
      .orderBy("created_at")
      .execute();
    return rows.map((r) => r.template);
  }

  /** A JSON API client walked to new_password through the email gate. */
  async function atNewPassword(u: User) {
    const c = new HttpClient(s.baseUrl);
    const started = JSON.parse((await c.post("/api/v1/reset/flows")).text) as Answer;
    const id = started.flow?.flowId ?? "";
    let csrf = started.flow?.csrf ?? "";
    const call = async (path: string, json: unknown) => {
      const r = await c.post(`/api/v1/reset/flows/${id}${path}`, { json, headers: { "x-csrf-token": csrf } });
      const body = JSON.parse(r.text) as Answer;
      if (body.flow) csrf = body.flow.csrf;
      return { status: r.status, body };
    };
    const view = async () => (JSON.parse((await c.get(`/api/v1/reset/flows/${id}`)).text) as Answer).flow;
    const challenge = JSON.parse((await c.get("/api/v1/captcha/challenge")).text) as CaptchaChallenge;
    await call("/identify", { username: u.username, captcha: solveCaptchaChallengeFast(challenge) });
    const since = Date.now();
    await call("/challenge", { method: "email" });
    const mail = await readMail({ to: u.email ?? "", since, subject: "verification code" });
    const code = /\b(\d{6,8})\b/.exec(mail.text)?.[1] ?? "";
    const verified = await call("/verify", { code });
    expect(verified.body.flow?.state).toBe("new_password");
    return {
      id,
      client: c,
      call,
      view,
      newPasswordView: verified.body.flow as FlowView & { unlockOffered?: boolean },
    };
  }

  /** The next op.request, opened with the agent's own key (so the test knows what was sealed). */
  async function nextOp(): Promise<{ request: OpRequest; secrets: SealedSecrets }> {
    const request = await agent.link.next("op.request", 30_000);
    const aad = operationAad({
      opId: request.opId,
      kind: request.kind,
      tenantId: request.tenantId,
      anchor: request.anchor,
    });
    const secrets =
      request.kind === "unlock" && !request.sealed
        ? {}
        : (JSON.parse(
            td.decode(await open(agent.keys.x25519Private, request.sealed ?? "", aad)),
          ) as SealedSecrets);
    return { request, secrets };
  }

  function answer(opId: string, outcome: "applied" | "refused", code: string | null = null): void {
    agent.link.send({
      type: "op.result",
      opId,
      outcome,
      applied: outcome === "applied",
      code,
      diagnostic: null,
      fromCache: false,
    });
  }

  it("a reset told 'pending' completes when the directory answers: sessions revoked, one notice, once", async () => {
    const u = await user(false);
    const session = await addSession(u);
    const flow = await atNewPassword(u);
    const since = Date.now();

    // The agent holds the operation: the person is answered "pending" and the flow waits.
    const op = nextOp();
    const answered = await flow.call("/password", {
      password: "Marble-Osprey-Lantern-71",
      confirm: "Marble-Osprey-Lantern-71",
    });
    expect(answered.status).toBe(200);
    expect(answered.body.flow).toMatchObject({ state: "pending", kind: "reset" });
    const { request, secrets } = await op;
    expect(request.kind).toBe("reset");
    expect(secrets.newPassword).toBe("Marble-Osprey-Lantern-71");
    expect((await flow.view())?.state).toBe("pending");
    expect(await revoked(session)).toBe(false);
    expect(await queued(since)).toEqual([]);
    expect(await showPage(s.baseUrl, flow.client, "pending")).toBe(t("en", "reset.pending.title"));

    // The directory answers: the flow's own completion runs now.
    answer(request.opId, "applied");
    await until("the flow completes", async () => (await flow.view())?.state === "completed", 10_000);
    // Its steps ran in the same report that moved the flow; wait for the last of them, then count.
    await until(
      "the completion audited",
      async () => (await s.audit("reset_flow.completed")).some((e) => e.flow_id === flow.id),
      10_000,
    );
    expect(await revoked(session)).toBe(true);
    expect(await queued(since)).toEqual(["password.reset"]);
    const mail = await readMail({
      to: u.email ?? "",
      since,
      subject: /your password was reset/,
      timeoutMs: 10_000,
    });
    expect(mail.text).toContain("was reset through self-service");
    const byFlow = async (event: string) => (await s.audit(event)).filter((e) => e.flow_id === flow.id);
    expect(await byFlow("reset_flow.completed")).toHaveLength(1);
    expect(await byFlow("password.reset")).toHaveLength(1);
    expect(await byFlow("sessions.revoked")).toHaveLength(1);
    expect((await byFlow("writeback.pending")).map((e) => e.target)).toEqual([u.id]);
    expect((await byFlow("writeback.applied")).map((e) => e.target)).toEqual([u.id]);

    expect(await showPage(s.baseUrl, flow.client, "done after pending")).toBe(t("en", "reset.done.title"));

    // Another report of the same end (a second instance's, a retry's) changes nothing.
    const again = await s.features.portal.service.completePending({
      tenantId: s.tenant.id,
      userId: u.id,
      operationId: request.opId,
      end: { status: "applied" },
    });
    expect(again).toBe(true);
    expect(await queued(since)).toEqual(["password.reset"]);
    expect(await byFlow("reset_flow.completed")).toHaveLength(1);
  });

  it("an unlock told 'pending' that the directory then refuses ends failed; the person is emailed why", async () => {
    const u = await user(true);
    const flow = await atNewPassword(u);
    expect(flow.newPasswordView.unlockOffered).toBe(true);
    const since = Date.now();

    const op = nextOp();
    const answered = await flow.call("/unlock", {});
    expect(answered.body.flow).toMatchObject({ state: "pending", kind: "unlock" });
    const { request } = await op;
    expect(request.kind).toBe("unlock");
    answer(request.opId, "refused", "INSUFFICIENT_ACCESS");

    await until("the flow ends failed", async () => (await flow.view())?.state === "failed", 10_000);
    expect(await flow.view()).toMatchObject({ kind: "unlock", messageId: "directory.insufficient_access" });
    expect(await showPage(s.baseUrl, flow.client, "unlock failed")).toBe(
      t("en", "reset.unlock_failed.title"),
    );
    const mail = await readMail({
      to: u.email ?? "",
      since,
      subject: /account was not unlocked/,
      timeoutMs: 10_000,
    });
    expect(mail.text).toContain(t("en", "directory.insufficient_access"));
    expect(await queued(since)).toEqual(["writeback.result"]);
    const byFlow = async (event: string) => (await s.audit(event)).filter((e) => e.flow_id === flow.id);
    expect((await byFlow("reset_flow.failed")).map((e) => e.reason)).toEqual(["INSUFFICIENT_ACCESS"]);
    expect(await byFlow("account.unlocked")).toEqual([]);
    const row = await s.store.db
      .selectFrom("users")
      .select("locked")
      .where("id", "=", u.id)
      .executeTakeFirstOrThrow();
    expect(row.locked).toBe(1);
  });
});
