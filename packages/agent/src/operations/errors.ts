/**
 * What a directory said, as one stable code (DIRECTORY_ERRORS in @latchkey/protocol) and an outcome:
 * "refused" when the directory judged the request (policy, wrong password, locked…: the person can act
 * on it), "failed" when something went wrong on the way (unreachable, timeout, rights, a bug). Pure:
 * every case measured in shared/DIRECTORY-LAB.md is a row of the table test beside this file.
 *
 * The raw diagnostic is kept (whitespace collapsed, trimmed to 300 characters, any secret of the call
 * replaced by "***") for the audit log; it is never shown to the person.
 */
import type { DirectoryErrorCode } from "@latchkey/protocol";

export type FailureOutcome = "refused" | "failed";

export interface MappedError {
  code: DirectoryErrorCode;
  outcome: FailureOutcome;
  diagnostic: string;
}

/** Where the error happened: the service account's connection, a bind as the user, or the operation. */
export type ErrorPhase = "service" | "user-bind" | "operation";

/** ppolicy response control errors (draft-behera-ldap-password-policy §6.2). */
export const PPOLICY_ERRORS = {
  0: "passwordExpired",
  1: "accountLocked",
  2: "changeAfterReset",
  3: "passwordModNotAllowed",
  4: "mustSupplyOldPassword",
  5: "insufficientPasswordQuality",
  6: "passwordTooShort",
  7: "passwordTooYoung",
  8: "passwordInHistory",
  9: "passwordTooLong",
} as const;

const PPOLICY_CODES: Readonly<Record<number, DirectoryErrorCode>> = {
  0: "PASSWORD_EXPIRED",
  1: "ACCOUNT_LOCKED",
  2: "PASSWORD_MUST_CHANGE",
  3: "INSUFFICIENT_ACCESS",
  4: "MUST_SUPPLY_OLD_PASSWORD",
  5: "PASSWORD_QUALITY",
  6: "PASSWORD_TOO_SHORT",
  7: "PASSWORD_TOO_YOUNG",
  8: "PASSWORD_IN_HISTORY",
  9: "PASSWORD_QUALITY",
};

/** AD bind failures: the `data xxx` of `AcceptSecurityContext error`. */
const AD_BIND_DATA: Readonly<Record<string, DirectoryErrorCode>> = {
  "52e": "INVALID_CREDENTIALS",
  "525": "INVALID_CREDENTIALS", // unknown user (Windows; Samba says 52e)
  "775": "ACCOUNT_LOCKED",
  "773": "PASSWORD_MUST_CHANGE",
  "532": "PASSWORD_EXPIRED",
  "533": "ACCOUNT_DISABLED",
  "701": "ACCOUNT_DISABLED", // account expired
};

/** Codes the person can act on (or that describe the account): the directory refused. */
const REFUSALS = new Set<DirectoryErrorCode>([
  "PASSWORD_TOO_SHORT",
  "PASSWORD_COMPLEXITY",
  "PASSWORD_QUALITY",
  "PASSWORD_IN_HISTORY",
  "PASSWORD_TOO_YOUNG",
  "OLD_PASSWORD_WRONG",
  "MUST_SUPPLY_OLD_PASSWORD",
  "ACCOUNT_LOCKED",
  "INVALID_CREDENTIALS",
  "PASSWORD_MUST_CHANGE",
  "PASSWORD_EXPIRED",
  "ACCOUNT_DISABLED",
  "NO_SUCH_OBJECT",
  "SEAL_INVALID",
]);

/** The code of a ppolicy response error (e.g. on a bind that succeeded with changeAfterReset). */
export function codeForPpolicy(error: number): DirectoryErrorCode {
  return PPOLICY_CODES[error] ?? "DIRECTORY_ERROR";
}

export function outcomeOf(code: DirectoryErrorCode): FailureOutcome {
  return REFUSALS.has(code) ? "refused" : "failed";
}

const NETWORK_ERRNOS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EPIPE",
  "ECONNABORTED",
]);

/** String(x), but never throwing (an object whose toString is not a function, or has no prototype). */
function safeString(x: unknown): string {
  try {
    return String(x);
  } catch {
    return Object.prototype.toString.call(x);
  }
}

/** The diagnostic as one line for the audit log, with the call's secrets blotted out. */
export function diagnosticOf(e: unknown, secrets: readonly string[] = []): string {
  let text: string;
  if (e instanceof Error) {
    const errno = (e as NodeJS.ErrnoException).code;
    text = typeof errno === "string" && !e.message.includes(errno) ? `${errno}: ${e.message}` : e.message;
  } else text = safeString(e);
  for (const s of secrets) if (s.length >= 3) text = text.split(s).join("***");
  return text.replace(/\s+/g, " ").trim().slice(0, 300);
}

