/**
 * The registration flow's states: adding a verification method, confirming one that came from the
 * directory, or removing one, signed in to "my account". The diagram beside this file
 * (registration-flow.mmd) is the same machine; a test checks they agree.
 *
 * `step_up` comes first whenever the person already has confirmed methods and has not proven one of
 * them in this session recently: a stolen password alone must not be enough to add an attacker's
 * phone or remove the owner's (no silent takeover). Completion checks it again, so a step-up that
 * went stale while the person dawdled does not count.
 */
export const REGISTRATION_STATES = ["step_up", "collect", "confirm", "completed"] as const;
export type RegistrationState = (typeof REGISTRATION_STATES)[number];

export const REGISTRATION_TRANSITIONS: Record<RegistrationState, readonly RegistrationState[]> = {
  // step_up → step_up: a challenge started or failed. → collect: proven, the new method's details
  // come next. → confirm: proven, and the method needs no details (authenticator app, a directory
  // contact). → completed: proven, and the step was a removal.
  step_up: ["step_up", "collect", "confirm", "completed"],
  // collect → collect: the details were refused. → confirm: a code was sent / the passkey ceremony
  // is ready. → completed: security questions (nothing to confirm).
  collect: ["collect", "confirm", "completed"],
  // confirm → confirm: a wrong code or a failed ceremony. → collect: "use another address".
  confirm: ["confirm", "collect", "completed"],
  completed: [],
};

export function canTransition(from: RegistrationState, to: RegistrationState): boolean {
  return REGISTRATION_TRANSITIONS[from].includes(to);
}

export function isRegistrationState(s: string): s is RegistrationState {
  return (REGISTRATION_STATES as readonly string[]).includes(s);
}
