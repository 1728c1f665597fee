/**
 * The explanation cannot drift from the flow: every state and transition of the reset machine,
 * every eligibility check, every implemented method and every audit event a reset records has a
 * place in it; and changing the policy (gates, admin, strict mode, account kind) changes it.
 */
import { describe, expect, it } from "vitest";
import { AUDIT_EVENTS } from "../audit/catalogue.js";
import { parseTenantSettings } from "../config/tenant-settings.js";
import { randomSecrets } from "../core/secrets.js";
import { CHANGE_FLOW } from "../flows/change/states.js";
import { REGISTRATION_TRANSITIONS } from "../flows/registration/states.js";
import { checkEligibility } from "../flows/reset/eligibility.js";
import { RESET_STATES, RESET_TRANSITIONS } from "../flows/reset/states.js";
import { createMethods } from "../methods/registry.js";
import { type ExplainContext, implementedMethods } from "./context.js";
import { explainFlow } from "./flows.js";
import { type Audience, counts, type Explanation, FLOW_NAMES, METHOD_LABELS, summaryLine } from "./model.js";
import { renderSvg } from "./render-svg.js";
import { renderMermaid, renderText } from "./render-text.js";
import { explainReset, sampleUser } from "./reset.js";

// The registry exactly as the portal builds it (the services are never called while explaining).
const registry = createMethods({
  db: undefined as never,
  clock: { now: () => 0 },
  random: undefined as never,
  secrets: randomSecrets(),
  enqueue: async () => {
    throw new Error("never sends");
  },
});
const implemented = implementedMethods(registry);

function ctx(settings: object = {}, over: Partial<ExplainContext> = {}): ExplainContext {
  return {
    tenant: { name: "Acme & Sons <Ltd>", slug: "acme" },
    settings: parseTenantSettings(settings),
    implemented,
    channels: { email: true, sms: true, voice: true },
    directories: [{ id: "corp-ol", dialects: ["openldap"], agentsEnrolled: 1, agentsOnline: 1 }],
    now: Date.UTC(2026, 0, 1),
    ...over,
  };
}

const AUDIENCES: Audience[] = [
  { userKind: "cloud", admin: false },
  { userKind: "cloud", admin: true },
  { userKind: "synced", admin: false },
  { userKind: "synced", admin: true },
];

function all(settingsVariants: object[]): Explanation[] {
  return settingsVariants.flatMap((s) =>
    AUDIENCES.flatMap((a) => (["reset", "unlock"] as const).map((f) => explainFlow(f, ctx(s), a))),
  );
}

const VARIANTS = [{ reset: { disclosure: "guided" } }, { reset: { disclosure: "strict", gates: 2 } }];

