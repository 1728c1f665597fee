/**
 * Account enumeration through the reset flow, against the real server over HTTP. In both disclosure
 * modes an unknown user name and a known but ineligible account (no registered methods; disabled)
 * must get the same bytes back: every page after identify and after starting each challenge, and
 * every JSON answer of the API, with only the per-flow random values (CSRF token, flow id and
 * binding cookie) replaced. And the identify step must take the same time: a two-sample
 * Kolmogorov–Smirnov test over 500 interleaved timings of each cannot tell them apart (p > 0.01).
 *
 * Controls show that both comparisons can fail: an eligible user in guided mode gets other bytes,
 * and the KS test does tell apart two requests whose work differs (a replayed captcha, refused
 * before the user is looked up, against a full identify).
 *
 * The clock is a ManualClock that stands still, so expiry times in the JSON are equal too; the
 * random integers (question draws, codes) are reseeded before each run, so phantoms draw alike.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ManualClock } from "../packages/server/src/core/clock.js";
import { QUESTION_CATALOGUE } from "../packages/server/src/methods/questions/catalogue.js";
import { CAPTCHA_FIELD } from "../packages/server/src/web/components.js";
import { csrfOf, HttpClient, type HttpResult, solvedCaptcha } from "./harness/client.js";
import { type PortalHarness, ReseedableRandom, startPortal } from "./harness/portal.js";
import { ksTwoSample } from "./helpers/ks.js";

const QUESTIONS = [
  { questionId: "lk.first-pet", answer: "Rex the Dog" },
  { questionId: "lk.first-street", answer: "Elm Street" },
  { questionId: "lk.first-teacher", answer: "Mrs Hubbard" },
];
const UNKNOWN = "nobody.here";
const TIMING_SAMPLES = 500;
const WARMUP = 40;

let h: PortalHarness;
const clock = new ManualClock(Date.UTC(2026, 5, 1, 9, 0, 0));
const random = new ReseedableRandom();

beforeAll(async () => {
  h = await startPortal({
    clock,
    random,
    settings: {
      reset: { disclosure: "strict", methods: ["email", "sms", "voice", "totp", "questions"], codeDigits: 8 },
      // The test makes thousands of starts from 127.0.0.1; the per-IP limit is tested elsewhere.
      throttles: { perIpPerMinute: 10_000 },
      branding: { organisationName: "Contoso" },
    },
    users: [
      { username: "nomethods", password: "Nomethods-Pass-1!" },
      {
        username: "disabled",
        password: "Disabled-Pass-1!",
        email: "disabled@contoso.test",
        sms: "+15005550161",
        voice: "+15005550161",
        totp: true,
        questions: QUESTIONS,
        enabled: false,
      },
      {
        username: "eligible",
        password: "Eligible-Pass-1!",
        email: "eligible@contoso.test",
        sms: "+15005550162",
        totp: true,
        questions: QUESTIONS,
      },
      { username: "boss", password: "Boss-Pass-1!", email: "boss@contoso.test", totp: true, isAdmin: true },
    ],
  });
});

afterAll(async () => {
  if (!h) return;
  const findings = await h.scan();
  await h.close();
  expect(findings).toEqual([]);
});

beforeEach(async () => {
  // Each test starts from clean counters (the runs below fail codes on purpose).
  await h.store.db.deleteFrom("throttle_counters").where("key", "not like", "altcha:%").execute();
});

type Mode = "strict" | "guided";

const QUESTION_TEXT = new Map(QUESTION_CATALOGUE.map((q) => [q.id, q.text]));

/**
 * Replaces the per-flow random values and the security questions asked (stand-ins derived from the
 * name typed: two names are asked different questions, as two real users are); everything else must
 * be byte-identical.
 */
