/**
 * The forced password change (diagram: change-flow.mmd): the directory said the password expired
 * (532) or must be changed (773) while the person signed in with it. The bind proved the old password,
 * and the agent's `change` operation needs it once more, so the flow holds it sealed (AES-256-GCM
 * under the data key, bound to the flow id) for at most CHANGE_FLOW_LIFETIME_MS; the row, and the
 * sealed value with it, is deleted when the change succeeds and when a step finds it expired.
 * A change by a signed-in person needs no flow row: it is one request with the old password in it.
 */
import type { FlowDefinition } from "../../account/flow-store.js";

export const CHANGE_STATES = ["new_password"] as const;
export type ChangeState = (typeof CHANGE_STATES)[number];

export const CHANGE_FLOW: FlowDefinition<ChangeState> = {
  type: "change",
  states: CHANGE_STATES,
  transitions: { new_password: ["new_password"] },
};

/** Short on purpose: the flow holds the (sealed) old password. */
export const CHANGE_FLOW_LIFETIME_MS = 5 * 60_000;
