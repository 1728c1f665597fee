/**
 * The explainer's admin pages over real HTTP (the server as `serve` composes it, SQLite): the guard
 * (no session → sign-in, a signed-in non-administrator → 403, an administrator who passed their
 * second factor → 200), the explanation following a policy change made through
 * updateTenantSettings (1 gate → 2), the downloads' content types and names, the timeline page of a
 * real cloud reset run through the reset API, and 404 for an unknown flow id.
 */
import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { safeNext } from "../packages/server/src/account/guard.js";
import { StoreAudit } from "../packages/server/src/audit/emitter.js";
import { systemClock } from "../packages/server/src/core/clock.js";
import { findTenant, seedTenant } from "../packages/server/src/tenants/seed.js";
import { updateTenantSettings } from "../packages/server/src/tenants/settings-update.js";
import { passSecondFactor, postSignIn } from "./harness/account.js";
import { HttpClient, solvedCaptcha } from "./harness/client.js";
import { type PortalHarness, startPortal } from "./harness/portal.js";

let h: PortalHarness;
const PASSWORDS = {
  ada: "Admin-Ada-Lantern-Quill-71",
  bob: "Plain-Bob-Harbour-Kettle-52",
  amy: "Reset-Amy-Orchard-Saddle-33",
};

beforeAll(async () => {
  h = await startPortal({
    settings: { reset: { gates: 1, methods: ["email", "totp"] } },
    users: [
      { username: "ada", password: PASSWORDS.ada, email: "ada@contoso.test", totp: true, isAdmin: true },
      { username: "bob", password: PASSWORDS.bob, email: "bob@contoso.test", totp: true },
      { username: "amy", password: PASSWORDS.amy, email: "amy@contoso.test", totp: true },
    ],
  });
});
afterAll(async () => {
  await h?.close();
});

function totpNow(username: string): string {
  const secret = h.users[username]?.totpSecret;
  if (!secret) throw new Error(`${username} has no TOTP secret`);
  const code = TOTP.generate({ secret: Secret.fromBase32(secret), algorithm: "SHA1", digits: 6, period: 30 });
  h.remember(code);
  return code;
}

/** Password, then the authenticator app as the second factor, through the JSON sign-in. */
async function signIn(username: keyof typeof PASSWORDS): Promise<HttpClient> {
  const c = new HttpClient(h.baseUrl);
  const body = await postSignIn(c, username, PASSWORDS[username], await solvedCaptcha(h.portal.captcha));
  expect(body.status).toBe("second_factor");
  await passSecondFactor(c, body.flow.csrf, "totp", () => ({ code: totpNow(username) }));
  return c;
}

/** The numbers of the page's counts list, in order (seen, background, off the main path). */
function countsOf(page: string): number[] {
  return [...page.matchAll(/<span class="count-number">(\d+)<\/span>/g)].map((m) => Number(m[1]));
}

let admin: HttpClient;

