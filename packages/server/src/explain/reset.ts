/**
 * The reset flow (and its "unlock only" path) explained from the definitions it runs on: the state
 * machine (flows/reset/states.ts), the eligibility checks and gate rules (eligibility.ts: the very
 * checkEligibility, gatesFor and methodsAllowedFor the flow calls), the tenant's methods, disclosure
 * mode, throttles and notifications, and which password setter serves the audience (the cloud
 * setter's own `serves`; for synced accounts the directories and their agents online).
 *
 * The sentences are written here, but every one is keyed by something the flow defines (a state, a
 * check id, a method type), so a new state, check or method without a sentence fails the type check
 * or the coverage test (explain.coverage.test.ts).
 */

import type { MethodType } from "../config/tenant-settings.js";
import { CloudPasswordSetter } from "../flows/reset/cloud-password-setter.js";
import {
  checkEligibility,
  type EligibilityCheckId,
  gatesFor,
  methodsAllowedFor,
} from "../flows/reset/eligibility.js";
import type { User } from "../store/schema.js";
import type { ExplainContext } from "./context.js";
import {
  type Audience,
  type Condition,
  type Explanation,
  METHOD_LABELS,
  type Phase,
  type SecurityProperties,
  type Step,
} from "./model.js";

/** The step ids the reset flow's explanation and its timeline share. */
export const RESET_STEP = {
  open: "reset.open",
  startThrottle: "reset.start.throttle",
  startFlow: "reset.start.flow",
  identifyEnter: "reset.identify.enter",
  identifyCaptcha: "reset.identify.captcha",
  identifyLookup: "reset.identify.lookup",
  check: (id: string) => `reset.identify.check.${id}`,
  offer: "reset.verify.offer",
  gate: (g: number, part: GatePart) => `reset.verify.gate${g}.${part}`,
  passwordEnter: "reset.password.enter",
  passwordPolicy: "reset.password.policy",
  passwordSeal: "reset.password.seal",
  passwordAgent: "reset.password.agent",
  passwordDirectory: "reset.password.directory",
  passwordResult: "reset.password.result",
  passwordHash: "reset.password.hash",
  completeClose: "reset.complete.close",
  completeSessions: "reset.complete.sessions",
  completeNotice: "reset.complete.notice",
  completeAdminNotice: "reset.complete.admin_notice",
  completeDeliver: "reset.complete.deliver",
  done: "reset.done",
  // branches
  blockedIneligible: "reset.blocked.ineligible",
  blockedContact: "reset.blocked.contact",
  blockedThrottled: "reset.blocked.throttled",
  passwordRefused: "reset.password.refused",
  passwordPending: "reset.password.pending",
  pendingApplied: "reset.pending.applied",
  pendingFailed: "reset.pending.failed",
  expired: "reset.expired",
  unlockOnly: "reset.unlock_only",
  // the unlock path
  unlockChoose: "unlock.choose",
  unlockAgent: "unlock.agent",
  unlockDirectory: "unlock.directory",
  unlockResult: "unlock.result",
  unlockClear: "unlock.clear",
  unlockClose: "unlock.close",
  unlockDone: "unlock.done",
} as const;

export const GATE_PARTS = ["choose", "challenge", "queue", "deliver", "answer", "count", "check"] as const;
export type GatePart = (typeof GATE_PARTS)[number];

/** What each method does at each point of a gate. Keyed by every method type the settings know. */
export const METHOD_TEXT: Record<
  MethodType,
  { sends: "email" | "sms" | "voice" | null; challenge: string; answer: string; check: string }
> = {
  email: {
    sends: "email",
    challenge: "draws a one-time code and stores only its HMAC",
    answer: "types the code from the email",
    check: "compares the code's HMAC in constant time",
  },
  sms: {
    sends: "sms",
    challenge: "draws a one-time code and stores only its HMAC",
    answer: "types the code from the text message",
    check: "compares the code's HMAC in constant time",
  },
  voice: {
    sends: "voice",
    challenge: "draws a one-time code and stores only its HMAC",
    answer: "types the code read out by the call",
    check: "compares the code's HMAC in constant time",
  },
  totp: {
    sends: null,
    challenge: "records a challenge (nothing is sent: the app makes the code)",
    answer: "types the code the authenticator app shows",
    check: "checks the code against the sealed TOTP secret, each code accepted once",
  },
  questions: {
    sends: null,
    challenge: "picks which of the registered questions to ask",
    answer: "answers the security questions",
    check: "verifies the answers against their argon2id hashes",
  },
  passkey: {
    sends: null,
    challenge: "issues a WebAuthn challenge",
    answer: "confirms with their passkey (device unlock)",
    check: "verifies the signed assertion against the registered public key",
  },
};

