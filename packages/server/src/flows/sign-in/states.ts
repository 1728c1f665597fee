/**
 * The sign-in flow's states (diagram: sign-in-flow.mmd). A flow row exists only once the password
 * was proven and a second step is needed: the user name and password are checked in one request,
 * and a person without a second factor gets a session at once, so there is nothing to persist.
 * `second_factor`: the person picks one of their methods and answers its challenge (a challenge
 * started or failed stays in this state). On success the row is deleted and a session opened.
 */
import type { FlowDefinition } from "../../account/flow-store.js";

export const SIGN_IN_STATES = ["second_factor"] as const;
export type SignInState = (typeof SIGN_IN_STATES)[number];

export const SIGN_IN_FLOW: FlowDefinition<SignInState> = {
  type: "sign-in",
  states: SIGN_IN_STATES,
  transitions: { second_factor: ["second_factor"] },
};

/** How long the second step may take. */
export const SIGN_IN_FLOW_LIFETIME_MS = 10 * 60_000;
