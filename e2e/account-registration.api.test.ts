/**
 * Registration of verification methods over real HTTP (the portal as `serve` composes it, SQLite,
 * mail through the test environment's SMTP sink, SMS through the harness's HTTP gateway):
 * - the guard: pages go to sign-in with `next`, the JSON API answers 401 SESSION_REQUIRED;
 * - CSRF: a POST without the session's token is refused (403) and changes nothing;
 * - validation: malformed bodies and refused inputs are 400 VALIDATION_FAILED naming the field;
 * - step-up: with a method registered, adding another before proving it is 403 STEP_UP_REQUIRED
 *   (audited); after the step-up it works; a step-up gone stale is refused at completion;
 * - removal of a method, with the notice to the removed address;
 * - the review interrupt sets users.methods_reviewed_at (API and page);
 * - passkeys end to end with a software authenticator (real keys and signatures): registered
 *   through the API, then used as the reset JSON API's gate (validated at the edge with zod), as
 *   the JSON sign-in's second factor, and refused by the sign-in page when the assertion is junk.
 * The passkey client talks to http://localhost:<port>: a relying party needs a host name.
 */
import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
} from "@simplewebauthn/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyPassword } from "../packages/server/src/core/password-hash.js";
import { translator } from "../packages/server/src/i18n/index.js";
import { SoftAuthenticator } from "../packages/server/src/methods/passkey/testing/soft-authenticator.js";
import { readMail } from "../test-env/env.js";
import { confirmedTypes, passSecondFactor, postSignIn } from "./harness/account.js";
import { csrfOf, HttpClient, solvedCaptcha } from "./harness/client.js";
import { type PortalHarness, startPortal } from "./harness/portal.js";

const t = translator("en");
const API = "/api/v1/account/methods";
const DAY = 86_400_000;

const QUESTIONS = [
  { questionId: "lk.first-pet", answer: "Marmalade the cat" },
  { questionId: "lk.first-street", answer: "Juniper Lane" },
  { questionId: "lk.first-car", answer: "Rusty estate" },
];
const PASSWORDS = {
  nora: "Copper-Willow-Beacon-18",
  quinn: "Harbour-Slate-Thimble-40",
  rhea: "Indigo-Falcon-Orchard-73",
};

let h: PortalHarness;

beforeAll(async () => {
  h = await startPortal({
    settings: {
      reset: {
        disclosure: "guided",
        scope: "all",
        gates: 1,
        methods: ["email", "sms", "questions", "passkey"],
      },
      account: { reconfirmDays: 30 },
      throttles: { perIpPerMinute: 1000 },
    },
    cookieSecure: false,
    users: [
      // Nothing registered: adding the first method needs no step-up.
      { username: "nora", password: PASSWORDS.nora },
      // Security questions only: no second factor at sign-in, so any change needs a step-up.
      { username: "quinn", password: PASSWORDS.quinn, questions: QUESTIONS },
      // Passkeys.
      { username: "rhea", password: PASSWORDS.rhea },
    ],
  });
});
afterAll(async () => {
  await h?.close();
});

interface View {
  flowId: string;
  state: string;
  stepUp: {
    methods: { type: string }[];
    challenge: { prompt: { kind: string; questions?: { id: string }[] } } | null;
  } | null;
  confirm: { kind: string; options?: unknown } | null;
  result: { methodId: string } | null;
}

async function signIn(username: keyof typeof PASSWORDS, base = h.baseUrl) {
  const client = new HttpClient(base);
  const body = await postSignIn(client, username, PASSWORDS[username], await solvedCaptcha(h.portal.captcha));
  expect(body.status).toBe("signed_in");
  const headers = { "x-csrf-token": body.csrfToken };
  const post = async (path: string, json: unknown = {}) => {
    const r = await client.post(`${API}${path}`, { json, headers });
    return {
      status: r.status,
      body: JSON.parse(r.text || "null") as View & { error?: Record<string, unknown> },
    };
  };
  return { client, csrf: body.csrfToken, interrupt: body.interrupt, post };
}