describe("the explanation covers what the flow defines", () => {
  it("every state and every transition of the reset state machine", () => {
    const es = all(VARIANTS);
    const covered = new Set(es.flatMap((e) => e.transitions.map((t) => `${t.from}>${t.to}`)));
    const states = new Set(es.flatMap((e) => [...e.steps, ...e.branches].map((s) => s.state)));
    for (const s of RESET_STATES) {
      expect(states, `state ${s} has no step`).toContain(s);
      for (const to of RESET_TRANSITIONS[s])
        expect(covered, `transition ${s} → ${to}`).toContain(`${s}>${to}`);
    }
    // Nothing explained that the machine does not allow.
    for (const t of covered) {
      const [from, to] = t.split(">") as [keyof typeof RESET_TRANSITIONS, string];
      expect(RESET_TRANSITIONS[from] as readonly string[], t).toContain(to);
    }
  });

  it("every eligibility check, in the order the flow runs them", () => {
    const c = ctx();
    for (const aud of AUDIENCES) {
      const ids = checkEligibility({
        settings: c.settings,
        user: sampleUser(aud),
        registered: [],
        implemented,
        lockedUntil: null,
        now: 0,
        canSetPassword: false,
      }).checks.map((x) => `reset.identify.check.${x.id}`);
      const e = explainReset(c, aud);
      expect(e.steps.map((s) => s.id).filter((id) => id.startsWith("reset.identify.check."))).toEqual(ids);
      for (const s of e.steps) expect(s.action.length, s.id).toBeGreaterThan(10);
    }
  });

  it("every method the server implements, when the tenant enables it", () => {
    expect(implemented.length).toBeGreaterThanOrEqual(5);
    for (const m of implemented) {
      const e = explainReset(ctx({ reset: { methods: [m], gates: 1 } }), { userKind: "cloud", admin: false });
      const choose = e.steps.find((s) => s.id === "reset.verify.gate1.choose");
      expect(choose?.action, m).toContain(METHOD_LABELS[m]);
      const sends = ["email", "sms", "voice"].includes(m);
      expect(
        e.steps.some((s) => s.id === "reset.verify.gate1.deliver"),
        m,
      ).toBe(sends);
    }
  });

  it("every audit event a reset or unlock flow records names a step", () => {
    const recorded = new Set(
      all(VARIANTS).flatMap((e) => [...e.steps, ...e.branches].flatMap((s) => s.recordedBy)),
    );
    const flowEvents = Object.keys(AUDIT_EVENTS).filter((n) =>
      /^(reset_flow|verification|sessions|writeback|throttle|admin_contact)\.|^password\.(reset|rejected)$|^account\.unlocked$|^notification\.(queued|sent)$/.test(
        n,
      ),
    );
    expect(flowEvents.length).toBeGreaterThan(15);
    for (const ev of flowEvents) expect(recorded, ev).toContain(ev);
  });

  it("every transition of the change and registration machines, and nothing they do not allow", () => {
    for (const [flow, machine] of [
      ["change", CHANGE_FLOW.transitions],
      ["registration", REGISTRATION_TRANSITIONS],
    ] as const) {
      const expected = Object.entries(machine)
        .flatMap(([from, tos]) => (tos as readonly string[]).map((to) => `${from}>${to}`))
        .sort();
      for (const aud of AUDIENCES) {
        const e = explainFlow(flow, ctx(), aud);
        const ids = new Set([...e.steps, ...e.branches].map((s) => s.id));
        expect([...new Set(e.transitions.map((t) => `${t.from}>${t.to}`))].sort(), flow).toEqual(expected);
        for (const t of e.transitions) expect(ids, `${flow} ${t.stepId}`).toContain(t.stepId);
      }
    }
    expect(
      explainFlow("change", ctx(), { userKind: "synced", admin: false }).steps.map((s) => s.id),
    ).toContain("change.directory");
  });

  it("step ids are unique within an explanation", () => {
    for (const e of [
      ...all(VARIANTS),
      ...FLOW_NAMES.map((f) => explainFlow(f, ctx(), AUDIENCES[2] as Audience)),
    ]) {
      const ids = [...e.steps, ...e.branches].map((s) => s.id);
      expect(new Set(ids).size, e.flow).toBe(ids.length);
    }
  });

  it("every flow has an explanation, and one not built says so", () => {
    for (const f of FLOW_NAMES) {
      const e = explainFlow(f, ctx(), { userKind: "cloud", admin: false });
      if (e.status === "built") expect(e.steps.length).toBeGreaterThan(0);
      else expect(renderText(e)).toContain("not available in this build");
    }
  });
});

