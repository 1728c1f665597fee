/**
 * Password change (flows/change) and method registration (flows/registration), explained from their
 * state machines (CHANGE_FLOW, REGISTRATION_TRANSITIONS) and the tenant's settings. Every transition
 * of each machine is claimed by a step or a branch; explain.test.ts fails when one is not.
 * No timeline mapping exists for these yet: their audit events show under their own names.
 */
import type { MethodType } from "../config/tenant-settings.js";
import { CHANGE_FLOW } from "../flows/change/states.js";
import { gatesFor, methodsAllowedFor } from "../flows/reset/eligibility.js";
import type { ExplainContext } from "./context.js";
import { type Audience, type Explanation, METHOD_LABELS, type Step } from "./model.js";
import { METHOD_TEXT, resetSecurity, sampleUser } from "./reset.js";

type Draft = Omit<Step, "conditions" | "recordedBy"> & Partial<Pick<Step, "conditions" | "recordedBy">>;
const step = (d: Draft): Step => ({ conditions: [], recordedBy: [], ...d });
const synced = (a: Audience) => a.userKind === "synced";
const only = (id: string, text: string, runtime = false) => [{ id, text, runtime }];

export function explainChange(ctx: ExplainContext, aud: Audience): Explanation {
  const p = ctx.settings.password;
  const s: Step[] = [
    step({
      id: "change.open",
      phase: "change",
      state: null,
      actor: "person",
      to: "browser",
      visible: true,
      action: 'Signs in and opens "change password" in their account',
      note: "A signed-in change is one request carrying the session and its CSRF token; no flow row is kept.",
    }),
    step({
      id: "change.enter",
      phase: "change",
      state: null,
      actor: "person",
      to: "server",
      visible: true,
      action: "Types the current password and the new one twice",
      note: "The current password proves it is really them, even with a session open.",
    }),
    step({
      id: "change.policy",
      phase: "change",
      state: null,
      actor: "server",
      to: null,
      visible: false,
      action: `Checks the password policy (at least ${p.minLength} characters, strength ${p.minStrength} of 4, banned and breached words)`,
      note: "The same policy as a reset.",
      recordedBy: ["password.rejected"],
    }),
  ];
  if (synced(aud)) {
    s.push(
      step({
        id: "change.seal",
        phase: "change",
        state: null,
        actor: "server",
        to: "store",
        visible: false,
        action: "Seals the current and the new password to an online agent's key and records the operation",
        conditions: only("synced", "only for synced accounts"),
        note: "Both passwords travel sealed; only the agent can open them.",
        recordedBy: ["writeback_operations"],
      }),
      step({
        id: "change.agent",
        phase: "change",
        state: null,
        actor: "server",
        to: "agent",
        visible: false,
        action: "Sends the change over the agent's outbound link",
        conditions: only("synced", "only for synced accounts"),
        note: "The agent opens the seal in memory.",
        recordedBy: ["writeback.applied"],
      }),
      step({
        id: "change.directory",
        phase: "change",
        state: null,
        actor: "agent",
        to: "directory",
        visible: false,
        action:
          "Changes the password as the user (the directory checks the current one, its history and minimum age)",
        conditions: only("synced", "only for synced accounts"),
        note: "A user change, not an administrator reset: the directory's own rules apply.",
        recordedBy: ["writeback.applied", "writeback.refused"],
      }),
    );
  } else {
    s.push(
      step({
        id: "change.hash",
        phase: "change",
        state: null,
        actor: "server",
        to: "store",
        visible: false,
        action:
          "Verifies the current password's argon2id hash, stores the new hash (the old one to the history)",
        conditions: only("cloud", "only for cloud accounts"),
        note: "Latchkey holds cloud passwords as slow salted hashes.",
        recordedBy: ["password.changed"],
      }),
    );
  }
  s.push(
    step({
      id: "change.sessions",
      phase: "change",
      state: null,
      actor: "server",
      to: "store",
      visible: false,
      action: "Signs the account out of its other sessions",
      note: "Other devices must sign in with the new password.",
      recordedBy: ["sessions.revoked"],
    }),
    step({
      id: "change.notice",
      phase: "change",
      state: null,
      actor: "server",
      to: "provider",
      visible: false,
      action: "Emails a 'your password was changed' notice",
      conditions: only("has_email", "only when the account has an email address", true),
      note: "If it was not them, the email says whom to contact.",
      recordedBy: ["notification.queued"],
    }),
    step({
      id: "change.done",
      phase: "change",
      state: null,
      actor: "server",
      to: "person",
      visible: true,
      action: 'Sees "password changed"',
      note: "The current session stays signed in.",
      recordedBy: ["password.changed"],
    }),
  );
  const branches: Step[] = [
    step({
      id: "change.forced",
      phase: "change",
      state: "new_password",
      actor: "server",
      to: "person",
      visible: true,
      action:
        "Sign-in found the password expired or marked must-change: a 5-minute flow holds the old password sealed and asks for a new one",
      conditions: only("synced", "only for synced accounts"),
      note: "The bind proved the old password; the flow keeps it sealed only until the change is made.",
    }),
    step({
      id: "change.refused",
      phase: "change",
      state: "new_password",
      actor: "server",
      to: "person",
      visible: true,
      action: "The policy or the directory refuses the new password: the person sees why and tries again",
      note: "Only rule ids or stable directory codes are recorded.",
      recordedBy: ["password.rejected"],
    }),
  ];
  const transitions = Object.entries(CHANGE_FLOW.transitions).flatMap(([from, tos]) =>
    (tos as readonly string[]).map((to) => ({
      from,
      to,
      stepId: to === from ? "change.refused" : "change.forced",
    })),
  );
  return {
    flow: "change",
    title: "Change password",
    tenant: ctx.tenant,
    generatedAt: ctx.now,
    audience: aud,
    status: "built",
    statusNote: null,
    facts: [
      { label: "Tenant", value: `${ctx.tenant.name} (${ctx.tenant.slug})` },
      { label: "Account", value: `${aud.userKind}${aud.admin ? ", administrator" : ""}` },
      {
        label: "Password set by",
        value: synced(aud) ? "an agent in the directory (a user change)" : "Latchkey (argon2id)",
      },
    ],
    phases: [{ id: "change", title: "Change password" }],
    steps: s,
    branches,
    transitions,
    security: resetSecurity(ctx),
    warnings: [],
  };
}

