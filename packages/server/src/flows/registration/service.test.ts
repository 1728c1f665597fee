/**
 * The registration service with the real store, outbox, throttle, methods and SessionService:
 * each method added and confirmed, the step-up that guards every change once methods exist (and
 * its refusal when missing or stale), removal, directory contacts, notices and audit records.
 */
import { readFileSync } from "node:fs";
import type { PublicKeyCredentialCreationOptionsJSON } from "@simplewebauthn/server";
import { Secret, TOTP } from "otpauth";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SignedIn } from "../../account/guard.js";
import { SessionService } from "../../account/sessions.js";
import { StoreAudit } from "../../audit/emitter.js";
import { SoftAuthenticator } from "../../methods/passkey/testing/soft-authenticator.js";
import { createMethods } from "../../methods/registry.js";
import { createFixture, type Fixture } from "../../methods/testing/fixtures.js";
import type { User } from "../../store/schema.js";
import { Throttle } from "../../throttle/throttle.js";
import { type AccountMeta, RegistrationService, STEP_UP_FRESH_MS } from "./service.js";
import { REGISTRATION_STATES, REGISTRATION_TRANSITIONS } from "./states.js";

const META: AccountMeta = {
  ip: "203.0.113.5",
  userAgent: "test",
  locale: "en",
  rp: { rpId: "reset.contoso.test", origin: "https://reset.contoso.test" },
};

let fx: Fixture;
let service: RegistrationService;
let sessions: SessionService;

beforeAll(async () => {
  fx = await createFixture({
    settings: {
      reset: { methods: ["email", "sms", "voice", "totp", "questions", "passkey"], codeDigits: 8 },
    },
  });
  sessions = new SessionService({ db: fx.store.db, clock: fx.clock, random: fx.random });
  service = new RegistrationService({
    db: fx.store.db,
    clock: fx.clock,
    random: fx.random,
    secrets: fx.secrets,
    audit: new StoreAudit(fx.store.db, fx.clock),
    methods: createMethods(fx.services),
    throttle: new Throttle(fx.store.db, fx.clock),
    enqueue: fx.services.enqueue,
    sessions,
  });
});
afterAll(async () => {
  await fx.close();
});

/** A fresh sign-in (password only: no step-up yet). */
async function signIn(user: User): Promise<SignedIn> {
  const { session } = await sessions.create(fx.tenant, user, { ip: META.ip, userAgent: "test" }, ["pwd"]);
  return { tenant: fx.tenant, user, session, csrfToken: session.csrf_token };
}

/** Delivers the outbox and returns the code in the last message to `to`. */
async function codeSentTo(to: string): Promise<string> {
  const delivered = await fx.deliver();
  const msg = [...delivered].reverse().find((m) => m.to === to && /\d(?:, \d){7}|\d{8}/.test(m.text));
  // A call spells the digits out ("1, 2, 3…").
  const code = msg?.text.match(/\d(?:, \d){7}|\d{8}/)?.[0]?.replaceAll(", ", "");
  if (!code) throw new Error(`no code sent to ${to}: ${JSON.stringify(delivered.map((m) => m.to))}`);
  return code;
}

async function audit(event: string) {
  return fx.store.db.selectFrom("audit_events").selectAll().where("event", "=", event).execute();
}

describe("registration-flow.mmd", () => {
  it("draws exactly the transitions of states.ts", () => {
    const text = readFileSync(new URL("./registration-flow.mmd", import.meta.url), "utf8");
    const edges = [...text.matchAll(/^\s*([a-z_]+) --> ([a-z_]+)/gm)]
      .map((m) => `${m[1]} --> ${m[2]}`)
      .sort();
    const code = REGISTRATION_STATES.flatMap((s) =>
      REGISTRATION_TRANSITIONS[s].map((t) => `${s} --> ${t}`),
    ).sort();
    expect(edges).toEqual(code);
  });
});