/** Each eligibility check in words: what is checked, for this configuration. */
const CHECK_TEXT: Record<EligibilityCheckId, (ctx: ExplainContext, aud: Audience) => string> = {
  reset_enabled: (c) =>
    `Checks that self-service reset is on for the tenant (now: ${c.settings.reset.enabled ? "on" : "off"})`,
  account_exists: () => "Checks that exactly one live account matches (unknown names go on as a phantom)",
  account_enabled: (_c, a) =>
    `Checks that the account is enabled${a.userKind === "synced" ? " in its directory (as last synced)" : ""}`,
  in_scope: (c) =>
    c.settings.reset.scope === "all"
      ? "Checks the self-service scope (everybody is in scope)"
      : c.settings.reset.scope === "group"
        ? `Checks that the account is in the scope group${c.settings.reset.scopeGroup ? ` '${c.settings.reset.scopeGroup}'` : ""}`
        : "Checks the self-service scope (scope is 'none': nobody passes)",
  not_throttled: () => "Checks that no self-service lockout is in force for the account",
  enough_methods: (c, a) => {
    const gates = gatesFor(c.settings, sampleUser(a));
    return `Checks that the account has at least ${gates} registered method${gates === 1 ? "" : "s"} the policy allows`;
  },
  writeback_available: (c, a) =>
    a.userKind === "cloud"
      ? "Checks that the password can be set (a cloud account: Latchkey holds it)"
      : `Checks that an agent serving the account's directory is online${onlineSummary(c)}`,
};

function onlineSummary(c: ExplainContext): string {
  if (c.directories.length === 0) return " (no directory is configured)";
  return ` (now: ${c.directories.map((d) => `${d.id} ${d.agentsOnline} online`).join(", ")})`;
}

/** A user row with only what the gate rules and setters look at. */
export function sampleUser(a: Audience): User {
  return {
    id: "explain",
    tenant_id: "explain",
    kind: a.userKind,
    username: "explain",
    upn: null,
    email: null,
    display_name: null,
    given_name: null,
    surname: null,
    mobile: null,
    office_phone: null,
    enabled: 1,
    locked: 0,
    is_admin: a.admin ? 1 : 0,
    in_scope: 1,
    source_anchor: a.userKind === "synced" ? "explain" : null,
    directory_id: a.userKind === "synced" ? "explain" : null,
    password_hash: null,
    password_changed_at: null,
    created_at: 0,
    updated_at: 0,
  };
}