describe("policy changes change the explanation", () => {
  const cloud: Audience = { userKind: "cloud", admin: false };
  const ids = (e: Explanation) => e.steps.map((s) => s.id);

  it("1 gate → 2 gates adds the second proof", () => {
    const one = explainReset(ctx({ reset: { gates: 1 } }), cloud);
    const two = explainReset(ctx({ reset: { gates: 2 } }), cloud);
    expect(ids(one).some((id) => id.startsWith("reset.verify.gate2."))).toBe(false);
    expect(ids(two)).toContain("reset.verify.gate2.check");
    expect(counts(two).visible).toBe(counts(one).visible + 2);
    expect(two.facts.find((f) => f.label === "Gates")?.value).toBe("2");
    expect(summaryLine(two)).toMatch(
      /^Reset, for a cloud account under this policy: \d+ steps for the person, \d+ in the background$/,
    );
  });

  it("an administrator: two gates even when the policy says one, no security questions, other admins alerted", () => {
    const c = ctx({ reset: { gates: 1, methods: ["email", "totp", "questions"] } });
    const user = explainReset(c, cloud);
    const admin = explainReset(c, { userKind: "cloud", admin: true });
    expect(ids(admin)).toContain("reset.verify.gate2.check");
    expect(ids(user)).not.toContain("reset.verify.gate2.check");
    expect(user.steps.find((s) => s.id === "reset.verify.gate1.choose")?.action).toContain(
      "security questions",
    );
    expect(admin.steps.find((s) => s.id === "reset.verify.gate1.choose")?.action).not.toContain(
      "security questions",
    );
    const alert = admin.steps.find((s) => s.id === "reset.complete.admin_notice");
    expect(alert?.conditions.map((x) => x.text)).toContain("only when the user is an administrator");
    expect(ids(user)).not.toContain("reset.complete.admin_notice");
    expect(
      ids(
        explainReset(ctx({ reset: { notifyAdminsOnAdminReset: false } }), { userKind: "cloud", admin: true }),
      ),
    ).not.toContain("reset.complete.admin_notice");
  });

  it("strict mode: the same page for everybody and the full address typed", () => {
    const guided = explainReset(ctx({ reset: { disclosure: "guided" } }), cloud);
    const strict = explainReset(ctx({ reset: { disclosure: "strict" } }), cloud);
    const offer = (e: Explanation) => e.steps.find((s) => s.id === "reset.verify.offer");
    expect(offer(guided)?.action).toContain("masked");
    expect(offer(strict)?.action).toContain("the same page whoever was typed");
    expect(offer(strict)?.conditions.map((c) => c.id)).toEqual(["disclosure_strict"]);
    expect(strict.branches.find((b) => b.id === "reset.blocked.ineligible")?.action).toContain("phantom");
  });

  it("synced accounts go through the agent and the directory; cloud accounts get a hash", () => {
    const synced = explainReset(ctx(), { userKind: "synced", admin: false });
    const c = explainReset(ctx(), cloud);
    expect(ids(synced)).toEqual(
      expect.arrayContaining(["reset.password.seal", "reset.password.agent", "reset.password.directory"]),
    );
    expect(ids(synced)).not.toContain("reset.password.hash");
    expect(ids(c)).toContain("reset.password.hash");
    expect(synced.steps.find((s) => s.id === "reset.password.directory")).toMatchObject({
      actor: "agent",
      to: "directory",
    });
    expect(synced.steps.find((s) => s.id === "reset.password.directory")?.action).toContain(
      "Password Modify",
    );
    // No agent online: a warning, and the check names the directory.
    const offline = explainReset(
      ctx({}, { directories: [{ id: "corp-ol", dialects: [], agentsEnrolled: 1, agentsOnline: 0 }] }),
      {
        userKind: "synced",
        admin: false,
      },
    );
    expect(offline.warnings.join(" ")).toContain("No agent is online for directory 'corp-ol'");
  });

  it("throttle values come from the tenant's settings", () => {
    const e = explainReset(
      ctx({ throttles: { verifyAttemptsPerMethodPerHour: 7, lockoutMinutes: 90 } }),
      cloud,
    );
    expect(e.security.throttles.join(" ")).toContain(
      "7 wrong answers per method per hour lock self-service for 90 minutes",
    );
    expect(e.steps.find((s) => s.id === "reset.verify.gate1.count")?.action).toContain(
      "7 per method per hour",
    );
  });
});

describe("renderers", () => {
  const e = explainReset(ctx({ reset: { gates: 2 } }), { userKind: "synced", admin: true });

  it("text starts with the counts, then numbered steps", () => {
    const text = renderText(e);
    const c = counts(e);
    expect(text.split("\n")[0]).toBe(
      `Reset, for an administrator's synced account under this policy: ${c.visible} steps for the person, ${c.background} in the background.`,
    );
    expect(text).toMatch(new RegExp(`\\s${e.steps.length}\\. `));
  });

  it("Mermaid: a sequence diagram with one message per step", () => {
    const m = renderMermaid(e);
    expect(m.startsWith("sequenceDiagram\n")).toBe(true);
    const messages = m.split("\n").filter((l) => /^\s+\w+(->>|-\))\w+: /.test(l));
    expect(messages).toHaveLength(e.steps.length);
    expect(m).not.toMatch(/: [^\n]*;/);
  });

  it("SVG escapes text and draws one arrow per step", () => {
    const svg = renderSvg(e);
    expect(svg).toContain("Acme &amp; Sons &lt;Ltd&gt;");
    expect(svg).not.toContain("<Ltd>");
    const arrows = (svg.match(/marker-end="url\(#head-/g) ?? []).length;
    expect(arrows).toBe(e.steps.length);
  });
});
