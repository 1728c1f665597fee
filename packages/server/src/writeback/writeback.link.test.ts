/**
 * Writeback against a real server (buildApp + the directory link on 127.0.0.1:0) and real `ws`
 * agents that OPEN each op.request's seal with their own X25519 key (so the tests prove what was
 * sealed to whom) and answer with scripted op.results: routing, refusals, stray results, pending
 * then the email, an agent lost mid-operation (reset retried elsewhere; change checked with
 * verify-password), the reset pages for a synced user, and a scan for the passwords used.
 */
import {
  type OperationKind,
  type OpRequest,
  open,
  operationAad,
  type SealedSecrets,
} from "@latchkey/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csrfOf, HttpClient, solveCaptchaChallengeFast } from "../../../../e2e/harness/client.js";
import { createTestDatabase, getTestEnv, readMail } from "../../../../test-env/env.js";
import { type AgentKeys, syncedUser, type TestAgentLink } from "../directory-link/testing/agent-client.js";
import { type LinkServer, sqliteDatabase, startLinkServer } from "../directory-link/testing/server.js";
import { t } from "../i18n/index.js";
import { registerEmail } from "../methods/email-code/index.js";
import type { User } from "../store/schema.js";
import type { CaptchaChallenge } from "../web/altcha.js";
import { CAPTCHA_FIELD } from "../web/components.js";
import type { WritebackService } from "./service.js";

interface Agent {
  agentId: string;
  keys: AgentKeys;
  link: TestAgentLink;
}

/** What an agent saw: the request and the secrets it opened. */
interface Seen {
  agentId: string;
  request: OpRequest;
  secrets: SealedSecrets;
}

type Answer =
  | {
      outcome: "applied" | "refused" | "failed";
      code?: string | null;
      diagnostic?: string | null;
      delayMs?: number;
      timings?: { openMs: number; lookupMs: number; directoryMs: number };
    }
  | "die"
  | "ignore";

const td = new TextDecoder();

/** Opens the seal with the agent's own key and the aad the request implies; throws if it does not open. */
async function unseal(agent: Agent, m: OpRequest): Promise<SealedSecrets> {
  const aad = operationAad({ opId: m.opId, kind: m.kind, tenantId: m.tenantId, anchor: m.anchor });
  const bytes = await open(agent.keys.x25519Private, m.sealed ?? "", aad);
  return JSON.parse(td.decode(bytes)) as SealedSecrets;
}

/** Answers every op.request on the agent's link with `script` until the link closes. */
function serveOps(agent: Agent, seen: Seen[], script: (m: OpRequest, s: SealedSecrets) => Answer): void {
  void (async () => {
    for (;;) {
      let m: OpRequest;
      try {
        m = await agent.link.next("op.request", 60_000);
      } catch {
        return; // closed
      }
      const secrets = await unseal(agent, m);
      seen.push({ agentId: agent.agentId, request: m, secrets });
      const a = script(m, secrets);
      if (a === "ignore") continue;
      if (a === "die") {
        agent.link.ws.terminate();
        return;
      }
      const send = () =>
        agent.link.send({
          type: "op.result",
          opId: m.opId,
          outcome: a.outcome,
          applied: a.outcome === "applied",
          code: a.code ?? null,
          diagnostic: a.diagnostic ?? null,
          fromCache: false,
          ...(a.timings ? { timings: a.timings } : {}),
        });
      if (a.delayMs) setTimeout(send, a.delayMs);
      else send();
    }
  })();
}

const PASSWORDS = new Set<string>();
function pw(p: string): string {
  PASSWORDS.add(p);
  return p;
}