const cond = (id: string, text: string, runtime = false): Condition => ({ id, text, runtime });
const list = (xs: string[]) =>
  xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} or ${xs[xs.length - 1]}`;

interface Builder {
  steps: Step[];
  branches: Step[];
  transitions: Explanation["transitions"];
}

function add(
  into: Step[],
  s: Omit<Step, "conditions" | "recordedBy" | "note"> & {
    conditions?: Condition[];
    recordedBy?: string[];
    note: string;
  },
): Step {
  const step: Step = { conditions: [], recordedBy: [], ...s };
  into.push(step);
  return step;
}

/** The dialect-specific words for what the agent does in the directory. */
function directoryWrite(ctx: ExplainContext): string {
  const dialects = new Set(ctx.directories.flatMap((d) => d.dialects));
  const ad = "Active Directory: replaces unicodePwd with the policy-hints control, so history applies";
  const ol = "OpenLDAP: the Password Modify operation, under ppolicy";
  if (dialects.size === 0) return `${ad}; ${ol}`;
  return [...(dialects.has("ad") ? [ad] : []), ...(dialects.has("openldap") ? [ol] : [])].join("; ");
}

/** The policy's rules in one sentence, from the tenant's values. */
function policySentence(ctx: ExplainContext, aud: Audience): string {
  const p = ctx.settings.password;
  const rules = [
    `${p.minLength}–${p.maxLength} characters`,
    ...(p.requireClasses > 0 ? [`${p.requireClasses} character classes`] : []),
    ...(p.bannedWords.enabled
      ? [
          `no banned words${p.bannedWords.custom.length > 0 ? ` (${p.bannedWords.custom.length} of the organisation's own)` : ""}, after normalisation and fuzzy matching`,
        ]
      : []),
    ...(p.breached.offline || p.breached.hibp
      ? [
          `not a breached password (${[p.breached.offline ? "offline filter" : "", p.breached.hibp ? "HIBP range API" : ""].filter(Boolean).join(" and ")})`,
        ]
      : []),
    `strength at least ${p.minStrength} of 4`,
    "not the person's own names",
    ...(aud.userKind === "cloud" && p.history > 0 ? [`not one of the last ${p.history}`] : []),
  ];
  return rules.join("; ");
}

export function resetSecurity(ctx: ExplainContext): SecurityProperties {
  const t = ctx.settings.throttles;
  const r = ctx.settings.reset;
  return {
    sealed: [
      "New passwords of synced accounts: sealed (HPKE, RFC 9180) to the chosen agent's key, bound to the operation id and the account; the sealed copy is deleted as soon as the agent answers",
      "Queued messages (they can hold a code): AES-256-GCM under the data key, wiped once delivered",
      "Authenticator (TOTP) secrets: AES-256-GCM under the data key",
    ],
    neverStored: [
      "Verification codes: only their HMAC-SHA256 is stored",
      "Passwords in clear: cloud accounts keep an argon2id hash, synced accounts nothing at all",
      "Security answers in clear: argon2id hashes only",
      "What was typed as the user name: only an HMAC tag (someone may type their password there)",
      "Passwords, codes and answers in logs, errors or audit records",
    ],
    throttles: [
      `${t.perIpPerMinute} flow starts per client address per minute`,
      `${t.verifyAttemptsPerMethodPerHour} wrong answers per method per hour lock self-service for ${t.lockoutMinutes} minutes`,
      `${t.failedIdentityProofsPer24h} failed identity proofs in 24 hours lock it for ${t.lockoutMinutes} minutes`,
      `${t.emailsPer10Minutes} emailed codes per 10 minutes`,
      `A flow lives ${r.flowLifetimeMinutes} minutes; a code ${r.codeLifetimeMinutes} minutes`,
      `Administrator help requests: ${ctx.settings.notifications.contactAdminPerUserPerDay} per person per day, ${ctx.settings.notifications.contactAdminPerTenantPerHour} per tenant per hour`,
    ],
  };
}

/** The reset flow's main path for this audience, up to (and including) the last gate. */
function gatesAndBefore(
  b: Builder,
  ctx: ExplainContext,
  aud: Audience,
): { allowed: MethodType[]; gates: number } {
  const s = ctx.settings;
  const user = sampleUser(aud);
  const gates = gatesFor(s, user);
  const allowed = methodsAllowedFor(s, user, ctx.implemented);
  const strict = s.reset.disclosure === "strict";
  const st = b.steps;

  add(st, {
    id: RESET_STEP.open,
    phase: "start",
    state: null,
    actor: "person",
    to: "browser",
    action: "Opens the reset page",
    visible: true,
    note: "The person who forgot their password opens the organisation's reset page.",
    recordedBy: ["reset_flow.created"],
  });
  add(st, {
    id: RESET_STEP.startThrottle,
    phase: "start",
    state: null,
    actor: "server",
    to: "store",
    action: `Counts flow starts from the client's address (at most ${s.throttles.perIpPerMinute} a minute)`,
    visible: false,
    note: "Latchkey counts how many resets this address started in the last minute, in the store, so the limit holds across server instances.",
    recordedBy: ["reset_flow.created"],
  });
  add(st, {
    id: RESET_STEP.startFlow,
    phase: "start",
    state: "identify",
    actor: "server",
    to: "store",
    action: `Creates the flow (state identify, expires in ${s.reset.flowLifetimeMinutes} min), bound to a cookie in this browser`,
    visible: false,
    note: "A flow object is written to the store with its own expiry. A cookie ties it to this browser, so a link copied elsewhere is useless.",
    recordedBy: ["reset_flow.created"],
  });
  add(st, {
    id: RESET_STEP.identifyEnter,
    phase: "identify",
    state: "identify",
    actor: "person",
    to: "server",
    action: `Types their ${list(s.reset.identifyBy.map((i) => (i === "username" ? "user name" : i === "upn" ? "sign-in name (UPN)" : "email address")))}; the browser solves a proof-of-work captcha`,
    visible: true,
    note: "The person types who they are. While they type, their browser solves a small proof-of-work puzzle, which makes scripted guessing expensive without a picture puzzle.",
    recordedBy: ["reset_flow.identified"],
  });
  add(st, {
    id: RESET_STEP.identifyCaptcha,
    phase: "identify",
    state: "identify",
    actor: "server",
    to: null,
    action: "Verifies the captcha (each solution is accepted once)",
    visible: false,
    note: "The server checks the puzzle's solution and remembers it, so it cannot be replayed.",
    recordedBy: ["reset_flow.identified"],
  });
  add(st, {
    id: RESET_STEP.identifyLookup,
    phase: "identify",
    state: "identify",
    actor: "server",
    to: "store",
    action: "Looks the account up; keeps only an HMAC tag of what was typed",
    visible: false,
    note: "The account is found by the name typed. What was typed is kept only as a keyed hash, in case someone typed their password into the name field. An unknown name does the same work as a known one, so the timing tells nothing.",
    recordedBy: ["reset_flow.identified"],
  });
  // The checks, in the order the flow runs them, from the flow's own function.
  const checks = checkEligibility({
    settings: s,
    user,
    registered: allowed,
    implemented: ctx.implemented,
    lockedUntil: null,
    now: ctx.now,
    canSetPassword: true,
  }).checks;
  for (const c of checks) {
    add(st, {
      id: RESET_STEP.check(c.id),
      phase: "identify",
      state: "identify",
      actor: "server",
      to: c.id === "writeback_available" && aud.userKind === "synced" ? "agent" : null,
      action: CHECK_TEXT[c.id](ctx, aud),
      visible: false,
      conditions:
        c.id === "writeback_available" && aud.userKind === "synced"
          ? [cond("synced", "only for synced accounts")]
          : [],
      note: `Eligibility check "${c.id}". If it fails, the audit record says "${c.reason}" and the fix is: ${c.fix}`,
      recordedBy: ["reset_flow.identified"],
    });
  }
  add(st, {
    id: RESET_STEP.offer,
    phase: "identify",
    state: "verify",
    actor: "server",
    to: "person",
    action: strict
      ? `Shows the tenant's methods (${list(allowed.map((m) => METHOD_LABELS[m]))}), the same page whoever was typed`
      : `Shows the account's registered methods, masked (e.g. j•••@c•••.com), among ${list(allowed.map((m) => METHOD_LABELS[m]))}`,
    visible: true,
    conditions: [
      cond(
        `disclosure_${s.reset.disclosure}`,
        strict ? "strict disclosure: nothing about the account is shown" : "guided disclosure",
      ),
    ],
    note: strict
      ? "In strict mode the page is identical for an unknown name, an ineligible account and an eligible one. For a code the person types their full address or number, and the code is sent only if it matches."
      : "In guided mode the person sees which of their methods they can use, masked so a stranger learns little.",
    recordedBy: ["reset_flow.identified"],
  });

  const senders = allowed.filter((m) => METHOD_TEXT[m].sends !== null);
  const adminNote = aud.admin
    ? " Administrators always need two gates and may not use security questions."
    : "";
  for (let g = 1; g <= gates; g++) {
    const last = g === gates;
    const phase = `gate${g}`;
    add(st, {
      id: RESET_STEP.gate(g, "choose"),
      phase,
      state: "verify",
      actor: "person",
      to: "server",
      action: `Picks ${g > 1 ? "another" : "a"} method: ${list(allowed.map((m) => METHOD_LABELS[m]))}${strict && senders.length > 0 ? " (typing the full address or number for a code)" : ""}`,
      visible: true,
      note: `Gate ${g} of ${gates}. The person chooses how to prove who they are${g > 1 ? ", with a different method than before" : ""}.${adminNote}`,
      recordedBy: ["challenges", "verification.sent"],
    });
    add(st, {
      id: RESET_STEP.gate(g, "challenge"),
      phase,
      state: "verify",
      actor: "server",
      to: "store",
      action: `Starts the challenge: ${list([...new Set(allowed.map((m) => METHOD_TEXT[m].challenge))])}${senders.length > 0 ? ` (codes: ${s.reset.codeDigits} digits, valid ${s.reset.codeLifetimeMinutes} min)` : ""}`,
      visible: false,
      note: "A challenge row is written for this flow. A code, where the method has one, exists in clear only in memory and in the sealed message; the store keeps its keyed hash.",
      recordedBy: ["challenges"],
    });
    if (senders.length > 0) {
      const sendsText = `only when the method chosen sends a code (${list(senders.map((m) => METHOD_LABELS[m]))})`;
      add(st, {
        id: RESET_STEP.gate(g, "queue"),
        phase,
        state: "verify",
        actor: "server",
        to: "store",
        action: `Seals the message (AES-256-GCM) and queues it in the outbox${senders.includes("email") ? ` (at most ${s.throttles.emailsPer10Minutes} emails per 10 minutes)` : ""}`,
        visible: false,
        conditions: [cond("method_sends", sendsText, true)],
        note: "The message with the code is sealed and queued rather than sent inline, so a slow provider never shows in the page's timing.",
        recordedBy: ["notification.queued"],
      });
      add(st, {
        id: RESET_STEP.gate(g, "deliver"),
        phase,
        state: "verify",
        actor: "server",
        to: "provider",
        action: `The outbox worker hands the message to the ${list(senders.map((m) => (m === "email" ? "mail server" : m === "sms" ? "SMS provider" : "voice provider")))}, then wipes it`,
        visible: false,
        conditions: [cond("method_sends", sendsText, true)],
        note: "A background worker delivers the message, retrying with back-off if the provider fails, and wipes the sealed copy once it is delivered.",
        recordedBy: ["notification.sent"],
      });
    }
    add(st, {
      id: RESET_STEP.gate(g, "answer"),
      phase,
      state: "verify",
      actor: "person",
      to: "server",
      action: `Answers: ${list(allowed.map((m) => METHOD_TEXT[m].answer))}`,
      visible: true,
      note: "The person proves they hold the method.",
      recordedBy: ["verification.passed", "verification.failed"],
    });
    add(st, {
      id: RESET_STEP.gate(g, "count"),
      phase,
      state: "verify",
      actor: "server",
      to: "store",
      action: `Counts the attempt before checking it (${s.throttles.verifyAttemptsPerMethodPerHour} per method per hour)`,
      visible: false,
      note: `Attempts are counted first, atomically, so parallel guesses cannot outrun the limit. ${s.throttles.verifyAttemptsPerMethodPerHour} wrong answers on one method, or ${s.throttles.failedIdentityProofsPer24h} failed proofs in a day, lock self-service for ${s.throttles.lockoutMinutes} minutes.`,
      recordedBy: ["verification.passed", "verification.failed"],
    });
    const check = add(st, {
      id: RESET_STEP.gate(g, "check"),
      phase,
      state: "verify",
      actor: "server",
      to: null,
      action: `Checks the answer (${list([...new Set(allowed.map((m) => METHOD_TEXT[m].check))])}); gate ${g} passed${last ? "" : ", another is needed"}`,
      visible: false,
      note: last
        ? "The last gate is passed: the flow moves on to the new password."
        : "The gate is passed; the same method cannot count twice.",
      recordedBy: ["verification.passed"],
    });
    b.transitions.push({ from: "verify", to: last ? "new_password" : "verify", stepId: check.id });
  }
  b.transitions.push({ from: "identify", to: "verify", stepId: RESET_STEP.offer });
  return { allowed, gates };
}

