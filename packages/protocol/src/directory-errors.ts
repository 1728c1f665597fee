/**
 * What a directory said about a password operation, as stable codes. The agent maps LDAP result
 * codes, AD extended errors (0000052D, 00000056, 775, bind data 52e/773/775/533/532…) and ppolicy
 * response errors to these; the server turns each into a sentence the person can act on through its
 * message id. The raw diagnostic goes to the audit log only, never to a page.
 */
export const DIRECTORY_ERRORS = {
  PASSWORD_TOO_SHORT: {
    messageId: "directory.password_too_short",
    retry: "new_password",
    description: "Shorter than the directory's minimum length (AD 0000052D too short; ppolicy 6).",
  },
  PASSWORD_COMPLEXITY: {
    messageId: "directory.password_complexity",
    retry: "new_password",
    description: "Does not meet the directory's complexity rules (AD 0000052D complexity).",
  },
  PASSWORD_QUALITY: {
    messageId: "directory.password_quality",
    retry: "new_password",
    description: "Refused by the directory's quality check (ppolicy 5 insufficientPasswordQuality).",
  },
  PASSWORD_IN_HISTORY: {
    messageId: "directory.password_in_history",
    retry: "new_password",
    description: "Used before (AD 0000052D history or previous password; ppolicy 8).",
  },
  PASSWORD_TOO_YOUNG: {
    messageId: "directory.password_too_young",
    retry: "later",
    description: "Changed too recently (AD 0000052D too young; ppolicy 7).",
  },
  OLD_PASSWORD_WRONG: {
    messageId: "directory.old_password_wrong",
    retry: "old_password",
    description:
      "The current password given is wrong (AD 00000056; slapd 53 unwilling to verify old password).",
  },
  MUST_SUPPLY_OLD_PASSWORD: {
    messageId: "directory.must_supply_old_password",
    retry: "old_password",
    description: "The directory requires the current password (ppolicy 4).",
  },
  ACCOUNT_LOCKED: {
    messageId: "directory.account_locked",
    retry: "unlock",
    description: "The account is locked (AD 00000775 / bind data 775; ppolicy 1).",
  },
  INVALID_CREDENTIALS: {
    messageId: "directory.invalid_credentials",
    retry: "old_password",
    description: "Wrong user name or password (bind data 52e; slapd 49).",
  },
  PASSWORD_MUST_CHANGE: {
    messageId: "directory.password_must_change",
    retry: "change",
    description: "The password must be changed before use (bind data 773; ppolicy 2 changeAfterReset).",
  },
  PASSWORD_EXPIRED: {
    messageId: "directory.password_expired",
    retry: "change",
    description: "The password has expired (bind data 532; ppolicy 0).",
  },
  ACCOUNT_DISABLED: {
    messageId: "directory.account_disabled",
    retry: "admin",
    description: "The account is disabled (bind data 533).",
  },
  STRONG_AUTH_REQUIRED: {
    messageId: "directory.strong_auth_required",
    retry: "admin",
    description: "The directory requires an encrypted connection (LDAP 8).",
  },
  NO_SUCH_OBJECT: {
    messageId: "directory.no_such_object",
    retry: "admin",
    description: "The account no longer exists in the directory (LDAP 32).",
  },
  INSUFFICIENT_ACCESS: {
    messageId: "directory.insufficient_access",
    retry: "admin",
    description: "The agent's service account lacks the right to do this (LDAP 50).",
  },
  DIRECTORY_TIMEOUT: {
    messageId: "directory.timeout",
    retry: "later",
    description: "The directory did not answer in time.",
  },
  DIRECTORY_UNREACHABLE: {
    messageId: "directory.unreachable",
    retry: "later",
    description: "The agent could not connect to the directory.",
  },
  SEAL_INVALID: {
    messageId: "directory.internal",
    retry: "later",
    description:
      "The sealed payload could not be opened by this agent (wrong key or changed associated data).",
  },
  DIRECTORY_ERROR: {
    messageId: "directory.internal",
    retry: "later",
    description: "Any other directory error (the diagnostic is in the audit log).",
  },
} as const;

export type DirectoryErrorCode = keyof typeof DIRECTORY_ERRORS;
export const DIRECTORY_ERROR_CODES = Object.keys(DIRECTORY_ERRORS) as DirectoryErrorCode[];