describe.each(["sqlite", "postgres"] as const)("writeback through agents (%s)", (engine) => {
  let s: LinkServer;
  let wb: WritebackService;
  const agents: Agent[] = [];
  let n = 0;

  beforeAll(async () => {
    s = await startLinkServer({
      database: engine === "postgres" ? await createTestDatabase() : sqliteDatabase(),
      smtpPort: getTestEnv().smtp.port,
      outboxPollMs: 50,
      link: { enrollPerMinute: 1000 },
      writeback: {
        pendingAfterMs: 2_000,
        attemptDeadlineMs: 5_000,
        answerGraceMs: 1_000,
        reconnectWaitMs: 300,
      },
      settings: {
        reset: { disclosure: "guided", scope: "all", gates: 1, methods: ["email"] },
        branding: { organisationName: "Contoso" },
        throttles: { perIpPerMinute: 1000 },
      },
    });
    const w = s.features.portal.writeback;
    if (!w) throw new Error("no writeback service");
    wb = w;
  });
  afterAll(async () => {
    for (const a of agents) a.link.close();
    await s?.close();
  });

  async function agent(directoryId: string): Promise<Agent> {
    const a = await s.connectAgent({
      directories: [{ id: directoryId, dialect: "openldap", description: "t" }],
    });
    agents.push(a);
    return a;
  }

  /** Syncs a fresh user into `directoryId` through `via` and returns its row. */
  async function user(via: Agent, directoryId: string): Promise<User> {
    n += 1;
    const anchor = `33333333-0000-4000-8000-${String(n).padStart(12, "0")}`;
    const name = `Wb.User${n}`;
    const ack = await via.link.sync({
      directoryId,
      syncId: `wb-${n}`,
      full: false,
      seq: 0,
      final: true,
      users: [syncedUser(anchor, name, { mail: `wb.user${n}@contoso.test` })],
    });
    if (ack.type !== "sync.ack") throw new Error(JSON.stringify(ack));
    return s.store.db
      .selectFrom("users")
      .selectAll()
      .where("source_anchor", "=", anchor)
      .executeTakeFirstOrThrow();
  }

  async function row(id: string) {
    return s.store.db
      .selectFrom("writeback_operations")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirstOrThrow();
  }

  function submit(u: User, kind: OperationKind, secrets: SealedSecrets, timeoutMs?: number) {
    return wb.submit({
      tenantId: s.tenant.id,
      user: u,
      kind,
      secrets,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
  }

  it("routes only to an agent serving the user's directory; the seal opens with that agent's key only", async () => {
    const seen: Seen[] = [];
    const corp = await agent("corp");
    const other = await agent("other");
    const agentTimings = { openMs: 0.12, lookupMs: 0.34, directoryMs: 0.56 };
    serveOps(corp, seen, () => ({ outcome: "applied", timings: agentTimings }));
    serveOps(other, seen, () => ({ outcome: "applied" }));
    const u = await user(corp, "corp");
    expect(wb.canServe(u)).toBe(true);
    const newPassword = pw("Granite-Otter-Lamp-81");
    const out = await submit(u, "reset", { newPassword });
    expect(out.status).toBe("applied");
    // The agent's timings reach the outcome, with the round trip the server measured.
    if (out.status !== "applied") throw new Error("not applied");
    expect(out.timings).toMatchObject(agentTimings);
    expect(typeof out.timings?.roundTripMs).toBe("number");
    expect(seen).toHaveLength(1);
    const [first] = seen;
    expect(first?.agentId).toBe(corp.agentId);
    expect(first?.secrets).toEqual({ newPassword });
    expect(first?.request).toMatchObject({ kind: "reset", directoryId: "corp", anchor: u.source_anchor });
    // The other agent's key, or changed associated data, does not open it.
    const m = first?.request as OpRequest;
    await expect(unseal(other, m)).rejects.toThrow();
    await expect(unseal(corp, { ...m, anchor: "44444444-0000-4000-8000-000000000000" })).rejects.toThrow();
    await expect(unseal(corp, { ...m, kind: "change" })).rejects.toThrow();

    const r = await row(out.operationId);
    expect(r).toMatchObject({ state: "succeeded", result_code: null, sealed_payload: null, attempts: 1 });
    expect(r.agent_id).toBe(corp.agentId);
    expect(r.completed_at).not.toBeNull();
    const audit = (await s.audit("writeback.applied")).filter((e) => e.target === u.id);
    expect(audit).toHaveLength(1);

    // A user of a directory no agent serves: the setter does not serve them.
    await s.store.db.updateTable("users").set({ directory_id: "nowhere" }).where("id", "=", u.id).execute();
    const moved = { ...u, directory_id: "nowhere" };
    expect(wb.canServe(moved)).toBe(false);
    corp.link.close();
    other.link.close();
    await Promise.all([corp.link.waitClosed(), other.link.waitClosed()]);
  });

  it("a refusal comes back with its code and message id; the raw diagnostic goes to the audit only", async () => {
    const seen: Seen[] = [];
    const a = await agent("corp");
    serveOps(a, seen, () => ({
      outcome: "refused",
      code: "PASSWORD_COMPLEXITY",
      diagnostic:
        "0000052D: Constraint violation - check_password_restrictions: the password does not meet the complexity criteria!",
    }));
    const u = await user(a, "corp");
    const out = await submit(u, "reset", { newPassword: pw("weakish-1") });
    expect(out).toMatchObject({
      status: "refused",
      code: "PASSWORD_COMPLEXITY",
      messageId: "directory.password_complexity",
    });
    const r = await row(out.operationId);
    expect(r).toMatchObject({ state: "failed", result_code: "PASSWORD_COMPLEXITY", sealed_payload: null });
    const ev = (await s.audit("writeback.refused")).filter((e) => e.target === u.id);
    expect(ev).toHaveLength(1);
    expect(ev[0]?.reason).toBe("PASSWORD_COMPLEXITY");
    expect(JSON.parse(ev[0]?.details_json ?? "{}")).toMatchObject({
      resultCode: "PASSWORD_COMPLEXITY",
      diagnostic: expect.stringContaining("0000052D"),
    });
    a.link.close();
    await a.link.waitClosed();
  });

  it("a result for an unknown opId is ignored and the link stays up", async () => {
    const seen: Seen[] = [];
    const a = await agent("corp");
    a.link.send({
      type: "op.result",
      opId: "no-such-operation",
      outcome: "applied",
      applied: true,
      code: null,
      diagnostic: null,
      fromCache: false,
    });
    serveOps(a, seen, () => ({ outcome: "applied" }));
    const u = await user(a, "corp");
    const out = await submit(u, "unlock", {});
    expect(out.status).toBe("applied");
    expect(a.link.isOpen).toBe(true);
    expect(s.logLines().some((l) => l.includes("no-such-operation") && l.includes("ignored"))).toBe(true);
    expect(a.link.invalid).toEqual([]);
    a.link.close();
    await a.link.waitClosed();
  });

  it("slow directory: pending after the wait, then the person gets the final result by email", async () => {
    const seen: Seen[] = [];
    const a = await agent("corp");
    serveOps(a, seen, () => ({ outcome: "applied", delayMs: 700 }));
    const u = await user(a, "corp");
    const since = Date.now();
    const out = await submit(u, "reset", { newPassword: pw("Slate-Finch-Harbor-27") }, 200);
    expect(out.status).toBe("pending");
    expect((await row(out.operationId)).state).toBe("pending_notify");
    // Submitting again while it runs starts nothing: the running operation is the answer.
    const again = await submit(u, "reset", { newPassword: pw("Slate-Finch-Harbor-29") }, 200);
    expect(again).toEqual({ status: "pending", operationId: out.operationId });
    const mail = await readMail({
      to: u.email ?? "",
      since,
      subject: /new password is set/,
      timeoutMs: 10_000,
    });
    expect(mail.text).toContain("is now set");
    const r = await row(out.operationId);
    expect(r).toMatchObject({ state: "succeeded", sealed_payload: null });
    expect((await s.audit("writeback.pending")).filter((e) => e.target === u.id)).toHaveLength(1);
    expect(seen.filter((x) => x.request.kind === "reset")).toHaveLength(1);

    // The same for a refusal that comes late: the email carries the directory's sentence.
    const a2 = await agent("corp");
    a.link.close();
    await a.link.waitClosed();
    serveOps(a2, seen, () => ({ outcome: "refused", code: "PASSWORD_IN_HISTORY", delayMs: 700 }));
    const since2 = Date.now();
    const out2 = await submit(u, "reset", { newPassword: pw("Slate-Finch-Harbor-28") }, 200);
    expect(out2.status).toBe("pending");
    const mail2 = await readMail({
      to: u.email ?? "",
      since: since2,
      subject: /was not changed/,
      timeoutMs: 10_000,
    });
    expect(mail2.text).toContain(t("en", "directory.password_in_history"));
    a2.link.close();
    await a2.link.waitClosed();
  });

  it("an agent killed mid-reset: the reset is re-sealed to and applied by another agent", async () => {
    const seen: Seen[] = [];
    const a = await agent("corp");
    const b = await agent("corp");
    // Whichever gets it first dies; the other applies.
    let died = false;
    const script = (): Answer => {
      if (!died) {
        died = true;
        return "die";
      }
      return { outcome: "applied" };
    };
    serveOps(a, seen, script);
    serveOps(b, seen, script);
    const u = await user(a, "corp");
    const newPassword = pw("Cobalt-Wren-Meadow-35");
    const out = await submit(u, "reset", { newPassword });
    expect(out.status).toBe("applied");
    expect(seen).toHaveLength(2);
    expect(seen[0]?.agentId).not.toBe(seen[1]?.agentId);
    // The same operation id, sealed anew to the second agent's key (each opened with its own).
    expect(seen[1]?.request.opId).toBe(seen[0]?.request.opId);
    expect(seen[1]?.request.sealed).not.toBe(seen[0]?.request.sealed);
    expect(seen.map((x) => x.secrets)).toEqual([{ newPassword }, { newPassword }]);
    expect(await row(out.operationId)).toMatchObject({
      state: "succeeded",
      attempts: 2,
      sealed_payload: null,
    });
    for (const x of agents) if (x.link.isOpen) x.link.close();
  });

  it("an agent killed mid-reset, and the replay refused as 'in history' (the first applied): verified, applied", async () => {
    const seen: Seen[] = [];
    const a = await agent("corp");
    const b = await agent("corp");
    const newPassword = pw("Indigo-Marten-Ledger-73");
    let died = false;
    const script = (m: OpRequest, sec: SealedSecrets): Answer => {
      if (!died) {
        died = true;
        return "die";
      }
      if (m.kind === "reset") return { outcome: "refused", code: "PASSWORD_IN_HISTORY" };
      // slapd after an admin reset: the bind works but says "change after reset".
      return sec.password === newPassword
        ? { outcome: "refused", code: "PASSWORD_MUST_CHANGE" }
        : { outcome: "refused", code: "INVALID_CREDENTIALS" };
    };
    serveOps(a, seen, script);
    serveOps(b, seen, script);
    const u = await user(a, "corp");
    const out = await submit(u, "reset", { newPassword });
    expect(out.status).toBe("applied");
    expect(seen.map((x) => x.request.kind)).toEqual(["reset", "reset", "verify-password"]);
    expect(seen[2]?.request.opId).toBe(`${out.operationId}.verify`);
    for (const x of [a, b]) if (x.link.isOpen) x.link.close();
    await Promise.all([a.link.closed, b.link.closed]);

    // Every agent lost after the reset was sent: the person is told it is unknown, never "nothing".
    const c = await agent("corp");
    serveOps(c, seen, () => "die");
    const out2 = await submit(u, "reset", { newPassword: pw("Indigo-Marten-Ledger-74") });
    expect(out2).toMatchObject({ status: "failed", code: "OUTCOME_UNKNOWN" });
  });

  it("the only agent drops its link mid-reset and comes back: the retry goes to it on the new link", async () => {
    const seen: Seen[] = [];
    const first = await agent("corp");
    serveOps(first, seen, () => "die");
    const u = await user(first, "corp");
    const pending = submit(u, "reset", { newPassword: pw("Ochre-Plover-Signal-66") });
    await first.link.closed;
    // The same agent (same identity and keys) reconnects within reconnectWaitMs.
    const again = await s.connectAgent({
      agent: { agentId: first.agentId, keys: first.keys },
      directories: [{ id: "corp", dialect: "openldap", description: "t" }],
    });
    const back: Agent = { agentId: first.agentId, keys: first.keys, link: again.link };
    agents.push(back);
    serveOps(back, seen, () => ({ outcome: "applied" }));
    const out = await pending;
    expect(out.status).toBe("applied");
    expect(seen.map((x) => x.request.opId)).toEqual([out.operationId, out.operationId]);
    expect(await row(out.operationId)).toMatchObject({ state: "succeeded", attempts: 2 });
    back.link.close();
    await back.link.waitClosed();
  });

  it("an agent killed mid-change: the replay's OLD_PASSWORD_WRONG is checked with verify-password", async () => {
    const seen: Seen[] = [];
    const a = await agent("corp");
    const b = await agent("corp");
    const oldPassword = pw("Old-Quartz-Kettle-11");
    const newPassword = pw("New-Quartz-Kettle-12");
    let died = false;
    // The first agent applied the change, then died before answering: the old password is gone.
    const script = (m: OpRequest, sec: SealedSecrets): Answer => {
      if (!died) {
        died = true;
        return "die";
      }
      if (m.kind === "change") return { outcome: "refused", code: "OLD_PASSWORD_WRONG" };
      if (m.kind === "verify-password") {
        return sec.password === newPassword
          ? { outcome: "applied" }
          : { outcome: "refused", code: "INVALID_CREDENTIALS" };
      }
      return { outcome: "failed", code: "DIRECTORY_ERROR" };
    };
    serveOps(a, seen, script);
    serveOps(b, seen, script);
    const u = await user(a, "corp");
    const out = await submit(u, "change", { oldPassword, newPassword });
    expect(out.status).toBe("applied");
    expect(seen.map((x) => x.request.kind)).toEqual(["change", "change", "verify-password"]);
    expect(seen[2]?.secrets).toEqual({ password: newPassword });

    // With no other agent online, a lost change is reported as unknown (never silently lost).
    const c = await agent("corp");
    for (const x of [a, b]) if (x.link.isOpen) x.link.close();
    await Promise.all([a.link.closed, b.link.closed]);
    serveOps(c, seen, () => "die");
    const u2 = await user(c, "corp");
    const out2 = await submit(u2, "change", { oldPassword, newPassword });
    expect(out2).toMatchObject({
      status: "failed",
      code: "OUTCOME_UNKNOWN",
      messageId: "writeback.outcome_unknown",
    });
    expect((await s.audit("writeback.failed")).some((e) => e.target === u2.id)).toBe(true);

    // And a reset with no agent at all fails clearly.
    const out3 = await submit(u2, "reset", { newPassword: pw("Nobody-Home-Lantern-9") });
    expect(out3).toMatchObject({ status: "failed", code: "NO_AGENT" });
  });

  it("the reset pages: a directory refusal shows its sentence and the person tries again; then done", async () => {
    const seen: Seen[] = [];
    const a = await agent("corp");
    let refused = false;
    serveOps(a, seen, () => {
      if (!refused) {
        refused = true;
        return { outcome: "refused", code: "PASSWORD_COMPLEXITY", diagnostic: "0000052D complexity" };
      }
      return { outcome: "applied" };
    });
    const u = await user(a, "corp");
    await registerEmail(s.store.db, {
      tenantId: s.tenant.id,
      userId: u.id,
      address: u.email ?? "",
      confirmed: true,
      clock: s.clock,
    });
    const c = new HttpClient(s.baseUrl);
    const first = await c.get("/reset");
    const challenge = JSON.parse((await c.get("/api/v1/captcha/challenge")).text) as CaptchaChallenge;
    const choose = await c.submit("/reset/identify", {
      _csrf: csrfOf(first.text),
      username: u.username,
      [CAPTCHA_FIELD]: solveCaptchaChallengeFast(challenge),
    });
    expect(choose.text).not.toContain(t("en", "reset.ineligible.title"));
    const since = Date.now();
    const codePage = await c.submit("/reset/challenge", { _csrf: csrfOf(choose.text), method: "email" });
    const mail = await readMail({ to: u.email ?? "", since, subject: "verification code" });
    const code = /\b(\d{6,8})\b/.exec(mail.text)?.[1] ?? "";
    const pwPage = await c.submit("/reset/verify", { _csrf: csrfOf(codePage.text), code });
    expect(pwPage.text).toContain(t("en", "reset.password.title"));
    const p1 = pw("Amber-Falcon-Rivers-42");
    const again = await c.submit("/reset/password", {
      _csrf: csrfOf(pwPage.text),
      password: p1,
      confirm: p1,
    });
    expect(again.text).toContain(t("en", "directory.password_complexity").replace(/'/g, "&#39;"));
    expect(again.text).not.toContain("0000052D");
    expect(again.text).toContain(t("en", "reset.password.title"));
    const p2 = pw("Amber-Falcon-Rivers-43");
    const done = await c.submit("/reset/password", { _csrf: csrfOf(again.text), password: p2, confirm: p2 });
    expect(done.text).toContain(t("en", "reset.done.title"));
    expect(seen.map((x) => x.secrets.newPassword)).toEqual([p1, p2]);
    expect(seen.every((x) => x.request.options.unlock)).toBe(true);
    a.link.close();
    await a.link.waitClosed();
  });

  it("the JSON API: a directory refusal answers with the directory's message id; the flow stays at new_password", async () => {
    const seen: Seen[] = [];
    const a = await agent("corp");
    let refused = false;
    serveOps(a, seen, () => {
      if (!refused) {
        refused = true;
        return { outcome: "refused", code: "PASSWORD_IN_HISTORY" };
      }
      return { outcome: "applied" };
    });
    const u = await user(a, "corp");
    await registerEmail(s.store.db, {
      tenantId: s.tenant.id,
      userId: u.id,
      address: u.email ?? "",
      confirmed: true,
      clock: s.clock,
    });
    const c = new HttpClient(s.baseUrl);
    type Flow = { flow: { flowId: string; csrf: string; state: string } };
    const started = JSON.parse((await c.post("/api/v1/reset/flows")).text) as Flow;
    const id = started.flow.flowId;
    let csrf = started.flow.csrf;
    const call = async (path: string, json: unknown) => {
      const r = await c.post(`/api/v1/reset/flows/${id}${path}`, { json, headers: { "x-csrf-token": csrf } });
      const body = JSON.parse(r.text) as Flow & { error?: { code: string; messageId: string } };
      if (body.flow) csrf = body.flow.csrf;
      return { status: r.status, body };
    };
    const challenge = JSON.parse((await c.get("/api/v1/captcha/challenge")).text) as CaptchaChallenge;
    await call("/identify", { username: u.username, captcha: solveCaptchaChallengeFast(challenge) });
    const since = Date.now();
    await call("/challenge", { method: "email" });
    const mail = await readMail({ to: u.email ?? "", since, subject: "verification code" });
    const code = /\b(\d{6,8})\b/.exec(mail.text)?.[1] ?? "";
    expect((await call("/verify", { code })).body.flow.state).toBe("new_password");
    const p1 = pw("Topaz-Heron-Anvil-31");
    const refusedAnswer = await call("/password", { password: p1, confirm: p1 });
    expect(refusedAnswer.status).toBe(502);
    expect(refusedAnswer.body.error).toEqual({
      code: "PASSWORD_SET_FAILED",
      messageId: "directory.password_in_history",
    });
    const view = JSON.parse((await c.get(`/api/v1/reset/flows/${id}`)).text) as Flow;
    expect(view.flow.state).toBe("new_password");
    const p2 = pw("Topaz-Heron-Anvil-32");
    expect((await call("/password", { password: p2, confirm: p2 })).body.flow.state).toBe("completed");
    a.link.close();
    await a.link.waitClosed();
  });

  it("an operation a dead instance left pending is ended as unknown and the person is emailed", async () => {
    const a = await agent("corp");
    const u = await user(a, "corp");
    a.link.close();
    await a.link.waitClosed();
    const old = Date.now() - 10 * 60_000;
    await s.store.db
      .insertInto("writeback_operations")
      .values({
        id: "op-left-by-a-dead-instance",
        tenant_id: s.tenant.id,
        type: "reset",
        user_id: u.id,
        target_anchor: u.source_anchor ?? "",
        directory_id: "corp",
        agent_id: a.agentId,
        state: "pending_notify",
        sealed_payload: "c2VhbGVk",
        result_code: null,
        attempts: 1,
        created_at: old,
        updated_at: old,
        completed_at: null,
      })
      .execute();
    const since = Date.now();
    expect(await wb.recoverStale()).toBe(1);
    expect(await wb.recoverStale()).toBe(0);
    expect(await row("op-left-by-a-dead-instance")).toMatchObject({
      state: "failed",
      result_code: "OUTCOME_UNKNOWN",
      sealed_payload: null,
    });
    const mail = await readMail({
      to: u.email ?? "",
      since,
      subject: /could not confirm/,
      timeoutMs: 10_000,
    });
    expect(mail.text).toContain(t("en", "writeback.outcome_unknown"));
  });

  it("the store, the logs and the audit never hold a password used here", async () => {
    expect(PASSWORDS.size).toBeGreaterThan(8);
    const tables = [
      "writeback_operations",
      "audit_events",
      "users",
      "flows",
      "outbox",
      "agents",
      "throttle_counters",
      "challenges",
    ] as const;
    const dump: string[] = [];
    for (const table of tables) {
      const rows = await s.store.db.selectFrom(table).selectAll().execute();
      dump.push(JSON.stringify(rows));
    }
    dump.push(...s.logLines());
    const all = dump.join("\n");
    for (const p of PASSWORDS) expect(all.includes(p), p).toBe(false);
    // No sealed payload is left behind once operations are answered.
    const left = await s.store.db
      .selectFrom("writeback_operations")
      .select("id")
      .where("sealed_payload", "is not", null)
      .execute();
    expect(left).toEqual([]);
  });
});