function branchesOf(b: Builder, ctx: ExplainContext, aud: Audience): void {
  const s = ctx.settings;
  const br = b.branches;
  const strict = s.reset.disclosure === "strict";
  const push = (from: string, to: string, id: string) => b.transitions.push({ from, to, stepId: id });
  add(br, {
    id: RESET_STEP.blockedIneligible,
    phase: "identify",
    state: "blocked",
    actor: "server",
    to: "person",
    action: strict
      ? "Strict disclosure: an ineligible account walks on as a phantom (it can never pass a gate); a lockout still shows"
      : 'An ineligible account sees "contact your administrator" (with the helpdesk link)',
    visible: true,
    note: "When a check fails the person is not told which one, so the page reveals nothing about the account.",
    recordedBy: ["reset_flow.blocked"],
  });
  push("identify", "blocked", RESET_STEP.blockedIneligible);
  add(br, {
    id: RESET_STEP.blockedContact,
    phase: "identify",
    state: "blocked",
    actor: "person",
    to: "server",
    action: `Asks for help: the administrators are emailed (${s.notifications.contactAdminPerUserPerDay} per person per day, ${s.notifications.contactAdminPerTenantPerHour} per tenant per hour)`,
    visible: true,
    note: "From the blocked page the person can ask for help; the tenant's administrators get an email, rate-limited so it cannot be used to flood them.",
    recordedBy: ["admin_contact.requested"],
  });
  add(br, {
    id: RESET_STEP.blockedThrottled,
    phase: "verify",
    state: "blocked",
    actor: "server",
    to: "person",
    action: `Too many attempts: self-service is locked for ${s.throttles.lockoutMinutes} minutes and the page says until when`,
    visible: true,
    note: "A lockout holds for every new flow of that account too, whichever method is tried.",
    recordedBy: ["throttle.locked"],
  });
  push("verify", "blocked", RESET_STEP.blockedThrottled);
  push("new_password", "blocked", RESET_STEP.blockedThrottled);
  add(br, {
    id: RESET_STEP.passwordRefused,
    phase: "password",
    state: "new_password",
    actor: "server",
    to: "person",
    action:
      aud.userKind === "synced"
        ? "The policy or the directory refuses the candidate: the person sees which rule, in plain words, and tries again"
        : "The policy refuses the candidate: the person sees which rule and tries again",
    visible: true,
    note: "Only rule ids are recorded, never the password.",
    recordedBy: ["password.rejected"],
  });
  push("new_password", "new_password", RESET_STEP.passwordRefused);
  add(br, {
    id: RESET_STEP.passwordPending,
    phase: "password",
    state: "pending",
    actor: "server",
    to: "person",
    action:
      "The directory answers later than the person's wait: they are told the result will come by email; the operation goes on",
    visible: true,
    conditions: [cond("synced", "only for synced accounts")],
    note: "If the agent or directory is slow, the person is not left waiting: the operation keeps running and they are emailed its final result.",
    recordedBy: ["writeback.pending"],
  });
  push("new_password", "pending", RESET_STEP.passwordPending);
  add(br, {
    id: RESET_STEP.pendingApplied,
    phase: "password",
    state: "completed",
    actor: "agent",
    to: "server",
    action: "The pending operation applies: the completion steps run then, once",
    visible: false,
    conditions: [cond("synced", "only for synced accounts")],
    note: "When the late answer arrives, sessions are revoked and the notice is sent exactly as on the main path.",
    recordedBy: ["writeback.applied", "reset_flow.completed"],
  });
  push("pending", "completed", RESET_STEP.pendingApplied);
  push("pending", "unlocked", RESET_STEP.pendingApplied);
  add(br, {
    id: RESET_STEP.pendingFailed,
    phase: "password",
    state: "failed",
    actor: "server",
    to: "person",
    action: "The pending operation finally fails: the person is emailed why, in plain words",
    visible: true,
    conditions: [cond("synced", "only for synced accounts")],
    note: "The email gives the directory's reason as a sentence the person can act on, never a raw directory code.",
    recordedBy: ["writeback.failed", "writeback.refused", "reset_flow.failed"],
  });
  push("pending", "failed", RESET_STEP.pendingFailed);
  add(br, {
    id: RESET_STEP.unlockOnly,
    phase: "password",
    state: "unlocked",
    actor: "person",
    to: "server",
    action: s.reset.unlock.allow
      ? 'A locked account may choose "unlock only, keep my password" instead (see: latchkey explain unlock)'
      : '"Unlock only" is switched off for this tenant (reset.unlock.allow)',
    visible: true,
    conditions: [cond("locked", "only when the account is locked", true)],
    note: "Someone who only locked themselves out can keep their password: the same gates, then an unlock.",
    recordedBy: ["account.unlocked"],
  });
  push("new_password", "unlocked", RESET_STEP.unlockOnly);
  add(br, {
    id: RESET_STEP.expired,
    phase: "start",
    state: null,
    actor: "server",
    to: "person",
    action: `A step after ${s.reset.flowLifetimeMinutes} minutes finds the flow expired; the person starts again`,
    visible: true,
    note: "Every step loads the flow through one function that checks its expiry, its cookie and its state.",
    recordedBy: ["reset_flow.expired"],
  });
}

