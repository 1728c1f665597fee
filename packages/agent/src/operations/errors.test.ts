// Every error case of shared/DIRECTORY-LAB.md (exact diagnostics as ldapts reports them) → code.
// Cases the shared test directories cannot produce without changing their shared policy (AD min age,
// AD 532 expired, ppolicy pwdSafeModify / passwordExpired) are covered here only.
import { DIRECTORY_ERROR_CODES, type DirectoryErrorCode } from "@latchkey/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  codeForPpolicy,
  diagnosticOf,
  type ErrorPhase,
  mapDirectoryError,
  PPOLICY_ERRORS,
} from "./errors.js";

/** An error as ldapts throws it: the server message, " Code: 0x..", and the numeric code. */
function ldapError(code: number, message: string): Error {
  const e = new Error(`${message} Code: 0x${code.toString(16)}`) as Error & { code: number };
  e.code = code;
  return e;
}

function errno(code: string, message: string): Error {
  const e = new Error(message) as NodeJS.ErrnoException;
  e.code = code;
  return e;
}

const CPR = "0000052D: Constraint violation - check_password_restrictions:";
const BIND = "80090308: LdapErr: DSID-0C0903A9, comment: AcceptSecurityContext error,";

type Row = [string, unknown, ErrorPhase, number | null, DirectoryErrorCode, "refused" | "failed"];