async function methodsOf(username: string) {
  const u = await h.user(username);
  return h.store.db.selectFrom("auth_methods").selectAll().where("user_id", "=", u.id).execute();
}

describe("registration over HTTP: guard, CSRF, validation", () => {
  it("sends pages to sign-in and answers the API with 401 without a session", async () => {
    const c = new HttpClient(h.baseUrl);
    const page = await c.get("/account/methods?interrupt=review");
    expect(page.status).toBe(303);
    expect(page.location).toBe("/account/sign-in?next=%2Faccount%2Fmethods%3Finterrupt%3Dreview");
    const flowPage = await c.get("/account/methods/flow/abc");
    expect(flowPage.status).toBe(303);
    const post = await c.post("/account/methods/begin", { form: { action: "add", method: "email" } });
    expect(post.status).toBe(303);
    expect(post.location).toMatch(/^\/account\/sign-in\?next=/);
    for (const [method, path] of [
      ["GET", API],
      ["POST", `${API}/flows`],
      ["POST", `${API}/review`],
      ["GET", `${API}/flows/abc`],
    ] as const) {
      const res = await c.request(method, path, method === "POST" ? { json: { action: "add" } } : {});
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(JSON.parse(res.text).error.code).toBe("SESSION_REQUIRED");
    }
  });

  it("refuses every change without the session's CSRF token, and nothing changes", async () => {
    const s = await signIn("nora");
    const other = await signIn("quinn");
    const before = await h.store.db.selectFrom("flows").select("id").execute();
    const tokens: Record<string, string>[] = [{}, { "x-csrf-token": "" }, { "x-csrf-token": other.csrf }];
    for (const headers of tokens) {
      const res = await s.client.post(`${API}/flows`, { json: { action: "add", method: "email" }, headers });
      expect(res.status).toBe(403);
      expect(JSON.parse(res.text).error.code).toBe("CSRF_MISMATCH");
      const review = await s.client.post(`${API}/review`, { headers });
      expect(review.status).toBe(403);
    }
    expect(await h.store.db.selectFrom("flows").select("id").execute()).toEqual(before);
    // The pages: a form posted with another session's token.
    const page = await s.client.post("/account/methods/begin", {
      form: { _csrf: other.csrf, action: "add", method: "email" },
    });
    expect(page.status).toBe(403);
    const review = await s.client.post("/account/methods/review", { form: { _csrf: other.csrf } });
    expect(review.status).toBe(403);
    expect((await h.user("nora")).methods_reviewed_at).toBeNull();
    expect(await h.store.db.selectFrom("flows").select("id").execute()).toEqual(before);
  });

  it("answers malformed bodies and refused inputs with 400 VALIDATION_FAILED naming the field", async () => {
    const s = await signIn("nora");
    const bad = async (path: string, json: unknown, fields: string[], messageId?: string) => {
      const r = await s.post(path, json);
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error?.code).toBe("VALIDATION_FAILED");
      expect(r.body.error?.fields).toEqual(fields);
      if (messageId) expect(r.body.error?.messageId).toBe(messageId);
    };
    await bad("/flows", { action: "steal" }, ["action"]);
    await bad("/flows", { action: "add", method: "carrier-pigeon" }, ["method"]);
    await bad("/flows", { action: "remove", methodId: "x".repeat(65) }, ["methodId"]);
    const email = await s.post("/flows", { action: "add", method: "email" });
    expect(email.status).toBe(201);
    expect(email.body.state).toBe("collect");
    const id = email.body.flowId;
    await bad(
      `/flows/${id}/collect`,
      { contact: "not-an-address" },
      ["contact"],
      "account.methods.contact.error.invalid_email",
    );
    await bad(`/flows/${id}/collect`, { contact: `${"a".repeat(300)}@x.test` }, ["contact"]);
    const phone = await s.post("/flows", { action: "add", method: "sms" });
    await bad(
      `/flows/${phone.body.flowId}/collect`,
      { contact: "12" },
      ["contact"],
      "account.methods.contact.error.invalid_phone",
    );
    const passkey = await s.post("/flows", { action: "add", method: "passkey" });
    await bad(
      `/flows/${passkey.body.flowId}/collect`,
      { name: "   " },
      ["name"],
      "account.methods.passkey.error.name_required",
    );
    const questions = await s.post("/flows", { action: "add", method: "questions" });
    await bad(
      `/flows/${questions.body.flowId}/collect`,
      { answers: [{ questionId: "lk.first-pet", answer: "ok answer" }] },
      ["answers"],
      "account.methods.questions.error.count",
    );
    // A method the tenant does not offer, and a flow that is not theirs.
    const totp = await s.post("/flows", { action: "add", method: "totp" });
    expect(totp.status).toBe(400);
    expect(totp.body.error?.code).toBe("METHOD_NOT_AVAILABLE");
    const other = await signIn("quinn");
    expect((await other.client.get(`${API}/flows/${id}`)).status).toBe(404);
    // Nothing was registered by any of it.
    expect(await methodsOf("nora")).toEqual([]);
  });
});