function warningsOf(ctx: ExplainContext, aud: Audience, allowed: MethodType[], gates: number): string[] {
  const w: string[] = [];
  const s = ctx.settings;
  if (!s.reset.enabled) w.push("Self-service reset is switched off (reset.enabled): nobody can reset.");
  if (s.reset.scope === "none") w.push("reset.scope is 'none': nobody is in scope.");
  if (allowed.length < gates)
    w.push(
      `${gates} gate(s) are needed but only ${allowed.length} method(s) are allowed (${allowed.join(", ") || "none"}): nobody of this kind can pass.`,
    );
  for (const m of s.reset.methods)
    if (!ctx.implemented.includes(m)) w.push(`Method '${m}' is enabled but not implemented by this server.`);
  for (const ch of ["email", "sms", "voice"] as const)
    if (allowed.includes(ch) && !ctx.channels[ch])
      w.push(
        `Method '${ch}' is enabled but no ${ch === "email" ? "SMTP server" : `${ch} provider`} is configured: its codes cannot be delivered.`,
      );
  if (aud.userKind === "synced") {
    if (ctx.directories.length === 0)
      w.push("No directory is configured or announced: synced accounts cannot reset.");
    for (const d of ctx.directories)
      if (d.agentsOnline === 0)
        w.push(
          `No agent is online for directory '${d.id}': its users get "contact your administrator" (writeback_available).`,
        );
  }
  return w;
}