/** The LDAP result code of an ldapts error, or null for other errors. */
export function ldapCodeOf(e: unknown): number | null {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === "number" ? c : null;
}

function fromConstraint(message: string): DirectoryErrorCode {
  const m = message.toLowerCase();
  if (m.includes("00000056") || m.includes("old password specified doesn't match"))
    return "OLD_PASSWORD_WRONG";
  if (m.includes("00000775") || m.includes("account locked")) return "ACCOUNT_LOCKED";
  if (m.includes("too short")) return "PASSWORD_TOO_SHORT";
  if (m.includes("complexity")) return "PASSWORD_COMPLEXITY";
  if (m.includes("too young")) return "PASSWORD_TOO_YOUNG";
  if (m.includes("in history") || m.includes("previous password") || m.includes("not being changed"))
    return "PASSWORD_IN_HISTORY";
  // 0000052D with a reason we do not know, or slapd's "fails quality checking policy" without a
  // ppolicy control: the directory's own password rules refused it.
  if (m.includes("0000052d") || m.includes("quality")) return "PASSWORD_QUALITY";
  return "DIRECTORY_ERROR";
}

/**
 * Maps one error (and the ppolicy response control's error, when one came back) to a stable code.
 * `phase` tells a bind as the person (49 means their password) from the service account's own
 * connection (49 there is the agent's configuration, not the person's).
 */
export function mapDirectoryError(input: {
  error: unknown;
  ppolicyError?: number | null;
  phase: ErrorPhase;
  secrets?: readonly string[];
}): MappedError {
  const { error, phase } = input;
  const diagnostic = diagnosticOf(error, input.secrets);
  const done = (code: DirectoryErrorCode): MappedError => ({ code, outcome: outcomeOf(code), diagnostic });
  const ldap = ldapCodeOf(error);
  const message = error instanceof Error ? safeString(error.message) : safeString(error);

  if (ldap === null) {
    const errno = (error as NodeJS.ErrnoException | null)?.code;
    if (/timed? ?out/i.test(message) || errno === "ETIMEDOUT") return done("DIRECTORY_TIMEOUT");
    if (typeof errno === "string" && NETWORK_ERRNOS.has(errno)) return done("DIRECTORY_UNREACHABLE");
    if (typeof errno === "string" && /CERT|TLS|SELF_SIGNED|UNABLE_TO|DEPTH_ZERO|HOSTNAME/.test(errno))
      return done("DIRECTORY_UNREACHABLE");
    if (/socket|connection|closed/i.test(message)) return done("DIRECTORY_UNREACHABLE");
    return done("DIRECTORY_ERROR");
  }

  if (phase === "service") {
    // The agent's own bind or connection: never the person's fault.
    if (ldap === 8 || ldap === 13) return done("STRONG_AUTH_REQUIRED");
    if (ldap === 3) return done("DIRECTORY_TIMEOUT");
    if (ldap === 51 || ldap === 52) return done("DIRECTORY_UNREACHABLE");
    return done("DIRECTORY_ERROR");
  }

  const pp = input.ppolicyError;
  if (pp !== undefined && pp !== null) {
    const code = PPOLICY_CODES[pp];
    if (code) return done(code);
  }

  switch (ldap) {
    case 3:
      return done("DIRECTORY_TIMEOUT");
    case 8:
    case 13:
      return done("STRONG_AUTH_REQUIRED");
    case 19:
      return done(fromConstraint(message));
    case 32:
      return done("NO_SUCH_OBJECT");
    case 49: {
      const data = /data ([0-9a-f]{3,8})\b/i.exec(message)?.[1]?.toLowerCase();
      if (data) return done(AD_BIND_DATA[data] ?? "INVALID_CREDENTIALS");
      return done("INVALID_CREDENTIALS");
    }
    case 50:
      if (/must supply old password/i.test(message)) return done("MUST_SUPPLY_OLD_PASSWORD");
      if (/restricted to bind\/unbind/i.test(message)) return done("PASSWORD_MUST_CHANGE");
      return done("INSUFFICIENT_ACCESS");
    case 51:
    case 52:
      return done("DIRECTORY_UNREACHABLE");
    case 53:
      if (/unwilling to verify old password/i.test(message)) return done("OLD_PASSWORD_WRONG");
      if (/unauthenticated bind/i.test(message)) return done("INVALID_CREDENTIALS");
      return done("DIRECTORY_ERROR");
    default:
      return done("DIRECTORY_ERROR");
  }
}
