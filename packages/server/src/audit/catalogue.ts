/**
 * The audit event catalogue: every event Latchkey records, with noun.past_verb names.
 * docs/events.md is generated from this table and a test checks they agree.
 */
export const AUDIT_EVENTS = {
  "reset_flow.created": "A reset flow was started (user name not yet known).",
  "reset_flow.identified": "The person gave a user name and passed the captcha; eligibility was decided.",
  "reset_flow.blocked": "The flow cannot go on: the user is ineligible or throttled (reason code says why).",
  "reset_flow.expired": "A step was attempted on an expired flow.",
  "reset_flow.completed":
    "The flow ended well and closed: the password was set, or (details.outcome 'unlocked') the account was unlocked.",
  "reset_flow.failed":
    "An operation the person was told was still pending finally failed; the flow ended and the person was emailed why.",
  "account.unlocked":
    "A locked account was unlocked through self-service without changing its password (failure: reason is the directory's code).",
  "verification.sent":
    "A verification code was sent (or, for a phantom or a non-matching contact, the same work was done without sending).",
  "verification.failed": "A verification attempt failed.",
  "verification.passed": "A verification gate was passed.",
  "password.rejected": "A proposed new password failed the policy (rule ids in details, never the password).",
  "password.reset": "A user's password was reset through self-service.",
  "password.changed": "A user changed a known password.",
  "sessions.revoked": "All sessions of a user were revoked.",
  "sign_in.succeeded": 'A person signed in to "my account"; a session was opened (details: amr, session id).',
  "sign_in.failed":
    "A sign-in did not open a session: wrong password or unknown name, throttled, captcha, or the directory's answer (reason says which).",
  "sign_in.password_verified":
    "The password was right and the second step (a verification method) was asked for.",
  "session.revoked": "A person signed out one of their sessions, or signed out.",
  "throttle.locked": "A throttle limit was reached and self-service was locked for a time.",
  "admin_contact.requested":
    "A person asked for an administrator's help; admins were notified (rate-limited).",
  "notification.queued": "A notification was queued in the outbox.",
  "notification.sent": "A queued message was delivered to the provider.",
  "notification.failed": "A queued message could not be delivered (will retry or gave up).",
  "tenant.created": "A tenant was created (first start from the configuration, or a seed).",
  "tenant.settings_updated": "An administrator changed tenant settings.",
  "user.created": "A user was created (seed, admin or sync).",
  "method.registered": "A verification method was registered or confirmed.",
  "method.removed": "A verification method was removed.",
  "methods.reviewed":
    'A signed-in person confirmed that their verification methods are still right (the "are these still right?" interrupt).',
  "method.step_up_failed":
    "Adding, changing or removing a verification method was refused: the person had not proven an existing method in this session (or the proof failed).",
  "agent.token_created": "An administrator made a one-time agent enrollment token (never recorded itself).",
  "agent.enrolled": "An agent enrolled with a token and registered its public keys.",
  "agent.enroll_failed": "An enrollment was refused: the token was unknown, used or expired.",
  "agent.connected": "An agent's link authenticated (target: agent id; details: version, directories).",
  "agent.auth_failed":
    "An agent's link failed authentication: unknown agent, revoked agent or bad signature (reason says which).",
  "agent.disconnected": "An agent's authenticated link closed (details: close code).",
  "agent.revoked": "An administrator revoked an agent; its live link is closed and it can no longer connect.",
  "sync.completed":
    "A full sync pass of a directory ended: counts of users stored, removed and refused (no personal data).",
  "sync.deletions_withheld":
    "A full sync pass would have marked more users deleted than the tenant's threshold allows; nobody was marked deleted (details: how many, of how many live).",
  "sync.rejected": "Users of a sync batch were refused (counts by reason; no personal data).",
  "writeback.applied":
    "A password operation (reset, change, unlock, verify-password) was applied by an agent in the directory (details: operation id, kind, agent).",
  "writeback.refused":
    "The directory refused a password operation (reason: the stable directory code; details: the raw diagnostic).",
  "writeback.failed":
    "A password operation failed: the directory or agent failed, no agent was online, or the outcome could not be established (reason says which).",
  "writeback.pending":
    "A password operation outlived the person's wait; it goes on and the person is emailed its final result.",
} as const;

export type AuditEventName = keyof typeof AUDIT_EVENTS;

/** Stable reason codes used in audit records (eligibility and blocking reasons). */
export const REASON_CODES = {
  password_wrong: "The user name or password was wrong (or the name unknown).",
  password_expired: "The directory says the password has expired (a forced change follows).",
  password_must_change:
    "The directory says the password must be changed at next logon (a forced change follows).",
  account_locked: "The account is locked (in its directory, or by an administrator).",
  account_disabled: "The account is disabled.",
  directory_unavailable: "The account's directory could not be asked (no agent online, or no answer).",
  old_password_wrong: "The current password given for a change was wrong.",
  user_not_found: "No account matches the user name.",
  user_disabled: "The account is disabled.",
  user_not_in_scope: "The account is outside the self-service scope.",
  reset_disabled: "Self-service reset is switched off for the tenant.",
  not_enough_methods: "The account has fewer registered methods than the policy requires.",
  throttled: "Self-service is locked for this user after too many attempts.",
  ip_throttled: "Too many requests from this address.",
  deletion_threshold: "A full sync pass would have deleted more users than the tenant's threshold allows.",
  writeback_unavailable: "The account lives in a directory and no writeback is available.",
  code_wrong: "The code was wrong.",
  code_expired: "The code had expired.",
  answer_wrong: "A security answer was wrong.",
  contact_mismatch: "The contact typed does not match a registered one (strict mode).",
  policy_violation: "The password failed one or more policy rules.",
  captcha_failed: "The captcha failed.",
  step_up_required: "An existing verification method must be proven first (adding or changing a method).",
  token_invalid: "The enrollment token is unknown, already used or expired.",
  agent_unknown: "No enrolled agent has that id.",
  agent_revoked: "The agent was revoked by an administrator.",
  signature_invalid: "The agent's signature over the challenge did not verify.",
} as const;

export type ReasonCode = keyof typeof REASON_CODES;