function facts(
  ctx: ExplainContext,
  aud: Audience,
  allowed: MethodType[],
  gates: number,
): Explanation["facts"] {
  const s = ctx.settings;
  // The flow's own setter decides which path serves the account; `serves` reads only the user row
  // (the store and clock it is built with are never touched here).
  const cloud = new CloudPasswordSetter(undefined as never, undefined as never);
  const user = sampleUser(aud);
  return [
    { label: "Tenant", value: `${ctx.tenant.name} (${ctx.tenant.slug})` },
    { label: "Account", value: `${aud.userKind}${aud.admin ? ", administrator" : ""}` },
    { label: "Gates", value: `${gates}${aud.admin ? " (administrators always 2)" : ""}` },
    { label: "Methods", value: allowed.map((m) => METHOD_LABELS[m]).join(", ") || "none" },
    { label: "Disclosure", value: s.reset.disclosure },
    {
      label: "Scope",
      value: s.reset.scope === "group" ? `group ${s.reset.scopeGroup ?? "(unnamed)"}` : s.reset.scope,
    },
    {
      label: "Password set by",
      value: cloud.serves(user)
        ? "Latchkey (argon2id hash in the store)"
        : `an agent in the directory (${ctx.directories.map((d) => `${d.id}: ${d.agentsOnline} of ${d.agentsEnrolled} agent(s) online`).join("; ") || "no directory"})`,
    },
    {
      label: "Notifications",
      value: `reset notice to the account's email${aud.admin && s.reset.notifyAdminsOnAdminReset ? "; other administrators alerted" : ""}${s.notifications.adminEmails.length > 0 ? `; ${s.notifications.adminEmails.length} admin address(es) for help requests` : ""}`,
    },
  ];
}

const PHASES: Phase[] = [
  { id: "start", title: "Start" },
  { id: "identify", title: "Who are you?" },
  { id: "gate1", title: "First proof" },
  { id: "gate2", title: "Second proof" },
  { id: "password", title: "New password" },
  { id: "unlock", title: "Unlock" },
  { id: "complete", title: "Done" },
];