describe("registration over HTTP: step-up, removal, review", () => {
  // The session that passed a step-up (questions) in the "adds it after" test.
  let stepped: Awaited<ReturnType<typeof signIn>> | null = null;

  it("refuses at completion a step-up that went stale, and adds nothing", async () => {
    const s = await signIn("quinn");
    const begun = await s.post("/flows", { action: "add", method: "sms" });
    expect(begun.body.state).toBe("step_up");
    const id = begun.body.flowId;
    const started = await s.post(`/flows/${id}/step-up`, { method: "questions" });
    const asked = started.body.stepUp?.challenge?.prompt.questions?.map((q) => q.id) ?? [];
    const proven = await s.post(`/flows/${id}/step-up/verify`, {
      answers: Object.fromEntries(
        asked.map((q) => [q, QUESTIONS.find((x) => x.questionId === q)?.answer ?? ""]),
      ),
    });
    expect(proven.body.state).toBe("collect");
    const since = Date.now();
    expect((await s.post(`/flows/${id}/collect`, { contact: "+44 7700 900456" })).body.state).toBe("confirm");
    const sms = await h.waitForPhone({ to: "+447700900456", since, channel: "sms" });
    h.remember(sms.code);
    // The session's step-up is now older than it may be.
    await h.store.db
      .updateTable("sessions")
      .set({ step_up_at: Date.now() - 16 * 60_000 })
      .where("csrf_token", "=", s.csrf)
      .execute();
    const late = await s.post(`/flows/${id}/confirm`, { code: sms.code });
    expect(late.status).toBe(403);
    expect(late.body.error?.code).toBe("STEP_UP_REQUIRED");
    expect((await methodsOf("quinn")).some((m) => m.type === "sms" && m.confirmed_at !== null)).toBe(false);
  });

  it("the review interrupt is due after reconfirmDays, and answering it sets methods_reviewed_at", async () => {
    const quinn = await h.user("quinn");
    const old = Date.now() - 31 * DAY;
    await h.store.db
      .updateTable("users")
      .set({ methods_reviewed_at: old })
      .where("id", "=", quinn.id)
      .execute();
    const s = await signIn("quinn");
    expect(s.interrupt).toBe("review");
    const page = await s.client.get("/account/methods?interrupt=review");
    expect(page.status).toBe(200);
    expect(page.text).toContain(t("account.methods.interrupt.review.title"));
    expect(page.text).toContain(t("account.methods.review.confirm"));
    const before = Date.now();
    const res = await s.client.post(`${API}/review`, { headers: { "x-csrf-token": s.csrf } });
    expect(res.status).toBe(204);
    const reviewed = (await h.user("quinn")).methods_reviewed_at ?? 0;
    expect(reviewed).toBeGreaterThanOrEqual(before);
    const session = JSON.parse((await s.client.get("/api/v1/account/session")).text) as {
      interrupt: unknown;
    };
    expect(session.interrupt).toBeNull();
    // The page's button does the same and goes on to the account overview.
    await h.store.db
      .updateTable("users")
      .set({ methods_reviewed_at: old })
      .where("id", "=", quinn.id)
      .execute();
    const viaPage = await s.client.post("/account/methods/review", { form: { _csrf: csrfOf(page.text) } });
    expect(viaPage.status).toBe(303);
    expect(viaPage.location).toBe("/account");
    expect((await h.user("quinn")).methods_reviewed_at ?? 0).toBeGreaterThanOrEqual(before);
    const audits = await h.store.db
      .selectFrom("audit_events")
      .selectAll()
      .where("event", "=", "methods.reviewed")
      .where("target", "=", quinn.id)
      .execute();
    expect(audits).toHaveLength(2);
  });
  it("refuses to add a method before an existing one is proven (403 STEP_UP_REQUIRED), then adds it after", async () => {
    const s = await signIn("quinn");
    stepped = s;
    const begun = await s.post("/flows", { action: "add", method: "email" });
    expect(begun.status).toBe(201);
    expect(begun.body.state).toBe("step_up");
    expect(begun.body.stepUp?.methods.map((m) => m.type)).toEqual(["questions"]);
    const id = begun.body.flowId;
    const early = await s.post(`/flows/${id}/collect`, { contact: "attacker@evil.test" });
    expect(early.status).toBe(403);
    expect(early.body.error?.code).toBe("STEP_UP_REQUIRED");
    const early2 = await s.post(`/flows/${id}/confirm`, { code: "123456" });
    expect(early2.status).toBe(403);
    expect(early2.body.error?.code).toBe("STEP_UP_REQUIRED");
    const quinn = await h.user("quinn");
    const refused = await h.store.db
      .selectFrom("audit_events")
      .selectAll()
      .where("event", "=", "method.step_up_failed")
      .where("target", "=", quinn.id)
      .where("result", "=", "failure")
      .execute();
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect((await methodsOf("quinn")).map((m) => m.type)).toEqual(["questions"]);

    // Prove the questions: a wrong answer first, then the right ones.
    const started = await s.post(`/flows/${id}/step-up`, { method: "questions" });
    expect(started.status).toBe(200);
    const asked = started.body.stepUp?.challenge?.prompt.questions?.map((q) => q.id) ?? [];
    expect(asked.length).toBeGreaterThan(0);
    const wrong = await s.post(`/flows/${id}/step-up/verify`, {
      answers: Object.fromEntries(asked.map((q) => [q, "not the answer"])),
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error?.code).toBe("VERIFICATION_FAILED");
    const again = await s.post(`/flows/${id}/step-up`, { method: "questions" });
    const asked2 = again.body.stepUp?.challenge?.prompt.questions?.map((q) => q.id) ?? [];
    const right = await s.post(`/flows/${id}/step-up/verify`, {
      answers: Object.fromEntries(
        asked2.map((q) => [q, QUESTIONS.find((x) => x.questionId === q)?.answer ?? ""]),
      ),
    });
    expect(right.status, JSON.stringify(right.body)).toBe(200);
    expect(right.body.state).toBe("collect");
    const since = Date.now();
    const collected = await s.post(`/flows/${id}/collect`, { contact: "quinn@contoso.test" });
    expect(collected.body.state).toBe("confirm");
    const mail = await readMail({ to: "quinn@contoso.test", since, subject: "verification code" });
    const code = /\b(\d{6,8})\b/.exec(mail.text)?.[1] ?? "";
    h.remember(code);
    const done = await s.post(`/flows/${id}/confirm`, { code });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.state).toBe("completed");
    const rows = await methodsOf("quinn");
    expect(confirmedTypes(rows)).toEqual(["email", "questions"]);
  });

  it("removes a method in the session that stepped up, and tells the removed address", async () => {
    // The session that stepped up a moment ago: the proof is still fresh, so no second one.
    const s = stepped;
    if (!s) throw new Error("the step-up test did not run");
    const email = (await methodsOf("quinn")).find((m) => m.type === "email");
    expect(email).toBeDefined();
    const since = Date.now();
    const done = await s.post("/flows", { action: "remove", methodId: email?.id });
    expect(done.status, JSON.stringify(done.body)).toBe(201);
    expect(done.body.state).toBe("completed");
    expect((await methodsOf("quinn")).map((m) => m.type)).toEqual(["questions"]);
    const notice = await readMail({
      to: "quinn@contoso.test",
      since,
      subject: "security information changed",
    });
    expect(notice.text.length).toBeGreaterThan(0);
    const removed = await h.store.db
      .selectFrom("audit_events")
      .selectAll()
      .where("event", "=", "method.removed")
      .where("target", "=", (await h.user("quinn")).id)
      .execute();
    expect(removed).toHaveLength(1);
    // An already removed method id.
    const gone = await s.post("/flows", { action: "remove", methodId: email?.id });
    expect(gone.status).toBe(404);
  });
});

