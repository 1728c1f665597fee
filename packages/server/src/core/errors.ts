/**
 * The server's one error registry. Every error a caller can see has a stable UPPER_SNAKE code,
 * an HTTP status and a message id for the person (translated in the UI, never the exception text).
 * Codes are never reused; docs/errors.md lists them and a test checks both agree.
 */
export interface ErrorDefinition {
  readonly status: number;
  readonly messageId: string;
  readonly description: string;
}

export const ERRORS = {
  CONFIG_INVALID: {
    status: 500,
    messageId: "error.config_invalid",
    description: "The configuration is invalid or insecure.",
  },
  VALIDATION_FAILED: {
    status: 400,
    messageId: "error.validation_failed",
    description: "The request did not pass input validation.",
  },
  NOT_FOUND: { status: 404, messageId: "error.not_found", description: "No such resource." },
  FLOW_NOT_FOUND: {
    status: 404,
    messageId: "error.flow_not_found",
    description: "The flow does not exist or is not bound to this browser.",
  },
  FLOW_EXPIRED: {
    status: 410,
    messageId: "error.flow_expired",
    description: "The flow has expired; start again.",
  },
  FLOW_WRONG_STATE: {
    status: 409,
    messageId: "error.flow_wrong_state",
    description: "The flow is not in a state that allows this step.",
  },
  CSRF_MISMATCH: {
    status: 403,
    messageId: "error.csrf_mismatch",
    description: "The anti-forgery token is missing or wrong.",
  },
  CAPTCHA_FAILED: {
    status: 400,
    messageId: "error.captcha_failed",
    description: "The captcha solution is missing or invalid.",
  },
  THROTTLED: {
    status: 429,
    messageId: "error.throttled",
    description: "Too many attempts; wait until the time given.",
  },
  VERIFICATION_FAILED: {
    status: 400,
    messageId: "error.verification_failed",
    description: "The code or answer was not accepted.",
  },
  METHOD_NOT_AVAILABLE: {
    status: 400,
    messageId: "error.method_not_available",
    description: "That verification method cannot be used here.",
  },
  PASSWORD_REJECTED: {
    status: 400,
    messageId: "error.password_rejected",
    description: "The new password does not satisfy the policy.",
  },
  PASSWORD_SET_FAILED: {
    status: 502,
    messageId: "error.password_set_failed",
    description: "The password could not be set.",
  },
  UNLOCK_FAILED: {
    status: 502,
    messageId: "error.unlock_failed",
    description: "The account could not be unlocked (context messageId: the directory's sentence).",
  },
  STORE_UNAVAILABLE: {
    status: 503,
    messageId: "error.store_unavailable",
    description: "The store cannot be reached.",
  },
  PROVIDER_FAILED: {
    status: 502,
    messageId: "error.provider_failed",
    description: "A message provider (mail, SMS, voice) failed.",
  },
  DEMO_ONLY: {
    status: 404,
    messageId: "error.not_found",
    description: "The route exists only in demo mode.",
  },
  ENROLL_TOKEN_INVALID: {
    status: 401,
    // Only agents see it; the person running `latchkey-agent enroll` reads the CLI's own sentence.
    messageId: "error.verification_failed",
    description: "The agent enrollment token is unknown, already used or expired (one answer for all three).",
  },
  SESSION_REQUIRED: {
    status: 401,
    messageId: "error.session_required",
    description: "Sign in first: the account session is missing, expired or revoked.",
  },
  STEP_UP_REQUIRED: {
    status: 403,
    messageId: "error.step_up_required",
    description: "Confirm one of your existing verification methods first (adding or changing a method).",
  },
  SIGN_IN_FAILED: {
    status: 401,
    messageId: "error.sign_in_failed",
    description: "The user name or password is wrong (the same answer when the user does not exist).",
  },
  ACCOUNT_LOCKED: {
    status: 403,
    messageId: "error.account_locked",
    description: "The account is locked in its directory; unlock it through the reset path.",
  },
  ACCOUNT_DISABLED: {
    status: 403,
    messageId: "error.account_disabled",
    description: "The account is disabled; only an administrator can enable it.",
  },
  OLD_PASSWORD_WRONG: {
    status: 400,
    messageId: "error.old_password_wrong",
    description: "The current password given for a password change is wrong.",
  },
  DIRECTORY_UNAVAILABLE: {
    status: 503,
    messageId: "error.directory_unavailable",
    description: "The account's directory cannot be reached (no agent online, or it did not answer).",
  },
  METRICS_FORBIDDEN: {
    status: 403,
    messageId: "error.metrics_forbidden",
    description:
      "/metrics answered only to loopback clients or with the metrics bearer token (server.metrics.access).",
  },
  INTERNAL: { status: 500, messageId: "error.internal", description: "Unexpected internal error." },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof ERRORS;

export class LatchkeyError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly messageId: string;
  /** Safe-to-show context for the message template (never a secret). */
  readonly context: Record<string, string | number>;

  constructor(code: ErrorCode, detail?: string, context: Record<string, string | number> = {}) {
    super(detail ?? ERRORS[code].description);
    this.name = "LatchkeyError";
    this.code = code;
    this.status = ERRORS[code].status;
    this.messageId = ERRORS[code].messageId;
    this.context = context;
  }
}

export function isLatchkeyError(e: unknown): e is LatchkeyError {
  return e instanceof LatchkeyError;
}