export function explainReset(ctx: ExplainContext, aud: Audience): Explanation {
  const b: Builder = { steps: [], branches: [], transitions: [] };
  const s = ctx.settings;
  const { allowed, gates } = gatesAndBefore(b, ctx, aud);
  const st = b.steps;
  const synced = aud.userKind === "synced";
  add(st, {
    id: RESET_STEP.passwordEnter,
    phase: "password",
    state: "new_password",
    actor: "person",
    to: "server",
    action: "Types the new password twice and sees the rules met as they type",
    visible: true,
    note: "The page checks each rule live, so the person knows before submitting.",
    recordedBy: synced ? ["writeback_operations"] : ["password.reset"],
  });
  add(st, {
    id: RESET_STEP.passwordPolicy,
    phase: "password",
    state: "new_password",
    actor: "server",
    to: null,
    action: `Checks the password policy: ${policySentence(ctx, aud)}`,
    visible: false,
    note: `The same rules the page showed are checked again on the server.${synced ? " The directory then applies its own policy too." : ""}`,
    recordedBy: synced ? ["writeback_operations"] : ["password.reset"],
  });
  const unlockWords = s.reset.unlock.alsoOnReset ? " and clears a lockout" : "";
  if (synced) {
    add(st, {
      id: RESET_STEP.passwordSeal,
      phase: "password",
      state: "new_password",
      actor: "server",
      to: "store",
      action:
        "Seals the new password to an online agent's key (HPKE, bound to the operation and the account) and records the operation",
      visible: false,
      conditions: [cond("synced", "only for synced accounts")],
      note: "The new password is encrypted so only that one agent can open it, and only for this operation. The store holds the sealed copy only while the agent has it.",
      recordedBy: ["writeback_operations"],
    });
    add(st, {
      id: RESET_STEP.passwordAgent,
      phase: "password",
      state: "new_password",
      actor: "server",
      to: "agent",
      action:
        "Sends the operation over the agent's outbound link; the agent opens the seal and finds the account",
      visible: false,
      conditions: [cond("synced", "only for synced accounts")],
      note: "The agent inside the company network keeps an outbound connection to Latchkey, so no firewall port is opened. It decrypts the password in memory and looks up the account by its directory id.",
      recordedBy: ["writeback_operations", "writeback.applied"],
    });
    add(st, {
      id: RESET_STEP.passwordDirectory,
      phase: "password",
      state: "new_password",
      actor: "agent",
      to: "directory",
      action: `Sets the password over LDAPS${unlockWords} (${directoryWrite(ctx)})`,
      visible: false,
      conditions: [cond("synced", "only for synced accounts")],
      note: "The directory itself applies the change, with its own password policy, so everything that signs in against it sees the new password at once.",
      recordedBy: ["writeback.applied"],
    });
    add(st, {
      id: RESET_STEP.passwordResult,
      phase: "password",
      state: "new_password",
      actor: "agent",
      to: "server",
      action: "Answers with a stable result code; the server records it and deletes the sealed copy",
      visible: false,
      conditions: [cond("synced", "only for synced accounts")],
      note: "A refusal comes back as a stable code (for example 'password in history') that the page turns into a plain sentence.",
      recordedBy: ["writeback.applied", "writeback.refused", "writeback.failed"],
    });
  } else {
    add(st, {
      id: RESET_STEP.passwordHash,
      phase: "password",
      state: "new_password",
      actor: "server",
      to: "store",
      action: `Stores an argon2id hash of the new password (the old one moves to the history)${unlockWords}`,
      visible: false,
      conditions: [cond("cloud", "only for cloud accounts")],
      note: "Latchkey holds cloud accounts' passwords itself, as slow salted hashes.",
      recordedBy: ["password.reset"],
    });
  }
  const close = add(st, {
    id: RESET_STEP.completeClose,
    phase: "complete",
    state: "completed",
    actor: "server",
    to: "store",
    action: "Marks the flow completed and clears the account's self-service counters",
    visible: false,
    note: "The flow cannot be used again. As in Entra, the attempt counters start afresh after a successful reset.",
    recordedBy: ["password.reset"],
  });
  b.transitions.push({ from: "new_password", to: "completed", stepId: close.id });
  add(st, {
    id: RESET_STEP.completeSessions,
    phase: "complete",
    state: "completed",
    actor: "server",
    to: "store",
    action: "Signs the account out everywhere (revokes every session)",
    visible: false,
    note: "Whoever might have been signed in with the old password is signed out.",
    recordedBy: ["sessions.revoked"],
  });
  add(st, {
    id: RESET_STEP.completeNotice,
    phase: "complete",
    state: "completed",
    actor: "server",
    to: "store",
    action: "Queues a 'your password was reset' email to the account's addresses",
    visible: false,
    conditions: [cond("has_email", "only when the account has an email address", true)],
    note: "If it was not them, the email tells them to contact the helpdesk now.",
    recordedBy: ["notification.queued"],
  });
  if (aud.admin && s.reset.notifyAdminsOnAdminReset) {
    add(st, {
      id: RESET_STEP.completeAdminNotice,
      phase: "complete",
      state: "completed",
      actor: "server",
      to: "store",
      action: "Queues an alert to the other administrators",
      visible: false,
      conditions: [cond("admin", "only when the user is an administrator")],
      note: "An administrator's reset is sensitive, so the other administrators are told.",
      recordedBy: ["notification.queued"],
    });
  }
  add(st, {
    id: RESET_STEP.done,
    phase: "complete",
    state: "completed",
    actor: "server",
    to: "person",
    action: 'Sees "your password was changed"',
    visible: true,
    note: "The person can sign in with the new password straight away.",
    recordedBy: ["reset_flow.completed"],
  });
  add(st, {
    id: RESET_STEP.completeDeliver,
    phase: "complete",
    state: "completed",
    actor: "server",
    to: "provider",
    action: "The outbox worker hands the notice to the mail server",
    visible: false,
    conditions: [cond("has_email", "only when the account has an email address", true)],
    note: "Delivered in the background; the person's page does not wait for it.",
    recordedBy: ["notification.sent"],
  });
  branchesOf(b, ctx, aud);
  return {
    flow: "reset",
    title: "Reset",
    tenant: ctx.tenant,
    generatedAt: ctx.now,
    audience: aud,
    status: "built",
    statusNote: null,
    facts: facts(ctx, aud, allowed, gates),
    phases: PHASES.filter((p) => b.steps.some((x) => x.phase === p.id)),
    steps: b.steps,
    branches: b.branches,
    transitions: b.transitions,
    security: resetSecurity(ctx),
    warnings: warningsOf(ctx, aud, allowed, gates),
  };
}

