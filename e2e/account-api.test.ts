/**
 * "My account" over real HTTP (the server as `serve` composes it, SQLite): the guard (pages go to
 * sign-in with `next`, the API answers 401 SESSION_REQUIRED), the JSON sign-in (validation, one
 * answer for unknown names and wrong passwords, cross-site refused, HttpOnly session cookie), the
 * sessions API (CSRF required, revoke the others), the password change API (wrong old password,
 * policy verdicts, success with the email queued) and sign-out. A cloud account: the synced paths
 * run against Samba AD in account-change.browser.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyPassword } from "../packages/server/src/core/password-hash.js";
import { type LinkServer, startLinkServer } from "../packages/server/src/directory-link/testing/server.js";
import { insertCloudUser, postSignIn } from "./harness/account.js";
import { HttpClient, solvedCaptcha } from "./harness/client.js";

let server: LinkServer;
const username = "apiperson";
const first = "Cobalt-Meadow-Rivet-31";
let userId: string;

beforeAll(async () => {
  server = await startLinkServer({
    settings: { reset: { gates: 1, methods: ["email", "totp"] }, throttles: { perIpPerMinute: 1000 } },
  });
  userId = await insertCloudUser(server.store, server.tenant.id, {
    username,
    password: first,
    givenName: "Api",
    surname: "Person",
  });
});
afterAll(async () => {
  await server?.close();
});

const captcha = () => solvedCaptcha(server.features.portal.captcha);

async function signedIn(password = first): Promise<{ client: HttpClient; csrf: string }> {
  const client = new HttpClient(server.baseUrl);
  const body = await postSignIn(client, username, password, await captcha());
  expect(body.status).toBe("signed_in");
  return { client, csrf: body.csrfToken };
}

describe("my account over HTTP", () => {
  it("sends pages to sign-in with where they were going, and answers the API with 401", async () => {
    const c = new HttpClient(server.baseUrl);
    const page = await c.get("/account/sessions");
    expect(page.status).toBe(303);
    expect(page.location).toBe("/account/sign-in?next=%2Faccount%2Fsessions");
    const api = await c.get("/api/v1/account/sessions");
    expect(api.status).toBe(401);
    expect(JSON.parse(api.text)).toEqual({
      error: { code: "SESSION_REQUIRED", messageId: "error.session_required" },
    });
    // `next` cannot leave the account area.
    const signIn = await c.get("/account/sign-in?next=https%3A%2F%2Fevil.example%2F");
    expect(signIn.text).toContain('<input type="hidden" name="next" value="/account">');
  });

  it("validates the sign-in body and answers an unknown name exactly like a wrong password", async () => {
    const c = new HttpClient(server.baseUrl);
    const bad = await c.post("/api/v1/account/sign-in", { json: { username, password: first } });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text).error.code).toBe("VALIDATION_FAILED");
    const wrong = await c.post("/api/v1/account/sign-in", {
      json: { username, password: "not-it-at-all", captcha: await captcha() },
    });
    const unknown = await c.post("/api/v1/account/sign-in", {
      json: { username: "no-such-person", password: "not-it-at-all", captcha: await captcha() },
    });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.text).toBe(wrong.text);
    expect(JSON.parse(wrong.text).error.code).toBe("SIGN_IN_FAILED");
    expect(c.cookies.has("lk_session")).toBe(false);
    // A captcha is single-use.
    const solved = await captcha();
    await c.post("/api/v1/account/sign-in", { json: { username, password: "x", captcha: solved } });
    const replay = await c.post("/api/v1/account/sign-in", {
      json: { username, password: first, captcha: solved },
    });
    expect(JSON.parse(replay.text).error.code).toBe("CAPTCHA_FAILED");
  });

  it("refuses a sign-in posted from another site", async () => {
    const c = new HttpClient(server.baseUrl);
    const res = await c.post("/api/v1/account/sign-in", {
      json: { username, password: first, captcha: await captcha() },
      headers: { "sec-fetch-site": "cross-site" },
    });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).error.code).toBe("CSRF_MISMATCH");
  });

  it("opens an HttpOnly session; lists and revokes sessions only with the CSRF token", async () => {
    const a = await signedIn();
    const raw = await new HttpClient(server.baseUrl).post("/api/v1/account/sign-in", {
      json: { username, password: first, captcha: await captcha() },
    });
    const setCookie = raw.headers.getSetCookie().find((c) => c.startsWith("lk_session="));
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    const b = await signedIn();
    const list = JSON.parse((await a.client.get("/api/v1/account/sessions")).text) as {
      sessions: Array<{ id: string; current: boolean }>;
    };
    expect(list.sessions.filter((s) => s.current)).toHaveLength(1);
    expect(list.sessions.length).toBeGreaterThanOrEqual(3);
    const noToken = await a.client.post("/api/v1/account/sessions/revoke-others");
    expect(noToken.status).toBe(403);
    const wrongToken = await a.client.post("/api/v1/account/sessions/revoke-others", {
      headers: { "x-csrf-token": b.csrf },
    });
    expect(wrongToken.status).toBe(403);
    const ok = await a.client.post("/api/v1/account/sessions/revoke-others", {
      headers: { "x-csrf-token": a.csrf },
    });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.text).revoked).toBeGreaterThanOrEqual(2);
    expect((await b.client.get("/api/v1/account/session")).status).toBe(401);
    expect((await a.client.get("/api/v1/account/session")).status).toBe(200);
  });

  it("changes the password: wrong old one, policy verdicts, then success with the email queued", async () => {
    const a = await signedIn();
    const other = await signedIn();
    const h = { "x-csrf-token": a.csrf };
    const wrongOld = await a.client.post("/api/v1/account/password", {
      json: { oldPassword: "nope-nope-nope", newPassword: "Velvet-Harbor-Compass-64" },
      headers: h,
    });
    expect(wrongOld.status).toBe(400);
    expect(JSON.parse(wrongOld.text).error.code).toBe("OLD_PASSWORD_WRONG");
    const weak = await a.client.post("/api/v1/account/password", {
      json: { oldPassword: first, newPassword: "password" },
      headers: h,
    });
    expect(weak.status).toBe(400);
    const weakBody = JSON.parse(weak.text) as {
      error: { code: string };
      rules: Array<{ id: string; ok: boolean }>;
    };
    expect(weakBody.error.code).toBe("PASSWORD_REJECTED");
    expect(weakBody.rules.some((r) => !r.ok)).toBe(true);
    const next = "Velvet-Harbor-Compass-64";
    const done = await a.client.post("/api/v1/account/password", {
      json: { oldPassword: first, newPassword: next },
      headers: h,
    });
    expect(done.status, done.text).toBe(200);
    const row = await server.store.db
      .selectFrom("users")
      .selectAll()
      .where("id", "=", userId)
      .executeTakeFirstOrThrow();
    expect(await verifyPassword(row.password_hash ?? "", next)).toBe(true);
    // This session stays, the other one ended; the person is emailed; the audit says so without the password.
    expect((await a.client.get("/api/v1/account/session")).status).toBe(200);
    expect((await other.client.get("/api/v1/account/session")).status).toBe(401);
    const mail = await server.store.db
      .selectFrom("outbox")
      .selectAll()
      .where("template", "=", "password.changed")
      .execute();
    expect(mail).toHaveLength(1);
    const changed = await server.audit("password.changed");
    expect(changed).toHaveLength(1);
    expect(JSON.stringify(await server.audit())).not.toContain(next);

    const out = await a.client.post("/api/v1/account/sign-out", { headers: h });
    expect(out.status).toBe(204);
    expect((await a.client.get("/api/v1/account/session")).status).toBe(401);
    // Back to the first password for the other tests' sake is not possible: it is in the history now.
    const again = await signedIn(next);
    const back = await again.client.post("/api/v1/account/password", {
      json: { oldPassword: next, newPassword: first },
      headers: { "x-csrf-token": again.csrf },
    });
    expect(JSON.parse(back.text).rules.find((r: { id: string }) => r.id === "history")?.ok).toBe(false);
  });
});
