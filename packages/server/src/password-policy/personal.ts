/**
 * The words a person's own details and their organisation give an attacker for free: username,
 * names, the local part of the e-mail address, the organisation's name. Entra matches the first
 * name, last name and tenant name as substrings of the normalised password; NIST SP 800-63B asks
 * for "context-specific words, such as the name of the service, the username". We do both, for
 * terms of at least {@link PERSONAL_MIN_LENGTH} characters (Entra's threshold; shorter tokens such as
 * "li" or "ann" would reject too many unrelated passwords).
 */
import { normalise } from "./normalise.js";

export const PERSONAL_MIN_LENGTH = 4;

/** What the checker knows about the person; every field is optional except the username. */
export interface PersonalDetails {
  username: string;
  displayName?: string | undefined;
  givenName?: string | undefined;
  surname?: string | undefined;
  email?: string | undefined;
}

/** Cap on each field we look at: directory values are short; this bounds the work on hostile input. */
const FIELD_CAP = 256;
const SEPARATORS = /[\s._\-@\\/,;:'"()[\]{}<>+&|!?#*~^=`]+/u;

/** The account part of "DOMAIN\\user" or "user@domain". */
function accountPart(username: string): string {
  const afterBackslash = username.slice(username.lastIndexOf("\\") + 1);
  const at = afterBackslash.indexOf("@");
  return at >= 0 ? afterBackslash.slice(0, at) : afterBackslash;
}

function addWithTokens(out: Set<string>, value: string | undefined): void {
  if (typeof value !== "string") return;
  const capped = value.slice(0, FIELD_CAP);
  const whole = normalise(capped.replace(/\s+/gu, ""));
  if ([...whole].length >= PERSONAL_MIN_LENGTH) out.add(whole);
  for (const token of capped.split(SEPARATORS)) {
    const t = normalise(token);
    if ([...t].length >= PERSONAL_MIN_LENGTH) out.add(t);
  }
}

/**
 * Normalised personal terms, deduplicated. Raw (un-normalised) tokens are also returned for
 * zxcvbn's user inputs, which does its own l33t handling.
 */
export function personalTerms(
  user: PersonalDetails,
  organisationName: string,
): { terms: string[]; userInputs: string[] } {
  const terms = new Set<string>();
  addWithTokens(terms, accountPart(typeof user.username === "string" ? user.username : ""));
  addWithTokens(terms, user.displayName);
  addWithTokens(terms, user.givenName);
  addWithTokens(terms, user.surname);
  if (typeof user.email === "string") {
    const at = user.email.lastIndexOf("@");
    addWithTokens(terms, at >= 0 ? user.email.slice(0, at) : user.email);
  }
  addWithTokens(terms, organisationName);
  const userInputs = new Set<string>();
  for (const v of [
    user.username,
    user.displayName,
    user.givenName,
    user.surname,
    user.email,
    organisationName,
  ]) {
    if (typeof v !== "string") continue;
    for (const token of v.slice(0, FIELD_CAP).split(SEPARATORS))
      if (token.length >= 3) userInputs.add(token.toLowerCase());
  }
  return { terms: [...terms], userInputs: [...userInputs].slice(0, 64) };
}