const rows: Row[] = [
  // AD (Samba 4.17), §2
  [
    "AD too short",
    ldapError(19, `${CPR} the password is too short. It should be equal or longer than 8 characters!`),
    "operation",
    null,
    "PASSWORD_TOO_SHORT",
    "refused",
  ],
  [
    "AD complexity",
    ldapError(19, `${CPR} the password does not meet the complexity criteria!`),
    "operation",
    null,
    "PASSWORD_COMPLEXITY",
    "refused",
  ],
  [
    "AD history",
    ldapError(19, `${CPR} the password was already used (in history)!`),
    "operation",
    null,
    "PASSWORD_IN_HISTORY",
    "refused",
  ],
  [
    "AD same as current",
    ldapError(19, `${CPR} the password was already used (previous password)!`),
    "operation",
    null,
    "PASSWORD_IN_HISTORY",
    "refused",
  ],
  [
    "AD too young",
    ldapError(19, `${CPR} password is too young to change!`),
    "operation",
    null,
    "PASSWORD_TOO_YOUNG",
    "refused",
  ],
  [
    "AD wrong old password",
    ldapError(
      19,
      "00000056: Constraint violation - check_password_restrictions: The old password specified doesn't match!",
    ),
    "operation",
    null,
    "OLD_PASSWORD_WRONG",
    "refused",
  ],
  [
    "AD change while locked",
    ldapError(
      19,
      "00000775: Password change not permitted, account locked out! at ../../source4/dsdb/samdb/ldb_modules/password_hash.c:3929:setup_io",
    ),
    "operation",
    null,
    "ACCOUNT_LOCKED",
    "refused",
  ],
  [
    "AD unknown 052D reason",
    ldapError(19, `${CPR} something new!`),
    "operation",
    null,
    "PASSWORD_QUALITY",
    "refused",
  ],
  [
    "AD NT hash directly",
    ldapError(53, "00002035: setup_io: it's not allowed to set the NT hash password directly'"),
    "operation",
    null,
    "DIRECTORY_ERROR",
    "failed",
  ],
  [
    "AD change unbound",
    ldapError(1, "00002020: Operation unavailable without authentication"),
    "operation",
    null,
    "DIRECTORY_ERROR",
    "failed",
  ],
  [
    "AD bind 52e",
    ldapError(49, `${BIND} data 52e, v1db1`),
    "user-bind",
    null,
    "INVALID_CREDENTIALS",
    "refused",
  ],
  ["AD bind 775", ldapError(49, `${BIND} data 775, v1db1`), "user-bind", null, "ACCOUNT_LOCKED", "refused"],
  [
    "AD bind 773",
    ldapError(49, `${BIND} data 773, v1db1`),
    "user-bind",
    null,
    "PASSWORD_MUST_CHANGE",
    "refused",
  ],
  ["AD bind 533", ldapError(49, `${BIND} data 533, v1db1`), "user-bind", null, "ACCOUNT_DISABLED", "refused"],
  ["AD bind 532", ldapError(49, `${BIND} data 532, v1db1`), "user-bind", null, "PASSWORD_EXPIRED", "refused"],
  [
    "AD bind 701 (account expired)",
    ldapError(49, `${BIND} data 701, v1db1`),
    "user-bind",
    null,
    "ACCOUNT_DISABLED",
    "refused",
  ],
  [
    "simple bind on plain 389",
    ldapError(8, "BindSimple: Transport encryption required."),
    "operation",
    null,
    "STRONG_AUTH_REQUIRED",
    "failed",
  ],
  ["policy hints critical, unsupported", ldapError(12, ""), "operation", null, "DIRECTORY_ERROR", "failed"],
  // OpenLDAP ppolicy, §4
  [
    "ppolicy too short",
    ldapError(19, "Password fails quality checking policy"),
    "operation",
    6,
    "PASSWORD_TOO_SHORT",
    "refused",
  ],
  [
    "ppolicy quality",
    ldapError(19, "Password fails quality checking policy"),
    "operation",
    5,
    "PASSWORD_QUALITY",
    "refused",
  ],
  [
    "quality without control",
    ldapError(19, "Password fails quality checking policy"),
    "operation",
    null,
    "PASSWORD_QUALITY",
    "refused",
  ],
  [
    "ppolicy history",
    ldapError(19, "Password is in history of old passwords"),
    "operation",
    8,
    "PASSWORD_IN_HISTORY",
    "refused",
  ],
  [
    "ppolicy same as current",
    ldapError(19, "Password is not being changed from existing value"),
    "operation",
    8,
    "PASSWORD_IN_HISTORY",
    "refused",
  ],
  [
    "ppolicy min age",
    ldapError(19, "Password is too young to change"),
    "operation",
    7,
    "PASSWORD_TOO_YOUNG",
    "refused",
  ],
  [
    "ppolicy min age, no control",
    ldapError(19, "Password is too young to change"),
    "operation",
    null,
    "PASSWORD_TOO_YOUNG",
    "refused",
  ],
  [
    "ppolicy must supply old",
    ldapError(50, "Must supply old password to be changed as well as new one"),
    "operation",
    4,
    "MUST_SUPPLY_OLD_PASSWORD",
    "refused",
  ],
  [
    "must supply old, no control",
    ldapError(50, "Must supply old password to be changed as well as new one"),
    "operation",
    null,
    "MUST_SUPPLY_OLD_PASSWORD",
    "refused",
  ],
  [
    "exop wrong old password",
    ldapError(53, "unwilling to verify old password"),
    "operation",
    null,
    "OLD_PASSWORD_WRONG",
    "refused",
  ],
  [
    "anonymous exop",
    ldapError(8, "only authenticated users may change passwords"),
    "operation",
    null,
    "STRONG_AUTH_REQUIRED",
    "failed",
  ],
  ["bind wrong password", ldapError(49, ""), "user-bind", null, "INVALID_CREDENTIALS", "refused"],
  ["bind locked", ldapError(49, ""), "user-bind", 1, "ACCOUNT_LOCKED", "refused"],
  ["bind expired", ldapError(49, ""), "user-bind", 0, "PASSWORD_EXPIRED", "refused"],
  [
    "after admin reset, other ops",
    ldapError(50, "Operations are restricted to bind/unbind/abandon/StartTLS/modify password"),
    "operation",
    null,
    "PASSWORD_MUST_CHANGE",
    "refused",
  ],
  [
    "empty-password bind",
    ldapError(53, "unauthenticated bind (DN with no password) disallowed"),
    "user-bind",
    null,
    "INVALID_CREDENTIALS",
    "refused",
  ],
  ["passwordModNotAllowed", ldapError(50, "x"), "operation", 3, "INSUFFICIENT_ACCESS", "failed"],
  // Generic LDAP and network
  [
    "no such object",
    ldapError(32, "0000208D: NameErr: DSID-03100241, problem 2001 (NO_OBJECT)"),
    "operation",
    null,
    "NO_SUCH_OBJECT",
    "refused",
  ],
  [
    "insufficient access",
    ldapError(50, "00002098: SecErr: DSID-03150F94, problem 4003 (INSUFF_ACCESS_RIGHTS), data 0"),
    "operation",
    null,
    "INSUFFICIENT_ACCESS",
    "failed",
  ],
  ["server time limit", ldapError(3, ""), "operation", null, "DIRECTORY_TIMEOUT", "failed"],
  ["busy", ldapError(51, ""), "operation", null, "DIRECTORY_UNREACHABLE", "failed"],
  ["unavailable", ldapError(52, ""), "operation", null, "DIRECTORY_UNREACHABLE", "failed"],
  [
    "ldapts operation timeout",
    new Error("ModifyRequest: Operation timed out"),
    "operation",
    null,
    "DIRECTORY_TIMEOUT",
    "failed",
  ],
  ["ldapts connect timeout", new Error("Connection timeout"), "service", null, "DIRECTORY_TIMEOUT", "failed"],
  [
    "connection refused",
    errno("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:636"),
    "service",
    null,
    "DIRECTORY_UNREACHABLE",
    "failed",
  ],
  [
    "connection reset",
    errno("ECONNRESET", "read ECONNRESET"),
    "operation",
    null,
    "DIRECTORY_UNREACHABLE",
    "failed",
  ],
  [
    "certificate not trusted",
    errno("UNABLE_TO_VERIFY_LEAF_SIGNATURE", "unable to verify the first certificate"),
    "service",
    null,
    "DIRECTORY_UNREACHABLE",
    "failed",
  ],
  [
    "socket gone",
    new Error("Socket connection not established"),
    "operation",
    null,
    "DIRECTORY_UNREACHABLE",
    "failed",
  ],
  [
    "service account bind 49",
    ldapError(49, `${BIND} data 52e, v1db1`),
    "service",
    null,
    "DIRECTORY_ERROR",
    "failed",
  ],
  [
    "service on plain LDAP",
    ldapError(8, "BindSimple: Transport encryption required."),
    "service",
    null,
    "STRONG_AUTH_REQUIRED",
    "failed",
  ],
  ["anything else", new TypeError("x is undefined"), "operation", null, "DIRECTORY_ERROR", "failed"],
];