describe("registration", () => {
  it("a first method needs no step-up: an email address, confirmed by a code, and a notice to it", async () => {
    const s = await signIn(fx.user);
    const begun = await service.begin(s, META, { action: "add", method: "email" });
    expect(begun.state).toBe("collect");
    const sent = await service.collect(s, begun.flowId, META, { contact: " Alice@Contoso.test " });
    expect(sent.state).toBe("confirm");
    expect(sent.confirm).toMatchObject({ kind: "code", contact: "alice@contoso.test" });
    const code = await codeSentTo("alice@contoso.test");
    await expect(
      service.confirm(s, begun.flowId, META, { code: "00000000" === code ? "11111111" : "00000000" }),
    ).rejects.toMatchObject({ code: "VERIFICATION_FAILED" });
    const done = await service.confirm(s, begun.flowId, META, { code });
    expect(done.state).toBe("completed");
    const rows = await fx.methods();
    expect(rows.filter((r) => r.type === "email" && r.confirmed_at !== null)).toHaveLength(1);
    const notices = (await fx.deliver()).filter((m) => m.subject?.includes("security information changed"));
    expect(notices.map((m) => m.to)).toEqual(["alice@contoso.test"]);
    expect(notices[0]?.text).toContain("203.0.113.5");
    expect(notices[0]?.text).toContain("An email address (a•••@c•••.test) was added");
    expect((await audit("method.registered")).at(-1)).toMatchObject({
      result: "success",
      target: fx.user.id,
    });
  });

  it("with methods registered, adding one without a step-up is refused (no silent takeover)", async () => {
    const s = await signIn(fx.user);
    const begun = await service.begin(s, META, { action: "add", method: "sms" });
    expect(begun.state).toBe("step_up");
    expect(begun.stepUp?.methods.map((m) => m.type)).toEqual(["email"]);
    await expect(service.collect(s, begun.flowId, META, { contact: "+4915112345689" })).rejects.toMatchObject(
      {
        code: "STEP_UP_REQUIRED",
        status: 403,
      },
    );
    await expect(service.confirm(s, begun.flowId, META, { code: "12345678" })).rejects.toMatchObject({
      code: "STEP_UP_REQUIRED",
    });
    expect((await fx.methods()).some((r) => r.type === "sms")).toBe(false);
    const refused = await audit("method.step_up_failed");
    expect(refused.some((r) => r.result === "failure" && r.reason === "step_up_required")).toBe(true);
    // Removing one is a change too.
    const email = (await fx.methods()).find((r) => r.type === "email");
    const removal = await service.begin(s, META, {
      action: "remove",
      method: "email",
      methodId: email?.id ?? "",
    });
    expect(removal.state).toBe("step_up");
    expect((await fx.methods()).some((r) => r.id === email?.id)).toBe(true);
  });

  it("after proving the email in this session, a phone is added; a stale step-up is refused at the end", async () => {
    const s = await signIn(fx.user);
    const begun = await service.begin(s, META, { action: "add", method: "sms" });
    await service.startStepUp(s, begun.flowId, META, { method: "email" });
    const stepCode = await codeSentTo("alice@contoso.test");
    await expect(
      service.verifyStepUp(s, begun.flowId, META, {
        response: { code: stepCode === "00000000" ? "1" : "0" },
      }),
    ).rejects.toMatchObject({ code: "VERIFICATION_FAILED" });
    const proven = await service.verifyStepUp(s, begun.flowId, META, { response: { code: stepCode } });
    expect(proven.state).toBe("collect");
    await service.collect(s, begun.flowId, META, { contact: "0049 151 1234-5689" });
    const smsCode = await codeSentTo("+4915112345689");
    expect((await service.confirm(s, begun.flowId, META, { code: smsCode })).state).toBe("completed");
    // The proof has an age: a change that completes after it went stale is refused.
    const later = await service.begin(s, META, { action: "add", method: "voice" });
    expect(later.state).toBe("collect");
    await service.collect(s, later.flowId, META, { contact: "+33612345678" });
    const voiceCode = await codeSentTo("+33612345678");
    fx.clock.advance(STEP_UP_FRESH_MS + 1000);
    await expect(service.confirm(s, later.flowId, META, { code: voiceCode })).rejects.toMatchObject({
      code: "STEP_UP_REQUIRED",
    });
    expect((await fx.methods()).some((r) => r.type === "voice")).toBe(false);
  });

  it("authenticator app, security questions and a passkey, after a step-up with the phone", async () => {
    const s = await signIn(fx.user);
    const totpFlow = await service.begin(s, META, { action: "add", method: "totp" });
    await service.startStepUp(s, totpFlow.flowId, META, { method: "sms" });
    const code = await codeSentTo("+4915112345689");
    const shown = await service.verifyStepUp(s, totpFlow.flowId, META, { response: { code } });
    if (shown.confirm?.kind !== "totp") throw new Error("no authenticator set-up shown");
    expect(shown.confirm.qrSvg).toMatch(/^<svg [^>]*viewBox/);
    expect(shown.confirm.qrSvg).not.toMatch(/<script|style=/);
    expect(shown.confirm.uri).toContain(`secret=${shown.confirm.secret}`);
    const token = TOTP.generate({
      secret: Secret.fromBase32(shown.confirm.secret),
      algorithm: "SHA1",
      digits: 6,
      period: 30,
      timestamp: fx.clock.now(),
    });
    expect((await service.confirm(s, totpFlow.flowId, META, { code: token })).state).toBe("completed");
    // The registered secret is sealed, not stored in clear.
    const totpRow = (await fx.methods()).find((r) => r.type === "totp");
    expect(totpRow?.data_json.includes(shown.confirm.secret)).toBe(false);

    const q = await service.begin(s, META, { action: "add", method: "questions" });
    expect(q.state).toBe("collect");
    await expect(
      service.collect(s, q.flowId, META, { answers: [{ questionId: "lk.first-pet", answer: "Fluffy" }] }),
    ).rejects.toMatchObject({ code: "VALIDATION_FAILED", context: { rule: "count" } });
    const saved = await service.collect(s, q.flowId, META, {
      answers: [
        { questionId: "lk.first-pet", answer: "Fluffy the cat" },
        { questionId: "lk.first-street", answer: "Rue de la Paix" },
        { questionId: "lk.first-car", answer: "Citroen 2CV" },
      ],
    });
    expect(saved.state).toBe("completed");

    const pk = await service.begin(s, META, { action: "add", method: "passkey" });
    await expect(service.collect(s, pk.flowId, META, { name: "  " })).rejects.toMatchObject({
      context: { rule: "name_required" },
    });
    const ceremony = await service.collect(s, pk.flowId, META, { name: "Work laptop" });
    if (ceremony.confirm?.kind !== "passkey") throw new Error("no passkey ceremony");
    const auth = new SoftAuthenticator();
    const options = ceremony.confirm.options as PublicKeyCredentialCreationOptionsJSON;
    // An answer made on another site does not register.
    await expect(
      service.confirm(s, pk.flowId, META, { passkey: auth.create(options, "https://evil.example") }),
    ).rejects.toMatchObject({ code: "VERIFICATION_FAILED" });
    const done = await service.confirm(s, pk.flowId, META, {
      passkey: auth.create(options, META.rp?.origin ?? ""),
    });
    expect(done.state).toBe("completed");
    const overview = await service.overview(s);
    expect(overview.methods.map((m) => m.type).sort()).toEqual([
      "email",
      "passkey",
      "questions",
      "sms",
      "totp",
    ]);
    expect(overview.methods.find((m) => m.type === "passkey")?.label).toBe("Work laptop");
    // Nothing typed in clear: the answers are hashed.
    const everything = (await fx.dumpEverything()).toLowerCase();
    expect(everything.includes("fluffy the cat")).toBe(false);
    expect(everything.includes("rue de la paix")).toBe(false);
  });

  it("removing the email address tells that address", async () => {
    const s = await signIn(fx.user);
    const email = (await fx.methods()).find((r) => r.type === "email");
    const flow = await service.begin(s, META, {
      action: "remove",
      method: "email",
      methodId: email?.id ?? "",
    });
    expect(flow.state).toBe("step_up");
    await service.startStepUp(s, flow.flowId, META, { method: "sms" });
    const code = await codeSentTo("+4915112345689");
    const done = await service.verifyStepUp(s, flow.flowId, META, { response: { code } });
    expect(done.state).toBe("completed");
    expect((await fx.methods()).some((r) => r.type === "email")).toBe(false);
    const notices = (await fx.deliver()).filter((m) => m.subject?.includes("security information changed"));
    expect(notices.map((m) => m.to)).toEqual(["alice@contoso.test"]);
    expect(notices[0]?.text).toContain("was removed from");
    expect((await audit("method.removed")).length).toBe(1);
  });

  it("a contact from the directory is confirmed by one code, without a step-up", async () => {
    const bob = await fx.addUser("bob-directory");
    await fx.store.db
      .updateTable("users")
      .set({ email: "Bob@Contoso.test", mobile: "+44 7700 900123" })
      .where("id", "=", bob.id)
      .execute();
    const row = await fx.store.db
      .selectFrom("users")
      .selectAll()
      .where("id", "=", bob.id)
      .executeTakeFirstOrThrow();
    const s = await signIn(row);
    // Bob confirms the email first; then he has a method, yet the directory's mobile still needs no step-up.
    for (const [source, to] of [
      ["email", "bob@contoso.test"],
      ["mobile", "+447700900123"],
    ] as const) {
      const o = await service.overview(s);
      expect(o.directoryContacts.map((c) => c.source)).toContain(source);
      const flow = await service.begin(s, META, { action: "confirm", method: "email", source });
      expect(flow.state).toBe("confirm");
      const code = await codeSentTo(to);
      expect((await service.confirm(s, flow.flowId, META, { code })).state).toBe("completed");
    }
    const o = await service.overview(s);
    expect(o.directoryContacts).toEqual([]);
    expect(o.registered).toBe(2);
  });

  it("a flow belongs to its session", async () => {
    const s = await signIn(fx.user);
    const other = await signIn(fx.user);
    const flow = await service.begin(s, META, { action: "add", method: "voice" });
    await expect(service.view(other, flow.flowId)).rejects.toMatchObject({ code: "FLOW_NOT_FOUND" });
  });

  it("the review is recorded", async () => {
    const s = await signIn(fx.user);
    await service.markReviewed(s, META);
    const row = await fx.store.db
      .selectFrom("users")
      .selectAll()
      .where("id", "=", fx.user.id)
      .executeTakeFirstOrThrow();
    expect(row.methods_reviewed_at).toBe(fx.clock.now());
    expect((await audit("methods.reviewed")).length).toBe(1);
  });
});
