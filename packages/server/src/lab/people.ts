// Development and demo facility (not used by `latchkey serve`): the shape of a person seeded into a
// throwaway directory (slapd or Samba AD), and of what the directory holds for them afterwards.

export interface SeedPerson {
  username: string;
  password: string;
  givenName: string;
  sn: string;
  displayName: string;
  mail: string;
  mobile: string;
  /** Member of the scope group (SSPR-Users / sspr-users). */
  inScope: boolean;
  /** Member of the admin group (SSPR-Admins / sspr-admins). */
  admin: boolean;
}

/** A seeded person as the directory holds them. */
export interface LabUser {
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
  /** AD only: username@<dns domain>. */
  userPrincipalName?: string;
}

export function entriesOf<N extends string>(people: Record<N, SeedPerson>): [N, SeedPerson][] {
  return Object.entries(people) as [N, SeedPerson][];
}

/** How a throwaway daemon is tracked and stopped. test-env's run registry is one (it also records
 * the daemon for crash recovery); `localSupervisor()` is the demo's. */
export interface DaemonSupervisor {
  addDaemon(d: { name: string; exe: string; pidFile: string; stopSignal: NodeJS.Signals }): unknown;
  setPid(name: string, pid: number): void;
  stop(name: string): Promise<void>;
}