describe("mapDirectoryError: the lab notes' table", () => {
  it.each(rows)("%s", (_name, error, phase, ppolicyError, code, outcome) => {
    const m = mapDirectoryError({ error, phase, ppolicyError });
    expect(m.code).toBe(code);
    expect(m.outcome).toBe(outcome);
    expect(DIRECTORY_ERROR_CODES).toContain(m.code);
  });

  it("every ppolicy error has a code", () => {
    for (const n of Object.keys(PPOLICY_ERRORS))
      expect(codeForPpolicy(Number(n))).not.toBe("DIRECTORY_ERROR");
  });

  it("keeps the raw diagnostic, one line, trimmed, with the call's secrets blotted out", () => {
    const m = mapDirectoryError({
      error: ldapError(19, `${CPR}\n  the password is too short (Secret-Pw-1!)`),
      phase: "operation",
      secrets: ["Secret-Pw-1!"],
    });
    expect(m.diagnostic).toBe(`${CPR} the password is too short (***) Code: 0x13`);
    expect(diagnosticOf(new Error("x".repeat(1000))).length).toBe(300);
  });
});

it("never throws and always gives a known code (property)", () => {
  fc.assert(
    fc.property(
      fc.anything({ withNullPrototype: true, withBoxedValues: true, withObjectString: true }),
      fc.constantFrom<ErrorPhase>("service", "user-bind", "operation"),
      fc.option(fc.integer()),
      (error, phase, ppolicyError) => {
        expect(DIRECTORY_ERROR_CODES).toContain(mapDirectoryError({ error, phase, ppolicyError }).code);
      },
    ),
    { numRuns: 2000 },
  );
  // The shapes that once threw: no prototype, and a toString that is not a function.
  expect(mapDirectoryError({ error: Object.create(null), phase: "operation" }).code).toBe("DIRECTORY_ERROR");
  expect(mapDirectoryError({ error: { toString: 1 }, phase: "operation" }).code).toBe("DIRECTORY_ERROR");
});