describe("passkeys over HTTP with a software authenticator", () => {
  const auth = new SoftAuthenticator();
  let base: string;
  let origin: string;

  beforeAll(() => {
    base = h.baseUrl.replace("127.0.0.1", "localhost");
    origin = new URL(base).origin;
  });

  it("registers a passkey through the API", async () => {
    const s = await signIn("rhea", base);
    const begun = await s.post("/flows", { action: "add", method: "passkey" });
    expect(begun.body.state).toBe("collect");
    const collected = await s.post(`/flows/${begun.body.flowId}/collect`, { name: "Hardware key" });
    expect(collected.body.state).toBe("confirm");
    const options = collected.body.confirm?.options as PublicKeyCredentialCreationOptionsJSON;
    expect(options.rp.id).toBe("localhost");
    // A made-up answer is a failed ceremony, not a registration.
    const junk = await s.post(`/flows/${begun.body.flowId}/confirm`, { passkey: { id: "x" } });
    expect(junk.status).toBe(400);
    expect(junk.body.error?.code).toBe("VERIFICATION_FAILED");
    const done = await s.post(`/flows/${begun.body.flowId}/confirm`, {
      passkey: auth.create(options, origin),
    });
    expect(done.status, JSON.stringify(done.body)).toBe(200);
    expect(done.body.state).toBe("completed");
    const rows = await methodsOf("rhea");
    expect(rows.map((r) => [r.type, r.label])).toEqual([["passkey", "Hardware key"]]);
  });

  async function resetFlow(client: HttpClient) {
    const created = await client.post("/api/v1/reset/flows", { json: {} });
    const flow = (JSON.parse(created.text) as { flow: { flowId: string; csrf: string } }).flow;
    const call = async (path: string, json: unknown) => {
      const r = await client.post(`/api/v1/reset/flows/${flow.flowId}${path}`, {
        json,
        headers: { "x-csrf-token": flow.csrf },
      });
      // biome-ignore lint/suspicious/noExplicitAny: the reset API's replies are read field by field, each asserted
      return { status: r.status, body: JSON.parse(r.text) as Record<string, any> };
    };
    const identified = await call("/identify", {
      username: "rhea",
      captcha: await solvedCaptcha(h.portal.captcha),
    });
    expect(identified.body.flow.state).toBe("verify");
    return call;
  }

  it("passes the reset JSON API's gate with a passkey assertion; malformed ones are 400 at the edge", async () => {
    const c = new HttpClient(base);
    const call = await resetFlow(c);
    const started = await call("/challenge", { method: "passkey" });
    expect(started.status).toBe(200);
    expect(started.body.flow.challenge.prompt.kind).toBe("passkey");
    const options = started.body.flow.challenge.prompt.options as PublicKeyCredentialRequestOptionsJSON;
    // The edge refuses what is not an assertion's shape, before any work.
    for (const assertion of [{ id: "x" }, "text", { ...auth.get(options, origin), type: "password" }]) {
      const r = await call("/verify", { assertion });
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe("VALIDATION_FAILED");
    }
    // Well-formed but made for another site: a failed proof.
    const phished = await call("/verify", {
      assertion: auth.get(options, "https://evil.example", () => true),
    });
    expect(phished.status).toBe(400);
    expect(phished.body.error.code).toBe("VERIFICATION_FAILED");
    // Attempts spent: a fresh challenge, a real assertion.
    const fresh = await call("/challenge", { method: "passkey" });
    const real = auth.get(
      fresh.body.flow.challenge.prompt.options as PublicKeyCredentialRequestOptionsJSON,
      origin,
    );
    const passed = await call("/verify", { assertion: real });
    expect(passed.status, JSON.stringify(passed.body)).toBe(200);
    expect(passed.body.flow.state).toBe("new_password");
    const next = "Walnut-Prism-Canyon-26";
    h.remember(next);
    const set = await call("/password", { password: next, confirm: next });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.flow.state).toBe("completed");
    expect(await verifyPassword((await h.user("rhea")).password_hash ?? "", next)).toBe(true);
    PASSWORDS.rhea = next;
    // The same assertion again, in a new flow: refused.
    const again = await resetFlow(new HttpClient(base));
    await again("/challenge", { method: "passkey" });
    const replay = await again("/verify", { assertion: real });
    expect(replay.status).toBe(400);
    expect(replay.body.error.code).toBe("VERIFICATION_FAILED");
  });

  it("signs in with the passkey as the JSON sign-in's second factor; the page refuses a junk assertion", async () => {
    const c = new HttpClient(base);
    const body = await postSignIn(c, "rhea", PASSWORDS.rhea, await solvedCaptcha(h.portal.captcha));
    expect(body.status).toBe("second_factor");
    await passSecondFactor(c, body.flow.csrf, "passkey", (challenge) => ({
      assertion: auth.get(
        challenge.flow.challenge.prompt.options as PublicKeyCredentialRequestOptionsJSON,
        origin,
      ),
    }));
    const session = JSON.parse((await c.get("/api/v1/account/session")).text) as {
      session: { amr: string[] };
    };
    expect(session.session.amr).toEqual(["pwd", "passkey"]);

    // The pages: password, choose the passkey, then a junk "passkey" field is a failed proof.
    const p = new HttpClient(base);
    const signInPage = await p.post("/account/sign-in", {
      form: {
        username: "rhea",
        password: PASSWORDS.rhea,
        altcha: await solvedCaptcha(h.portal.captcha),
        next: "/account",
      },
      headers: { "sec-fetch-site": "same-origin" },
    });
    expect(signInPage.status).toBe(303);
    expect(signInPage.location).toBe("/account/sign-in/second-factor");
    const choose = await p.get("/account/sign-in/second-factor");
    const csrf = csrfOf(choose.text);
    const shown = await p.submit("/account/sign-in/second-factor/challenge", {
      _csrf: csrf,
      method: "passkey",
    });
    expect(shown.text).toContain("/static/passkey.js");
    expect(shown.text).toContain("data-passkey-options=");
    const junk = await p.post("/account/sign-in/second-factor/verify", {
      form: { _csrf: csrf, passkey: '{"id":"forged"}' },
    });
    expect(junk.status).toBe(400);
    expect(junk.text).toContain(t("reset.passkey.error.failed"));
    expect(p.cookies.has("lk_session")).toBe(false);
    expect(await h.scan()).toEqual([]);
  });
});