function normalise(r: HttpResult, csrf: string | null, flowId: string | null): string {
  let body = r.text;
  if (csrf) body = body.split(csrf).join("<csrf>");
  if (flowId) body = body.split(flowId).join("<flow>");
  const asked = [
    ...new Set(
      [...body.matchAll(/name="answer\.([^"]+)"|"id":"(lk\.[^"]+)"/g)].map((m) => m[1] ?? m[2] ?? ""),
    ),
  ];
  asked.forEach((id, k) => {
    const text = QUESTION_TEXT.get(id) ?? id;
    const forms = [text, text.replace(/'/g, "&#39;"), id, id.replace(/[^a-zA-Z0-9_-]/g, "-")];
    for (const form of forms) body = body.split(form).join(`<question ${k + 1}>`);
  });
  const headers = [...r.headers.entries()]
    .filter(([k]) => !["date", "x-request-id", "keep-alive", "connection", "content-length"].includes(k))
    .filter(([k]) => !k.startsWith("x-ratelimit"))
    .map(([k, v]) => `${k}: ${k === "set-cookie" ? v.replace(/lk_reset=[^;]*/, "lk_reset=<binding>") : v}`)
    .sort();
  return `${r.status}\n${headers.join("\n")}\n\n${body}`;
}

interface Step {
  name: string;
  bytes: string;
}

/** One person's walk through the pages; returns every response after identify, normalised. */
async function pageRun(mode: Mode, username: string): Promise<Step[]> {
  random.reseed(42);
  const c = new HttpClient(h.baseUrl);
  const first = await c.get("/reset");
  let csrf = csrfOf(first.text);
  const steps: Step[] = [];
  const flowId = () => decodeURIComponent(c.cookies.get("lk_reset") ?? "").split(".")[0] ?? null;
  let last = "";
  const record = (name: string, r: HttpResult) => {
    const token = /name="csrf-token" content="([^"]+)"/.exec(r.text)?.[1] ?? csrf;
    csrf = token;
    last = r.text;
    steps.push({ name, bytes: normalise(r, token, flowId()) });
  };
  const post = async (name: string, path: string, form: Record<string, string>) => {
    const res = await c.post(path, { form: { _csrf: csrf, ...form } });
    record(`${name} (POST)`, res);
    if (res.status === 303 && res.location) record(name, await c.get(res.location));
  };

  await post("identify", "/reset/identify", {
    username,
    [CAPTCHA_FIELD]: await solvedCaptcha(h.portal.captcha),
  });
  if (mode === "strict") {
    const contacts: Record<string, string> = {
      email: "someone@contoso.test",
      sms: "+15005550199",
      voice: "+15005550199",
    };
    for (const method of ["email", "sms", "voice", "totp", "questions"]) {
      await post(`challenge ${method}`, "/reset/challenge", {
        method,
        ...(contacts[method] ? { contact: contacts[method] } : {}),
      });
      // A wrong answer renders the challenge page again with the error.
      const wrong =
        method === "questions"
          ? Object.fromEntries(
              [...last.matchAll(/name="(answer\.[^"]+)"/g)].map((m) => [m[1] ?? "", "wrong"]),
            )
          : { code: "00000000" };
      await post(`wrong ${method}`, "/reset/verify", wrong);
      await post(`choose another after ${method}`, "/reset/choose", {});
    }
    await post("challenge without contact", "/reset/challenge", { method: "email" });
  } else {
    await post("challenge on a blocked flow", "/reset/challenge", { method: "email" });
    await post("contact admin", "/reset/contact-admin", {});
  }
  const again = await c.get("/reset");
  record("reload", again);
  return steps;
}

