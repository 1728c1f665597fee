/**
 * The step model every explanation is made of. A flow's steps are produced from the definitions the
 * flow runs on (its states and transitions, eligibility checks, methods, password setters, the
 * tenant's settings), never from a separate hand-kept list, and each renderer (text, Markdown,
 * JSON, Mermaid, SVG, PPTX) and the recorded timeline use the same step ids.
 */
import type { MethodType } from "../config/tenant-settings.js";

export const ACTORS = ["person", "browser", "server", "store", "provider", "agent", "directory"] as const;
export type Actor = (typeof ACTORS)[number];

export const ACTOR_LABELS: Record<Actor, string> = {
  person: "Person",
  browser: "Browser",
  server: "Latchkey server",
  store: "Store",
  provider: "Mail/SMS provider",
  agent: "Agent",
  directory: "Directory",
};

export const FLOW_NAMES = ["reset", "unlock", "change", "registration"] as const;
export type FlowName = (typeof FLOW_NAMES)[number];

/**
 * When a step happens only sometimes. `runtime` conditions depend on what the person does in this
 * flow (which method they pick, a refused candidate); the others were resolved from the
 * configuration and the audience, and are kept so the reader sees why the step is there.
 */
export interface Condition {
  id: string;
  text: string;
  runtime: boolean;
}

export interface Step {
  /** Stable id; the timeline of a real flow uses the same ids. */
  id: string;
  phase: string;
  /** The flow state this step runs in (null: before the flow exists or outside the state machine). */
  state: string | null;
  actor: Actor;
  /** For sequence diagrams: who the step addresses (null: the actor works alone). */
  to: Actor | null;
  /** What is done, in one line. */
  action: string;
  /** Whether the person sees this step (a page, a message); false: in the background. */
  visible: boolean;
  conditions: Condition[];
  /** The step in plain words, for speaker notes and the Markdown list. */
  note: string;
  /** Where the step leaves a trace (audit events, table rows) for the timeline. */
  recordedBy: string[];
}

export interface Phase {
  id: string;
  title: string;
}

export interface Audience {
  userKind: "cloud" | "synced";
  admin: boolean;
}

export interface Explanation {
  flow: FlowName;
  title: string;
  tenant: { name: string; slug: string };
  generatedAt: number;
  audience: Audience;
  /** "built": the flow runs as described; "partial"/"not_built": what exists is described, and says so. */
  status: "built" | "partial" | "not_built";
  statusNote: string | null;
  /** The configuration this explanation was made for, as label/value pairs. */
  facts: { label: string; value: string }[];
  phases: Phase[];
  /** The main path, in order. */
  steps: Step[];
  /** What happens off the main path (refusals, lockouts, expiry, contact the administrator). */
  branches: Step[];
  /** The transitions of the flow's state machine each step or branch covers ("from>to"). */
  transitions: { from: string; to: string; stepId: string }[];
  security: SecurityProperties;
  /** Things in this configuration that stop the flow from working as described. */
  warnings: string[];
}

export interface SecurityProperties {
  sealed: string[];
  neverStored: string[];
  throttles: string[];
}

/** The main path's steps the person sees and those in the background. */
export function counts(e: Explanation): { visible: number; background: number } {
  const visible = e.steps.filter((s) => s.visible).length;
  return { visible, background: e.steps.length - visible };
}

/** "Reset, for a synced account under this policy: 6 steps for the person, 15 in the background". */
export function summaryLine(e: Explanation): string {
  const c = counts(e);
  const who = `${e.audience.admin ? "an administrator's " : "a "}${e.audience.userKind} account`;
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
  return `${e.title}, for ${who} under this policy: ${plural(c.visible, "step")} for the person, ${c.background} in the background`;
}

/** Plain names of the methods, for sentences. */
export const METHOD_LABELS: Record<MethodType, string> = {
  email: "email code",
  sms: "text message (SMS) code",
  voice: "voice call code",
  totp: "authenticator app code",
  questions: "security questions",
  passkey: "passkey",
};