describe("admin explain pages over HTTP", () => {
  it("sends a visitor without a session to sign-in, answers a non-administrator 403, lets an administrator in", async () => {
    const anon = new HttpClient(h.baseUrl);
    for (const path of ["/admin", "/admin/explain?flow=reset", "/admin/flows", "/admin/explain.json"]) {
      const r = await anon.get(path);
      expect(r.status, path).toBe(303);
      // Back to the admin page asked for after signing in.
      expect(r.location, path).toBe(`/account/sign-in?next=${encodeURIComponent(path)}`);
    }
    // Never anywhere else: an absolute or protocol-relative URL falls back to the account area.
    for (const next of ["https://evil.example/admin", "//evil.example/admin", "/administrator"])
      expect(safeNext(next), next).toBe("/account");
    const bob = await signIn("bob");
    for (const path of [
      "/admin",
      "/admin/explain",
      "/admin/flows",
      "/admin/explain.pptx",
      "/admin/users/amy/explain",
    ]) {
      const r = await bob.get(path);
      expect(r.status, path).toBe(403);
      expect(r.headers.get("content-type")).toMatch(/^text\/html/);
      expect(r.text).toContain("Administrators only");
      expect(r.headers.get("content-security-policy")).toContain("script-src 'self'");
    }
    admin = await signIn("ada");
    const home = await admin.get("/admin");
    expect(home.status).toBe(200);
    expect(home.text).toContain('href="/admin/explain"');
  });

  it("explains the reset for the tenant's configuration, and the explanation follows a policy change (1 gate → 2)", async () => {
    const before = await admin.get("/admin/explain?flow=reset&kind=cloud&admin=0");
    expect(before.status).toBe(200);
    expect(before.text).toContain("at least 1 registered method the policy allows");
    expect(before.text).toMatch(
      /Reset[^<]*, for a cloud account under this policy: \d+ steps? for the person/,
    );
    const [seen1 = 0, background1 = 0] = countsOf(before.text);
    expect(seen1).toBeGreaterThan(0);
    expect(background1).toBeGreaterThan(0);
    // Numbered steps: one <ol> per phase, continuing the numbering.
    expect(before.text).toMatch(/<ol class="explain-steps" start="1">/);
    expect(before.text).toContain('<img src="/admin/explain.svg?flow=reset&amp;kind=cloud&amp;admin=0"');

    const tenant = await findTenant(h.store.db, h.tenant.slug);
    if (!tenant) throw new Error("tenant missing");
    const changes = await updateTenantSettings(
      { db: h.store.db, clock: systemClock, audit: new StoreAudit(h.store.db, systemClock) },
      tenant,
      [{ path: "reset.gates", raw: "2" }],
      "test",
    );
    expect(changes.map((c) => c.path)).toEqual(["reset.gates"]);

    const after = await admin.get("/admin/explain?flow=reset&kind=cloud&admin=0");
    expect(after.text).toContain("at least 2 registered methods the policy allows");
    expect(after.text).not.toContain("at least 1 registered method the policy allows");
    const [seen2 = 0, background2 = 0] = countsOf(after.text);
    // A second gate is a second choose/challenge/answer for the person and more work behind it.
    expect(seen2).toBeGreaterThan(seen1);
    expect(background2).toBeGreaterThan(background1);

    // Back to one gate for the reset below.
    await updateTenantSettings(
      { db: h.store.db, clock: systemClock, audit: new StoreAudit(h.store.db, systemClock) },
      (await findTenant(h.store.db, h.tenant.slug)) ?? tenant,
      [{ path: "reset.gates", raw: "1" }],
      "test",
    );
    expect((await h.settings()).reset.gates).toBe(1);
  });

  it("renders every flow for each account kind and audience, each with its own summary", async () => {
    for (const flow of ["reset", "unlock", "change", "registration"])
      for (const kind of ["cloud", "synced"])
        for (const adm of ["0", "1"]) {
          const r = await admin.get(`/admin/explain?flow=${flow}&kind=${kind}&admin=${adm}`);
          const where = `${flow}/${kind}/${adm}`;
          expect(r.status, where).toBe(200);
          const who = `${adm === "1" ? "an administrator&#39;s " : "a "}${kind} account`;
          if (r.text.includes('class="explain-summary"'))
            expect(r.text, where).toContain(`for ${who} under this policy`);
          else expect(r.text, where).toContain("Not available in this build");
        }
  });

  it("refuses a query it cannot use with 400", async () => {
    const r = await admin.get("/admin/explain?flow=launch");
    expect(r.status).toBe(400);
    expect(r.text).toContain("flow");
  });

  it("serves each download with its content type and file name", async () => {
    const q = "flow=unlock&kind=synced&admin=1&download=1";
    const expected: Record<string, RegExp> = {
      md: /^text\/markdown; charset=utf-8/,
      mmd: /^text\/plain; charset=utf-8/,
      json: /^application\/json; charset=utf-8/,
      svg: /^image\/svg\+xml/,
      pptx: /^application\/vnd\.openxmlformats-officedocument\.presentationml\.presentation$/,
    };
    for (const [ext, type] of Object.entries(expected)) {
      const res = await fetch(`${h.baseUrl}/admin/explain.${ext}?${q}`, {
        headers: { cookie: admin.cookieHeader() },
        redirect: "manual",
      });
      expect(res.status, ext).toBe(200);
      expect(res.headers.get("content-type"), ext).toMatch(type);
      expect(res.headers.get("content-disposition"), ext).toBe(
        `attachment; filename="latchkey-unlock-synced-admin.${ext}"`,
      );
      const body = Buffer.from(await res.arrayBuffer());
      if (ext === "md") expect(body.toString("utf8")).toMatch(/^# /);
      if (ext === "mmd") expect(body.toString("utf8")).toMatch(/^sequenceDiagram/);
      if (ext === "json") {
        const json = JSON.parse(body.toString("utf8")) as { flow: string; audience: unknown };
        expect(json.flow).toBe("unlock");
        expect(json.audience).toEqual({ userKind: "synced", admin: true });
      }
      if (ext === "svg") expect(body.toString("utf8")).toContain("<svg");
      // A PPTX is a zip: "PK\x03\x04".
      if (ext === "pptx") expect(body.subarray(0, 4).toString("binary")).toBe("PK\u0003\u0004");
    }
    // The page's <img>: the same SVG, inline.
    const img = await admin.get("/admin/explain.svg?flow=reset&kind=cloud&admin=0");
    expect(img.headers.get("content-disposition")).toBe("inline");
  });

  it("lists a real cloud reset among the recent flows and draws its timeline; unknown ids are 404", async () => {
    const c = new HttpClient(h.baseUrl);
    const created = await c.post("/api/v1/reset/flows", { json: {} });
    expect(created.status, created.text).toBe(201);
    const flow = (JSON.parse(created.text) as { flow: { flowId: string; csrf: string } }).flow;
    const call = async (path: string, json: unknown) => {
      const r = await c.post(`/api/v1/reset/flows/${flow.flowId}${path}`, {
        json,
        headers: { "x-csrf-token": flow.csrf },
      });
      return { status: r.status, body: JSON.parse(r.text) as { flow: { state: string } } };
    };
    const identified = await call("/identify", {
      username: "amy",
      captcha: await solvedCaptcha(h.portal.captcha),
    });
    expect(identified.body.flow.state).toBe("verify");
    expect((await call("/challenge", { method: "totp" })).status).toBe(200);
    const verified = await call("/verify", { code: totpNow("amy") });
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body.flow.state).toBe("new_password");
    const next = "Fresh-Amy-Meadow-Lantern-84";
    h.remember(next);
    const set = await call("/password", { password: next, confirm: next });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    expect(set.body.flow.state).toBe("completed");

    const list = await admin.get("/admin/flows");
    expect(list.status).toBe(200);
    const row = new RegExp(
      `href="/admin/flows/${flow.flowId}">${flow.flowId}</a></td><td>reset</td><td>completed</td><td>amy</td>`,
    );
    expect(list.text).toMatch(row);
    // Newest first: the reset precedes the earlier sign-in flows.
    const firstLink = /href="\/admin\/flows\/([^"]+)"/.exec(list.text)?.[1];
    expect(firstLink).toBe(flow.flowId);

    const page = await admin.get(`/admin/flows/${flow.flowId}`);
    expect(page.status).toBe(200);
    expect(page.text).toContain('<svg class="tl-chart"');
    expect(page.text).toContain('role="img" aria-labelledby="tl-title tl-desc"');
    // One bar and one table row per recorded step; the reset's steps by their explain ids.
    // Each row of the chart: its label, then its bar (the legend's swatches are not rows).
    const bars = [
      ...page.text.matchAll(/<g class="tl-row">\s*<text[^>]*>[^<]*<\/text>\s*<rect class="tl-bar tl-(\w+)"/g),
    ];
    const rows = [...page.text.matchAll(/<tr class="tl-tr-/g)];
    expect(bars.length).toBeGreaterThan(3);
    expect(rows.length).toBe(bars.length);
    expect(bars.some((b) => b[1] === "visible")).toBe(true);
    expect(bars.some((b) => b[1] === "background")).toBe(true);
    for (const id of ["reset.identify.lookup", "reset.complete.close"])
      expect(page.text, id).toContain(`<code>${id}</code>`);

    // Another tenant's flow (same store, real row): its id reads as unknown here.
    const { tenant: other } = await seedTenant(
      { db: h.store.db, clock: systemClock },
      { slug: "fabrikam", name: "Fabrikam" },
      [],
    );
    const source = await h.store.db
      .selectFrom("flows")
      .selectAll()
      .where("id", "=", flow.flowId)
      .executeTakeFirstOrThrow();
    const otherId = `${flow.flowId.slice(0, -4)}zzzz`;
    await h.store.db
      .insertInto("flows")
      .values({ ...source, id: otherId, tenant_id: other.id })
      .execute();
    expect((await admin.get(`/admin/flows/${otherId}`)).status).toBe(404);
    expect((await admin.get("/admin/flows")).text).not.toContain(otherId);
    for (const id of ["nosuchflowid123", "..%2F..%2Fetc", "a'b"]) {
      const missing = await admin.get(`/admin/flows/${id}`);
      expect(missing.status, id).toBe(404);
      expect(missing.text).toContain("Flow not found");
    }
  });

  it("explains why a user can or cannot reset, read-only", async () => {
    const before = await h.store.db.selectFrom("audit_events").select("id").execute();
    const ok = await admin.get("/admin/users/amy/explain");
    expect(ok.status).toBe(200);
    expect(ok.text).toContain("This person can reset their password now.");
    expect(ok.text).toMatch(/class="check-pass"/);
    const unknown = await admin.get(`/admin/users?name=${encodeURIComponent("nobody-here")}`);
    expect(unknown.text).toContain("No account matches this name.");
    expect(unknown.text).toMatch(/class="check-fail"/);
    const after = await h.store.db.selectFrom("audit_events").select("id").execute();
    expect(after.length).toBe(before.length);
  });

  it("left no password, code or answer in the store, the audit rows or the log", async () => {
    expect(await h.scan()).toEqual([]);
  });
});