/** The same walk through the JSON API. */
async function apiRun(mode: Mode, username: string): Promise<Step[]> {
  random.reseed(42);
  const c = new HttpClient(h.baseUrl);
  const created = await c.post("/api/v1/reset/flows", { json: {} });
  const flow = (JSON.parse(created.text) as { flow: { flowId: string; csrf: string } }).flow;
  const steps: Step[] = [];
  const call = async (name: string, path: string, json: unknown) => {
    const res = await c.post(`/api/v1/reset/flows/${flow.flowId}${path}`, {
      json,
      headers: { "x-csrf-token": flow.csrf },
    });
    steps.push({ name, bytes: normalise(res, flow.csrf, flow.flowId) });
    return res;
  };
  await call("identify", "/identify", { username, captcha: await solvedCaptcha(h.portal.captcha) });
  const view = await c.get(`/api/v1/reset/flows/${flow.flowId}`);
  steps.push({ name: "view", bytes: normalise(view, flow.csrf, flow.flowId) });
  if (mode === "strict") {
    for (const [method, contact] of [
      ["email", "someone@contoso.test"],
      ["sms", "+15005550199"],
      ["totp", undefined],
      ["questions", undefined],
    ] as const) {
      const started = await call(`challenge ${method}`, "/challenge", {
        method,
        ...(contact ? { contact } : {}),
      });
      const prompt = (
        JSON.parse(started.text) as { flow: { challenge?: { prompt: { questions?: { id: string }[] } } } }
      ).flow.challenge?.prompt;
      await call(
        `wrong ${method}`,
        "/verify",
        prompt?.questions
          ? { answers: Object.fromEntries(prompt.questions.map((q) => [q.id, "wrong"])) }
          : { code: "00000000" },
      );
    }
  } else {
    await call("challenge on a blocked flow", "/challenge", { method: "email" });
    await call("contact admin", "/contact-admin", {});
  }
  return steps;
}

/** The names of the steps whose bytes differ (or that only one run had). */
function differences(a: Step[], b: Step[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y || x.name !== y.name || x.bytes !== y.bytes) out.push(x?.name ?? y?.name ?? `#${i}`);
  }
  return out;
}

/** A readable first difference, for the failure message. */
function firstDiff(a: Step[], b: Step[]): string {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i]?.bytes ?? "";
    const y = b[i]?.bytes ?? "";
    if (x === y) continue;
    let k = 0;
    while (k < x.length && x[k] === y[k]) k++;
    return `${a[i]?.name ?? b[i]?.name}: …${JSON.stringify(x.slice(Math.max(0, k - 80), k + 120))}\n   vs …${JSON.stringify(y.slice(Math.max(0, k - 80), k + 120))}`;
  }
  return "";
}

describe.each(["strict", "guided"] as const)("%s mode: the same bytes", (mode) => {
  beforeAll(async () => {
    await h.setSettings({ reset: { disclosure: mode } });
  });

  it.each(["nomethods", "disabled"])(
    "pages: an unknown user name and '%s' see the same pages",
    async (who) => {
      const unknown = await pageRun(mode, UNKNOWN);
      const known = await pageRun(mode, who);
      expect(unknown.length).toBeGreaterThan(mode === "strict" ? 20 : 4);
      expect(differences(unknown, known), firstDiff(unknown, known)).toEqual([]);
      // The walk reached the pages it meant to (and did not, say, bounce off a lockout).
      const names = unknown.map((s) => s.name);
      expect(names).toContain(mode === "strict" ? "challenge questions" : "contact admin (POST)");
      if (mode === "strict") {
        const questions = unknown.find((s) => s.name === "challenge questions")?.bytes ?? "";
        expect(questions).toContain('name="answer.');
        expect(unknown.find((s) => s.name === "challenge email")?.bytes).toContain('name="code"');
      } else {
        expect(unknown.find((s) => s.name === "identify")?.bytes).toContain("Tell my administrator");
      }
    },
  );

  it.each(["nomethods", "disabled"])("API: an unknown user name and '%s' get the same JSON", async (who) => {
    const unknown = await apiRun(mode, UNKNOWN);
    const known = await apiRun(mode, who);
    expect(differences(unknown, known), firstDiff(unknown, known)).toEqual([]);
    expect(unknown.find((s) => s.name === "identify")?.bytes).toContain(
      mode === "strict" ? '"state":"verify"' : '"state":"blocked"',
    );
  });
});