export function explainRegistration(ctx: ExplainContext, aud: Audience): Explanation {
  const settings = ctx.settings;
  const allowed: MethodType[] = methodsAllowedFor(settings, sampleUser(aud), ctx.implemented);
  const names = allowed.map((m) => METHOD_LABELS[m]).join(", ");
  const senders = allowed.filter((m) => METHOD_TEXT[m].sends !== null);
  const s: Step[] = [
    step({
      id: "registration.open",
      phase: "step_up",
      state: null,
      actor: "person",
      to: "browser",
      visible: true,
      action: `Signs in and opens "my methods"; chooses to add one (${names})`,
      note: `A reset needs ${gatesFor(settings, sampleUser(aud))} registered method(s); people are reminded after sign-in when they have fewer.`,
    }),
    step({
      id: "registration.step_up",
      phase: "step_up",
      state: "step_up",
      actor: "person",
      to: "server",
      visible: true,
      action: "Proves one of their existing methods first (skipped for the very first method)",
      conditions: only("has_methods", "only when the account already has a confirmed method", true),
      note: "A stolen session alone cannot add a method: the person must pass one they already have.",
      recordedBy: ["verification.passed", "verification.failed", "method.step_up_failed"],
    }),
    step({
      id: "registration.collect",
      phase: "collect",
      state: "collect",
      actor: "person",
      to: "server",
      visible: true,
      action: "Gives the details: an address or number, security question answers, or a passkey name",
      note: "Answers are stored as argon2id hashes, never in clear.",
    }),
  ];
  if (senders.length > 0)
    s.push(
      step({
        id: "registration.send",
        phase: "collect",
        state: "collect",
        actor: "server",
        to: "provider",
        visible: false,
        action: "Sends a confirmation code to the new address or number (stored as an HMAC)",
        conditions: only("method_sends", `only for ${senders.map((m) => METHOD_LABELS[m]).join(", ")}`, true),
        note: "The code proves the person receives messages there.",
        recordedBy: ["verification.sent", "notification.queued"],
      }),
    );
  s.push(
    step({
      id: "registration.confirm",
      phase: "confirm",
      state: "confirm",
      actor: "person",
      to: "server",
      visible: true,
      action:
        "Confirms: types the code, scans the QR code and types the app's code, or completes the passkey ceremony",
      note: "Nothing counts as a method until it is confirmed once.",
      recordedBy: ["verification.passed"],
    }),
    step({
      id: "registration.save",
      phase: "confirm",
      state: "completed",
      actor: "server",
      to: "store",
      visible: false,
      action: "Saves the method (TOTP secret sealed with AES-256-GCM; passkey public key; answers hashed)",
      note: "The audit log records the method's type, never its secret.",
      recordedBy: ["method.registered"],
    }),
    step({
      id: "registration.notice",
      phase: "confirm",
      state: "completed",
      actor: "server",
      to: "provider",
      visible: false,
      action: "Emails a 'your security info changed' notice to the account's addresses",
      note: "If it was not them, they know at once.",
      recordedBy: ["notification.queued"],
    }),
  );
  const branches: Step[] = [
    step({
      id: "registration.retry",
      phase: "confirm",
      state: "confirm",
      actor: "server",
      to: "person",
      visible: true,
      action:
        "A wrong code, refused details or a failed ceremony: the person tries again or uses another address",
      note: "Attempts are counted like in a reset.",
      recordedBy: ["verification.failed"],
    }),
    step({
      id: "registration.remove",
      phase: "step_up",
      state: "completed",
      actor: "person",
      to: "server",
      visible: true,
      action: "Removes a method (after a fresh step-up); a notice goes to the removed address too",
      note: "Removal is as protected as adding.",
      recordedBy: ["method.removed"],
    }),
  ];
  const claim: Record<string, string> = {
    "step_up>step_up": "registration.step_up",
    "step_up>collect": "registration.collect",
    "step_up>confirm": "registration.confirm",
    "step_up>completed": "registration.remove",
    "collect>collect": "registration.retry",
    "collect>confirm": "registration.confirm",
    "collect>completed": "registration.save",
    "confirm>confirm": "registration.retry",
    "confirm>collect": "registration.retry",
    "confirm>completed": "registration.save",
  };
  return {
    flow: "registration",
    title: "Method registration",
    tenant: ctx.tenant,
    generatedAt: ctx.now,
    audience: aud,
    status: "built",
    statusNote: null,
    facts: [
      { label: "Tenant", value: `${ctx.tenant.name} (${ctx.tenant.slug})` },
      { label: "Methods offered", value: names || "none" },
      {
        label: "Registration required after sign-in",
        value: settings.account.registrationRequired ? "yes" : "no",
      },
    ],
    phases: [
      { id: "step_up", title: "Prove it is you" },
      { id: "collect", title: "Details" },
      { id: "confirm", title: "Confirm" },
    ],
    steps: s,
    branches,
    transitions: Object.entries(claim).map(([k, stepId]) => {
      const [from = "", to = ""] = k.split(">");
      return { from, to, stepId };
    }),
    security: resetSecurity(ctx),
    warnings: [],
  };
}
