/**
 * Active Directory entries → synced users.
 *
 * - Anchor: objectGUID, 16 bytes, shown as a UUID the way Windows does: the first three fields are
 *   little-endian (bytes 3-2-1-0, 5-4, 7-6), the last two are in order.
 * - enabled: userAccountControl without ACCOUNTDISABLE (0x2).
 * - locked: msDS-User-Account-Control-Computed has UF_LOCKOUT (0x10) — computed by the DC, so it
 *   already accounts for the lockout duration; lockoutTime > 0 is the fallback when it is not readable.
 * - passwordLastSet: pwdLastSet, a FILETIME (100 ns ticks since 1601-01-01 UTC); 0 means "must
 *   change at next logon" and is reported as null.
 * - passwordExpiresAt: msDS-UserPasswordExpiryTimeComputed (FILETIME); 0 and 0x7FFFFFFFFFFFFFFF mean
 *   never, as does DONT_EXPIRE_PASSWD (0x10000) in userAccountControl.
 */
import type { Entry } from "ldapts";
import { type AttributeMap, type MapResult, userAttributes } from "../types.js";

export type { MapResult };

import { first, firstBigInt, firstBuffer, firstInt } from "../values.js";

export const UAC_ACCOUNTDISABLE = 0x2;
export const UAC_DONT_EXPIRE_PASSWD = 0x10000;
export const UF_LOCKOUT = 0x10;

/** 100-ns intervals between 1601-01-01 and 1970-01-01. */
const FILETIME_EPOCH_OFFSET = 116_444_736_000_000_000n;
const FILETIME_NEVER = 0x7fffffffffffffffn;

export const AD_DEFAULT_ATTRIBUTES: AttributeMap = {
  username: "sAMAccountName",
  upn: "userPrincipalName",
  displayName: "displayName",
  displayNameFallback: null,
  givenName: "givenName",
  surname: "sn",
  mail: "mail",
  mobile: "mobile",
  telephoneNumber: "telephoneNumber",
};

export const AD_DEFAULT_USER_FILTER = "(&(objectCategory=person)(objectClass=user))";
export const AD_DEFAULT_GROUP_FILTER = "(objectClass=group)";

/** objectGUID bytes → lower-case UUID string. */
export function guidToUuid(guid: Buffer): string {
  if (guid.length !== 16) throw new Error(`objectGUID must be 16 bytes, got ${guid.length}`);
  const h = (i: number) => (guid[i] as number).toString(16).padStart(2, "0");
  const part = (idx: number[]) => idx.map(h).join("");
  return [part([3, 2, 1, 0]), part([5, 4]), part([7, 6]), part([8, 9]), part([10, 11, 12, 13, 14, 15])].join(
    "-",
  );
}

/** UUID string → objectGUID bytes (the inverse of guidToUuid). */
export function uuidToGuid(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error("not a UUID");
  const b = Buffer.from(hex, "hex");
  const order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
  return Buffer.from(order.map((i) => b[i] as number));
}

/** FILETIME → epoch ms; null for 0 (never / must change) and for "never" (max int64). */
export function filetimeToEpochMs(ft: bigint | null): number | null {
  if (ft === null || ft <= 0n || ft >= FILETIME_NEVER) return null;
  return Number((ft - FILETIME_EPOCH_OFFSET) / 10_000n);
}

/** uSNChanged as a mark: zero-padded to 20 digits, so string order is numeric order. */
export function usnMark(usn: bigint | string): string {
  return BigInt(usn).toString().padStart(20, "0");
}

/** Attributes to request for users. */
export function adUserAttributes(map: AttributeMap): string[] {
  return userAttributes(
    [
      "objectGUID",
      "uSNChanged",
      "userAccountControl",
      "msDS-User-Account-Control-Computed",
      "lockoutTime",
      "pwdLastSet",
      "msDS-UserPasswordExpiryTimeComputed",
    ],
    map,
  );
}

export function mapAdEntry(entry: Entry, map: AttributeMap): MapResult {
  const dn = entry.dn;
  const guid = firstBuffer(entry, "objectGUID");
  if (guid?.length !== 16) return { ok: false, dn, reason: "no readable objectGUID" };
  const username = first(entry, map.username);
  if (!username) return { ok: false, dn, reason: `no ${map.username}` };
  const uac = firstInt(entry, "userAccountControl") ?? 0;
  const computed = firstInt(entry, "msDS-User-Account-Control-Computed");
  const lockoutTime = firstBigInt(entry, "lockoutTime");
  const usn = firstBigInt(entry, "uSNChanged") ?? 0n;
  const anchor = guidToUuid(guid);
  const expires =
    (uac & UAC_DONT_EXPIRE_PASSWD) !== 0
      ? null
      : filetimeToEpochMs(firstBigInt(entry, "msDS-UserPasswordExpiryTimeComputed"));
  return {
    ok: true,
    user: {
      memberKey: anchor,
      mark: usnMark(usn),
      version: usn.toString(),
      user: {
        anchor,
        dn,
        username,
        upn: map.upn ? first(entry, map.upn) : null,
        displayName:
          first(entry, map.displayName) ??
          (map.displayNameFallback ? first(entry, map.displayNameFallback) : null),
        givenName: first(entry, map.givenName),
        surname: first(entry, map.surname),
        mail: first(entry, map.mail),
        mobile: first(entry, map.mobile),
        telephoneNumber: first(entry, map.telephoneNumber),
        enabled: (uac & UAC_ACCOUNTDISABLE) === 0,
        locked: computed !== null ? (computed & UF_LOCKOUT) !== 0 : (lockoutTime ?? 0n) > 0n,
        passwordLastSet: filetimeToEpochMs(firstBigInt(entry, "pwdLastSet")),
        passwordExpiresAt: expires,
      },
    },
  };
}