describe("control: the byte comparison sees a difference when there is one", () => {
  it("guided mode: an eligible user gets other pages and JSON than an unknown user name", async () => {
    await h.setSettings({ reset: { disclosure: "guided" } });
    const unknown = await pageRun("guided", UNKNOWN);
    const eligible = await pageRun("guided", "eligible");
    expect(differences(unknown, eligible)).toContain("identify");
    expect(eligible.find((s) => s.name === "identify")?.bytes).toContain("Email a code to e•••@c•••.test");
    const apiUnknown = await apiRun("guided", UNKNOWN);
    const apiEligible = await apiRun("guided", "eligible");
    expect(differences(apiUnknown, apiEligible)).toContain("identify");
  });
});

describe("strict mode: security questions", () => {
  /** The question ids asked over `n` new flows of `username` (strict mode, JSON API). */
  async function askedOver(username: string, n: number): Promise<Set<string>> {
    const ids = new Set<string>();
    for (let i = 0; i < n; i++) {
      const c = new HttpClient(h.baseUrl);
      const created = await c.post("/api/v1/reset/flows", { json: {} });
      const flow = (JSON.parse(created.text) as { flow: { flowId: string; csrf: string } }).flow;
      const headers = { "x-csrf-token": flow.csrf };
      const base = `/api/v1/reset/flows/${flow.flowId}`;
      await c.post(`${base}/identify`, {
        json: { username, captcha: await solvedCaptcha(h.portal.captcha) },
        headers,
      });
      const started = await c.post(`${base}/challenge`, { json: { method: "questions" }, headers });
      const view = JSON.parse(started.text) as {
        flow: { challenge?: { prompt: { questions?: { id: string }[] } } };
      };
      for (const q of view.flow.challenge?.prompt.questions ?? []) ids.add(q.id);
    }
    return ids;
  }

  it("an unknown name is asked from a fixed set of questions, like a real user, not from the whole catalogue", async () => {
    await h.setSettings({ reset: { disclosure: "strict" } });
    const real = await askedOver("eligible", 12);
    const unknown = await askedOver(UNKNOWN, 12);
    const again = await askedOver(UNKNOWN, 4);
    // The real user's three registered questions; the unknown name's three stand-ins, the same each time.
    expect([...real].sort()).toEqual(QUESTIONS.map((q) => q.questionId).sort());
    expect(unknown.size).toBe(real.size);
    for (const id of again) expect(unknown.has(id)).toBe(true);
  });
});

interface Prepared {
  client: HttpClient;
  flowId: string;
  csrf: string;
  captcha: string;
  username: string;
}

/** A flow started and a captcha solved: everything an identify needs, done before timing. */
async function prepare(username: string, captcha?: string): Promise<Prepared> {
  const client = new HttpClient(h.baseUrl);
  const created = await client.post("/api/v1/reset/flows", { json: {} });
  const flow = (JSON.parse(created.text) as { flow: { flowId: string; csrf: string } }).flow;
  return {
    client,
    flowId: flow.flowId,
    csrf: flow.csrf,
    captcha: captcha ?? (await solvedCaptcha(h.portal.captcha)),
    username,
  };
}

/** Times one identify request (client-side, the whole round trip); checks the answer's status. */
async function timeIdentify(p: Prepared, expectStatus: number): Promise<number> {
  const body = JSON.stringify({ username: p.username, captcha: p.captcha });
  const headers = {
    "content-type": "application/json",
    "x-csrf-token": p.csrf,
    cookie: p.client.cookieHeader(),
  };
  const url = `${h.baseUrl}/api/v1/reset/flows/${p.flowId}/identify`;
  const t0 = performance.now();
  const res = await fetch(url, { method: "POST", headers, body });
  await res.arrayBuffer();
  const t1 = performance.now();
  expect(res.status).toBe(expectStatus);
  return t1 - t0;
}

