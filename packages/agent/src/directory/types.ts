/**
 * One interface over the directory dialects (ad/, openldap/). A session is one bound LDAP
 * connection for one sync pass; the sync engine (sync/engine.ts) drives it and never sees LDAP.
 *
 * Marks: each dialect gives every entry a change mark, a string whose lexicographic order is the
 * order of changes in that directory — AD: uSNChanged zero-padded to 20 digits; OpenLDAP:
 * modifyTimestamp as YYYYMMDDhhmmssZ. A cursor is the mark a pass has fully covered.
 */
import type { Dialect, SyncedUser } from "@latchkey/protocol";
import type { RootDse } from "./rootdse.js";

/** A user as a dialect read it, before scope and admin membership are applied. */
export interface DirectoryUser {
  /** The user without inScope / isAdmin. */
  user: Omit<SyncedUser, "inScope" | "isAdmin">;
  /** The key group membership sets hold: AD the anchor, OpenLDAP the normalized DN. */
  memberKey: string;
  /** Change mark (see above). */
  mark: string;
  /** Changes whenever the entry does (uSNChanged / entryCSN): re-reads of the same version are skipped. */
  version: string;
}

/** An entry the dialect could not map (no anchor, no user name…); it is skipped and logged. */
export interface SkippedEntry {
  dn: string;
  reason: string;
}

export interface Membership {
  /** Member keys in scope; null when no scope group is configured (everyone is in scope). */
  scope: Set<string> | null;
  admin: Set<string>;
  /** Normalized DNs of every group that decides membership (configured and nested). */
  groups: Set<string>;
}

export interface ChangedGroup {
  dn: string;
  mark: string;
  version: string;
}

export interface PassStart {
  /** Identifies the directory server whose marks these are (AD: dsServiceName); null when marks are global. */
  server: string | null;
  /** The mark of "now" when the directory can say it (AD: highestCommittedUSN); else null. */
  mark: string | null;
}

export interface UserPage {
  users: DirectoryUser[];
  skipped: SkippedEntry[];
}

export interface DirectorySession {
  readonly dialect: Dialect;
  readonly rootDse: RootDse;
  /** One line for logs and the admin's eyes. */
  readonly description: string;
  /** How deletions are found in this session. */
  readonly deletions: "tombstones" | "reconcile";
  /** Read at the start of a pass, before any search. */
  beginPass(): Promise<PassStart>;
  /**
   * How long after the cursor was reached writes stamped with it (or up to the overlap before it) may
   * still commit: OpenLDAP overlap + the 1 s granularity of modifyTimestamp; 0 where marks are exact
   * (AD USNs).
   */
  readonly settleAfterMs: number;
  /**
   * The first mark an incremental pass after `cursor` must read. AD: cursor + 1. OpenLDAP: cursor −
   * overlap, until a pass that began `settleAfterMs` after the cursor was reached has read that window
   * (`settled`); from then on cursor + 1 s, so a second full of writes (a bulk import) is not re-read
   * by every pass until something else changes.
   */
  windowStart(cursor: string, settled: boolean): string;
  /** Every user (no `since`), or those changed at or after the mark `since`, page by page. */
  users(since?: string): AsyncIterable<UserPage>;
  /** The users with these member keys (those that still exist and match the filter). */
  usersByKey(keys: readonly string[]): Promise<UserPage>;
  /** The users with these anchors (those that still exist under baseDn and match the filter). */
  usersByAnchor(anchors: readonly string[]): Promise<UserPage>;
  /** Every user's anchor, page by page (reconciliation). */
  anchors(): AsyncIterable<string[]>;
  membership(): Promise<Membership>;
  /** Groups changed at or after the mark `since`. */
  changedGroups(since: string): Promise<ChangedGroup[]>;
  /** Anchors of users deleted at or after the mark `since` (tombstones), when this session can see them. */
  deletedSince(since: string): Promise<string[]>;
  close(): Promise<void>;
}

/** The mapping of synced fields to attributes, after defaults. */
export interface AttributeMap {
  username: string;
  upn: string | null;
  displayName: string;
  /** Read when `displayName` has no value (OpenLDAP: cn). */
  displayNameFallback: string | null;
  givenName: string;
  surname: string;
  mail: string;
  mobile: string;
  telephoneNumber: string;
}

/** The outcome of mapping one directory entry: a user, or why the entry was skipped. */
export type MapResult = { ok: true; user: DirectoryUser } | { ok: false; dn: string; reason: string };

/** The attributes to request for users: a dialect's own (anchor, cursor, state) plus the mapped ones. */
export function userAttributes(dialectAttributes: readonly string[], map: AttributeMap): string[] {
  const names = new Set<string>([
    ...dialectAttributes,
    map.username,
    map.displayName,
    map.givenName,
    map.surname,
    map.mail,
    map.mobile,
    map.telephoneNumber,
  ]);
  if (map.upn) names.add(map.upn);
  if (map.displayNameFallback) names.add(map.displayNameFallback);
  return [...names];
}
