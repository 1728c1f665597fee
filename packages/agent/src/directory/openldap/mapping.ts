/**
 * OpenLDAP (and other RFC 3062 directories with ppolicy) entries → synced users.
 *
 * - Anchor: entryUUID (RFC 4530), lower-cased.
 * - Disabled vs locked, from ppolicy's pwdAccountLockedTime:
 *   · `000001010000Z` is ppolicy's "locked until an administrator unlocks it" value — an
 *     administrative lock: the account is reported **disabled** (enabled false, locked false), so
 *     self-service never offers to unlock it;
 *   · any other value is a lockout after failed binds: **locked** (enabled true). ppolicy keeps the
 *     attribute until the next successful bind even after pwdLockoutDuration, so a lockout that has
 *     run out still shows as locked until then.
 * - passwordLastSet: pwdChangedTime. passwordExpiresAt: pwdChangedTime + pwdMaxAge of the user's
 *   policy (pwdPolicySubentry, else the configured default policy) when pwdMaxAge > 0.
 * - mark: modifyTimestamp; version: entryCSN when the server keeps it (OpenLDAP does), which changes
 *   with every write even within the same second.
 */
import type { Entry } from "ldapts";
import { normalizeDn } from "../dn.js";
import { type AttributeMap, type MapResult, userAttributes } from "../types.js";

export type { MapResult };

import { first } from "../values.js";

export const ADMIN_LOCK_TIME = "000001010000Z";

export const OPENLDAP_DEFAULT_ATTRIBUTES: AttributeMap = {
  username: "uid",
  upn: null,
  displayName: "displayName",
  displayNameFallback: "cn",
  givenName: "givenName",
  surname: "sn",
  mail: "mail",
  mobile: "mobile",
  telephoneNumber: "telephoneNumber",
};

export const OPENLDAP_DEFAULT_USER_FILTER = "(objectClass=inetOrgPerson)";
export const OPENLDAP_DEFAULT_GROUP_FILTER = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))";

const GENERALIZED = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{2}(?:\d{2})?)$/;

/** RFC 4517 GeneralizedTime → epoch ms, or null when it does not parse. */
export function generalizedTimeToMs(value: string | null): number | null {
  if (!value) return null;
  const m = GENERALIZED.exec(value.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi = "00", s = "00", frac, zone = "Z"] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (frac) ms += Math.floor(Number(`0.${frac}`) * 1000);
  if (zone !== "Z") {
    const sign = zone.startsWith("-") ? -1 : 1;
    const hh = Number(zone.slice(1, 3));
    const mm = Number(zone.slice(3, 5) || "0");
    ms -= sign * (hh * 60 + mm) * 60_000;
  }
  return Number.isFinite(ms) ? ms : null;
}

/** Epoch ms → YYYYMMDDhhmmssZ (UTC, whole seconds): the form marks and filters use. */
export function msToGeneralizedTime(ms: number): string {
  const d = new Date(Math.max(0, ms));
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(
    d.getUTCMinutes(),
  )}${p(d.getUTCSeconds())}Z`;
}

export function openLdapUserAttributes(map: AttributeMap): string[] {
  return userAttributes(
    [
      "entryUUID",
      "entryCSN",
      "modifyTimestamp",
      "pwdAccountLockedTime",
      "pwdChangedTime",
      "pwdPolicySubentry",
    ],
    map,
  );
}

/** `maxAgeSeconds(policyDn)` returns the policy's pwdMaxAge (0 or null: never expires). */
export function mapOpenLdapEntry(
  entry: Entry,
  map: AttributeMap,
  maxAgeSeconds: (policyDn: string | null) => number | null,
): MapResult {
  const dn = entry.dn;
  const uuid = first(entry, "entryUUID");
  if (!uuid) return { ok: false, dn, reason: "no entryUUID" };
  const username = first(entry, map.username);
  if (!username) return { ok: false, dn, reason: `no ${map.username}` };
  const lockedTime = first(entry, "pwdAccountLockedTime");
  const adminLocked = lockedTime === ADMIN_LOCK_TIME;
  const changed = generalizedTimeToMs(first(entry, "pwdChangedTime"));
  const maxAge = maxAgeSeconds(first(entry, "pwdPolicySubentry"));
  const modified = generalizedTimeToMs(first(entry, "modifyTimestamp"));
  const mark = msToGeneralizedTime(modified ?? 0);
  return {
    ok: true,
    user: {
      memberKey: normalizeDn(dn),
      mark,
      version: first(entry, "entryCSN") ?? first(entry, "modifyTimestamp") ?? mark,
      user: {
        anchor: uuid.toLowerCase(),
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
        enabled: !adminLocked,
        locked: lockedTime !== null && !adminLocked,
        passwordLastSet: changed,
        passwordExpiresAt: changed !== null && maxAge !== null && maxAge > 0 ? changed + maxAge * 1000 : null,
      },
    },
  };
}
