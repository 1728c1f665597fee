// The shape of what the global setup hands to every test file (via vitest's provide/inject).
// Plain JSON only: it crosses the process boundary to the forked test workers.
import type { LabUser } from "../packages/server/src/lab/people.js";
import type { LabAd } from "../packages/server/src/lab/samba.js";
import type { LabOpenLdap } from "../packages/server/src/lab/slapd.js";

/** A user seeded into a directory at startup. Treat seeded users as read-only: tests that change
 * passwords, lock accounts or edit attributes should create their own user (createAdUser /
 * createOpenLdapUser in test-env/env.ts), because test files run in parallel. */
export type SeededUser = LabUser;

export type SeededUserName = "alice" | "bob" | "carol" | "dave";

/**
 * The test domain (the lab's shape, packages/server/src/lab/samba.ts): ldaps://127.0.0.1:636 (strict
 * TLS with `caFile`; SANs localhost and 127.0.0.1) and ldap://127.0.0.1:389 for StartTLS (Samba
 * refuses simple binds without TLS); realm LAB.EXAMPLE.TEST, NetBIOS LAB, base DC=lab,DC=example,DC=test.
 * Seeded users live in OU=People (the agent's delegation covers it); groups in OU=Groups.
 * `adminDn` is CN=Administrator (Domain Admin; bypasses nothing in Samba's password checks except
 * history/min age on resets). `serviceDn` is CN=sspr-agent, the agent's service account
 * (userAccountControl 66048, delegated rights on usersDn only). `scopeGroupDn` CN=SSPR-Users holds
 * alice, bob, carol; `adminGroupDn` CN=SSPR-Admins holds carol. `smbConf`/`logFile`: Samba's files.
 */
export type AdEnv = LabAd<SeededUserName>;

/**
 * The test slapd (the lab's shape, packages/server/src/lab/slapd.ts): ldap://127.0.0.1:<port> with
 * StartTLS and ldaps://127.0.0.1:<port>; base dc=example,dc=test, people in ou=people, groups in
 * ou=groups. `rootDn` cn=admin bypasses every ppolicy check and ACL. `pwAdminDn` cn=pw-admin has
 * `manage` on userPassword, so ppolicy treats it as a password administrator (resets skip
 * quality/history/min-age checks, set pwdReset and clear lockouts). `serviceDn` cn=sspr-agent has
 * plain `write` on userPassword and the ppolicy state attributes: its resets are quality/history/
 * min-age checked and it must write pwdReset itself. `policyDn` cn=default is the users' password
 * policy; `servicePolicyDn` cn=service (no lockout, no must-change) the service accounts'.
 * `scopeGroupDn` cn=sspr-users (groupOfNames, memberOf maintained: alice, bob, carol);
 * `adminGroupDn` cn=sspr-admins (carol).
 */
export type OpenLdapEnv = LabOpenLdap<SeededUserName>;

export interface PostgresEnv {
  /** A URL with rights to CREATE DATABASE. Tests should not use it directly: call createTestDatabase(). */
  url: string;
  /** Where the server came from: LATCHKEY_TEST_PG_URL, the local server on 127.0.0.1:5432, or a
   * throwaway cluster started by the harness. */
  source: "env" | "local" | "cluster";
}

export interface SmtpEnv {
  host: string;
  /** Plain SMTP, no STARTTLS offered, AUTH accepted (any credentials) but optional. */
  port: number;
  /** SMTP that offers STARTTLS with the test certificate (trust `caFile`). */
  starttlsPort: number;
  /** Implicit TLS (like port 465) with the test certificate. */
  tlsPort: number;
  /** Every received message is a JSON file here (see ReceivedMail in test-env/mail.ts). */
  mailDir: string;
}

export interface TestEnv {
  runId: string;
  runDir: string;
  /** PEM file of the throwaway CA that signed every server certificate in this run. */
  caFile: string;
  /** The same CA, inline. */
  caPem: string;
  certFile: string;
  keyFile: string;
  ad: AdEnv;
  openldap: OpenLdapEnv;
  postgres: PostgresEnv;
  smtp: SmtpEnv;
  /** Seconds each part took to start, measured in this run. */
  timings: Record<string, number>;
}

declare module "vitest" {
  interface ProvidedContext {
    latchkeyEnv: TestEnv;
  }
}