/** "Unlock only": the reset flow's gates, then an unlock instead of a new password. */
export function explainUnlock(ctx: ExplainContext, aud: Audience): Explanation {
  const b: Builder = { steps: [], branches: [], transitions: [] };
  const { allowed, gates } = gatesAndBefore(b, ctx, aud);
  const st = b.steps;
  const synced = aud.userKind === "synced";
  add(st, {
    id: RESET_STEP.unlockChoose,
    phase: "unlock",
    state: "new_password",
    actor: "person",
    to: "server",
    action: 'Their account is locked: chooses "unlock only, keep my password"',
    visible: true,
    conditions: [cond("locked", "only when the account is locked", true)],
    note: "Offered only after the same gates as a reset, and only to a locked account, so it reveals nothing to a stranger.",
    recordedBy: ["account.unlocked"],
  });
  if (synced) {
    add(st, {
      id: RESET_STEP.unlockAgent,
      phase: "unlock",
      state: "new_password",
      actor: "server",
      to: "agent",
      action: "Sends an unlock operation over the agent's outbound link (nothing secret in it)",
      visible: false,
      conditions: [cond("synced", "only for synced accounts")],
      note: "An unlock carries no password, so there is nothing to seal.",
      recordedBy: ["writeback_operations"],
    });
    add(st, {
      id: RESET_STEP.unlockDirectory,
      phase: "unlock",
      state: "new_password",
      actor: "agent",
      to: "directory",
      action: "Clears the lockout (Active Directory: lockoutTime 0; OpenLDAP: pwdAccountLockedTime removed)",
      visible: false,
      conditions: [cond("synced", "only for synced accounts")],
      note: "The directory lifts the lockout; the password stays what it was.",
      recordedBy: ["writeback.applied"],
    });
    add(st, {
      id: RESET_STEP.unlockResult,
      phase: "unlock",
      state: "new_password",
      actor: "agent",
      to: "server",
      action: "Answers with a stable result code",
      visible: false,
      conditions: [cond("synced", "only for synced accounts")],
      note: "The server records the result in the audit log.",
      recordedBy: ["writeback.applied", "writeback.refused", "writeback.failed"],
    });
  } else {
    add(st, {
      id: RESET_STEP.unlockClear,
      phase: "unlock",
      state: "new_password",
      actor: "server",
      to: "store",
      action: "Clears the account's lock",
      visible: false,
      conditions: [cond("cloud", "only for cloud accounts")],
      note: "For a cloud account the lock is a flag Latchkey holds.",
      recordedBy: ["account.unlocked"],
    });
  }
  const close = add(st, {
    id: RESET_STEP.unlockClose,
    phase: "unlock",
    state: "unlocked",
    actor: "server",
    to: "store",
    action: "Marks the flow unlocked and records the unlock",
    visible: false,
    note: "The flow ends; the audit log records the unlock.",
    recordedBy: ["account.unlocked"],
  });
  b.transitions.push({ from: "new_password", to: "unlocked", stepId: close.id });
  add(st, {
    id: RESET_STEP.unlockDone,
    phase: "unlock",
    state: "unlocked",
    actor: "server",
    to: "person",
    action: 'Sees "your account is unlocked"; their password is unchanged',
    visible: true,
    note: "The person signs in with the password they already had.",
    recordedBy: ["reset_flow.completed"],
  });
  branchesOf(b, ctx, aud);
  const w = warningsOf(ctx, aud, allowed, gates);
  if (!ctx.settings.reset.unlock.allow)
    w.unshift('"Unlock only" is switched off for this tenant (reset.unlock.allow).');
  return {
    flow: "unlock",
    title: "Unlock",
    tenant: ctx.tenant,
    generatedAt: ctx.now,
    audience: aud,
    status: "built",
    statusNote: null,
    facts: facts(ctx, aud, allowed, gates),
    phases: PHASES.filter((p) => b.steps.some((x) => x.phase === p.id)),
    steps: b.steps,
    branches: b.branches,
    transitions: b.transitions,
    security: resetSecurity(ctx),
    warnings: w,
  };
}