/**
 * Interleaved timings of several kinds of request: each round runs one of each, in a random order,
 * after a warm-up whose timings are dropped. Everything a request needs is prepared first.
 */
async function timings(
  kinds: Array<{ prepare: () => Promise<Prepared>; status: number }>,
): Promise<number[][]> {
  const n = TIMING_SAMPLES + WARMUP;
  const prepared: Prepared[][] = kinds.map(() => []);
  for (let i = 0; i < n; i++) {
    for (const [k, kind] of kinds.entries()) prepared[k]?.push(await kind.prepare());
  }
  const times: number[][] = kinds.map(() => []);
  for (let i = 0; i < n; i++) {
    const order = kinds.map((_, k) => k).sort(() => Math.random() - 0.5);
    for (const k of order) {
      times[k]?.push(await timeIdentify(prepared[k]?.[i] as Prepared, kinds[k]?.status ?? 200));
    }
  }
  return times.map((t) => t.slice(WARMUP));
}

function summary(xs: number[]): string {
  const s = [...xs].sort((p, q) => p - q);
  const q = (f: number) => (s[Math.floor(f * (s.length - 1))] ?? 0).toFixed(3);
  return `median ${q(0.5)} ms, p10 ${q(0.1)}, p90 ${q(0.9)}`;
}

describe.each(["strict", "guided"] as const)("%s mode: the same time", (mode) => {
  // At p ≤ 0.01 one run in a hundred fails with no difference at all; a real difference fails the
  // retry too (the control below is told apart at p < 1e-30).
  it(`identify: ${TIMING_SAMPLES} timings of an unknown user name and of ineligible accounts (no methods; disabled with five) cannot be told apart (KS p > 0.01)`, {
    retry: 1,
  }, async () => {
    await h.setSettings({ reset: { disclosure: mode } });
    const [unknown = [], nomethods = [], disabled = []] = await timings([
      { prepare: () => prepare(UNKNOWN), status: 200 },
      { prepare: () => prepare("nomethods"), status: 200 },
      { prepare: () => prepare("disabled"), status: 200 },
    ]);
    const results = [
      ["no methods", nomethods],
      ["disabled", disabled],
    ] as const;
    const lines: string[] = [`unknown ${summary(unknown)}`];
    for (const [name, sample] of results) {
      const ks = ksTwoSample(unknown, sample);
      lines.push(`${name}: KS D=${ks.d.toFixed(4)} p=${ks.p.toFixed(4)}, ${summary(sample)}`);
    }
    const report = lines.join("; ");
    console.info(`[enumeration] ${mode}: ${report}`);
    for (const [name, sample] of results) {
      expect(sample.length).toBeGreaterThanOrEqual(TIMING_SAMPLES);
      expect(ksTwoSample(unknown, sample).p, `${name}: ${report}`).toBeGreaterThan(0.01);
    }
  });
});

describe("control: the KS test tells apart requests whose work differs", () => {
  it("a replayed captcha (refused before any user lookup) against a full identify of an unknown name", async () => {
    await h.setSettings({ reset: { disclosure: "strict" } });
    const used = await solvedCaptcha(h.portal.captcha);
    expect(await h.portal.captcha.verify(used)).toBe(true);
    const [full = [], refused = []] = await timings([
      { prepare: () => prepare(UNKNOWN), status: 200 },
      { prepare: () => prepare(UNKNOWN, used), status: 400 },
    ]);
    const ks = ksTwoSample(full, refused);
    const report = `KS D=${ks.d.toFixed(4)} p=${ks.p.toExponential(2)}; full ${summary(full)}; refused ${summary(refused)}`;
    console.info(`[enumeration] control: ${report}`);
    expect(ks.p, report).toBeLessThan(0.01);
  });
});
