// The shape of what the global setup hands to every test file (via vitest's provide/inject).
// Plain JSON only: it crosses the process boundary to the forked test workers.

/** A user seeded into a directory at startup. Treat seeded users as read-only: tests that change
 * passwords, lock accounts or edit attributes should create their own user (createAdUser /
 * createOpenLdapUser in test-env/env.ts), because test files run in parallel. */
export interface SeededUser {
  /** sAMAccountName on AD, uid on OpenLDAP. */
  username: string;
  dn: string;
  password: string;
  givenName: string;
  sn: string;
  displayName: string;
  mail: string;
  mobile: string;
  /** DNs of the groups the user is a direct member of. */
  groups: string[];
  /** AD only: username@lab.example.test. */
  userPrincipalName?: string;
}

export type SeededUserName = "alice" | "bob" | "carol" | "dave";

export interface AdEnv {
  /** ldaps://127.0.0.1:636 (strict TLS with `caFile` works; the certificate has SANs localhost and 127.0.0.1). */
  url: string;
  /** ldap://127.0.0.1:389: plain LDAP, use StartTLS before a simple bind (Samba refuses simple binds without TLS). */
  starttlsUrl: string;
  host: string;
  ldapPort: number;
  ldapsPort: number;
  /** LAB.EXAMPLE.TEST */
  realm: string;
  /** NetBIOS domain: LAB */
  domain: string;
  /** lab.example.test */
  dnsDomain: string;
  /** DC=lab,DC=example,DC=test */
  baseDn: string;
  /** OU=People,DC=lab,DC=example,DC=test: the seeded users live here; the agent's delegation covers it. */
  usersDn: string;
  /** OU=Groups,DC=lab,DC=example,DC=test */
  groupsDn: string;
  /** CN=Administrator,CN=Users,... (Domain Admin; bypasses nothing in Samba's password checks except history/min age on resets). */
  adminDn: string;
  adminUpn: string;
  adminPassword: string;
  /** CN=sspr-agent,CN=Users,...: the agent's service account, userAccountControl 66048, delegated rights on usersDn only. */
  serviceDn: string;
  serviceUpn: string;
  servicePassword: string;
  serviceSid: string;
  /** CN=SSPR-Users,OU=Groups,...: the scope group (alice, bob, carol). */
  scopeGroupDn: string;
  /** CN=SSPR-Admins,OU=Groups,...: the admin group (carol). */
  adminGroupDn: string;
  users: Record<SeededUserName, SeededUser>;
  /** Samba's files: smb.conf and the log of the samba processes. */
  smbConf: string;
  logFile: string;
}

export interface OpenLdapEnv {
  /** ldap://127.0.0.1:<port> (StartTLS available with the same certificate). */
  url: string;
  /** ldaps://127.0.0.1:<port> */
  ldapsUrl: string;
  host: string;
  ldapPort: number;
  ldapsPort: number;
  /** dc=example,dc=test */
  baseDn: string;
  /** ou=people,dc=example,dc=test */
  usersDn: string;
  /** ou=groups,dc=example,dc=test */
  groupsDn: string;
  /** cn=admin,dc=example,dc=test: the rootdn (bypasses every ppolicy check and ACL). */
  rootDn: string;
  rootPassword: string;
  /** cn=pw-admin,dc=example,dc=test: `manage` on userPassword, so ppolicy treats it as a password
   * administrator (resets skip quality/history/min-age checks, set pwdReset and clear lockouts). */
  pwAdminDn: string;
  pwAdminPassword: string;
  /** cn=sspr-agent,dc=example,dc=test: plain `write` on userPassword and the ppolicy state attributes;
   * its resets are quality/history/min-age checked, and it must write pwdReset itself. */
  serviceDn: string;
  servicePassword: string;
  /** cn=default,ou=policies,dc=example,dc=test: the default password policy for users. */
  policyDn: string;
  /** cn=service,ou=policies,dc=example,dc=test: no lockout, no must-change; used by the service accounts. */
  servicePolicyDn: string;
  /** cn=sspr-users,ou=groups,... (groupOfNames; alice, bob, carol). memberOf is maintained. */
  scopeGroupDn: string;
  /** cn=sspr-admins,ou=groups,... (groupOfNames; carol). */
  adminGroupDn: string;
  users: Record<SeededUserName, SeededUser>;
  configFile: string;
  logFile: string;
}

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
