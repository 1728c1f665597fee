/**
 * The people of the hybrid demo's throwaway directory (slapd or Samba AD, started by
 * `latchkey demo`), and what each registers once the agent has synced them. Their names differ from
 * the cloud demo users' (usernames are unique per tenant). Passwords are made per run: they are
 * printed so a newcomer can see the old one stop working after a reset, and die with the directory.
 */
import { randomBytes } from "node:crypto";
import type { SeedPerson } from "../lab/people.js";

export type DemoDirectoryName = "dana" | "erik" | "fiona" | "gus";

/** Hex cannot spell any of the names (each holds a letter past f), so AD's "password contains the
 * account or display name" rule never refuses a generated password. */
function password(): string {
  return `Demo-${randomBytes(5).toString("hex")}-Pw7!`;
}

export function demoDirectoryPeople(): Record<DemoDirectoryName, SeedPerson> {
  const person = (
    username: string,
    givenName: string,
    sn: string,
    n: number,
    inScope: boolean,
    admin: boolean,
  ): SeedPerson => ({
    username,
    password: password(),
    givenName,
    sn,
    displayName: `${givenName} ${sn}`,
    mail: `${username}@corp.example`,
    mobile: `+1500555020${n}`,
    inScope,
    admin,
  });
  return {
    dana: person("dana", "Dana", "Park", 1, true, false),
    erik: person("erik", "Erik", "Lund", 2, true, false),
    fiona: person("fiona", "Fiona", "Shaw", 3, true, true),
    // Outside the scope group: shows that the directory decides who may reset.
    gus: person("gus", "Gus", "Grant", 4, false, false),
  };
}

/** What each in-scope directory user registers once synced (codes show on /demo/outbox; the TOTP
 * secret is the demo's printed one). fiona is an admin: admins always pass two gates. */
export const DEMO_DIRECTORY_METHODS: Readonly<Record<string, readonly string[]>> = {
  dana: ["email", "sms"],
  erik: ["email", "totp"],
  fiona: ["email", "sms", "totp"],
};
