/**
 * The dialect mappings on their own: objectGUID byte order checked against the DC's own string form
 * (the Extended DN control, 1.2.840.113556.1.4.529, flag 1: "<GUID=…>" as AD prints it — an
 * independent source), FILETIME and GeneralizedTime conversions, the flag rules.
 */
import { BerWriter, Client, Control } from "ldapts";
import { describe, expect, it } from "vitest";
import { getTestEnv, strictTls } from "../../../../test-env/env.js";
import {
  AD_DEFAULT_ATTRIBUTES,
  filetimeToEpochMs,
  guidToUuid,
  mapAdEntry,
  uuidToGuid,
} from "./ad/mapping.js";
import { escapeFilterValue, isUnder, namingContextOf, normalizeDn } from "./dn.js";
import {
  generalizedTimeToMs,
  mapOpenLdapEntry,
  msToGeneralizedTime,
  OPENLDAP_DEFAULT_ATTRIBUTES,
} from "./openldap/mapping.js";

class ExtendedDnControl extends Control {
  constructor() {
    super("1.2.840.113556.1.4.529", { critical: true });
  }
  protected override writeControl(writer: BerWriter): void {
    const v = new BerWriter();
    v.startSequence();
    v.writeInt(1); // string GUID/SID form
    v.endSequence();
    writer.writeBuffer(v.buffer, 4);
  }
}

describe("objectGUID → UUID", () => {
  it("matches the GUID string the DC itself prints (Extended DN control) for every seeded user", async () => {
    const env = getTestEnv();
    const c = new Client({ url: env.ad.url, tlsOptions: strictTls() });
    try {
      await c.bind(env.ad.serviceDn, env.ad.servicePassword);
      const { searchEntries } = await c.search(
        env.ad.usersDn,
        {
          filter: "(objectClass=user)",
          attributes: ["objectGUID"],
          explicitBufferAttributes: ["objectGUID"],
        },
        new ExtendedDnControl(),
      );
      expect(searchEntries.length).toBeGreaterThanOrEqual(4);
      for (const e of searchEntries) {
        const printed = /<GUID=([0-9a-f-]{36})>/i.exec(e.dn)?.[1];
        expect(printed, e.dn).toBeDefined();
        const mine = guidToUuid(e.objectGUID as Buffer);
        expect(mine).toBe(printed?.toLowerCase());
        expect(uuidToGuid(mine).equals(e.objectGUID as Buffer)).toBe(true);
      }
    } finally {
      await c.unbind();
    }
  });

  it("puts the first three fields little-endian", () => {
    const raw = Buffer.from("00112233445566778899aabbccddeeff", "hex");
    expect(guidToUuid(raw)).toBe("33221100-5544-7766-8899-aabbccddeeff");
    expect(() => guidToUuid(Buffer.alloc(15))).toThrow();
  });
});

describe("time conversions", () => {
  it("FILETIME: 100 ns since 1601; 0 and never are null", () => {
    expect(filetimeToEpochMs(116_444_736_000_000_000n)).toBe(0);
    expect(filetimeToEpochMs(133_485_408_000_000_000n)).toBe(Date.UTC(2024, 0, 1));
    expect(filetimeToEpochMs(0n)).toBeNull();
    expect(filetimeToEpochMs(0x7fffffffffffffffn)).toBeNull();
    expect(filetimeToEpochMs(null)).toBeNull();
  });

  it("GeneralizedTime: Z, fractions, offsets; formatting back", () => {
    expect(generalizedTimeToMs("20240101120000Z")).toBe(Date.UTC(2024, 0, 1, 12));
    expect(generalizedTimeToMs("20240101120000.250Z")).toBe(Date.UTC(2024, 0, 1, 12) + 250);
    expect(generalizedTimeToMs("20240101120000+0130")).toBe(Date.UTC(2024, 0, 1, 10, 30));
    expect(generalizedTimeToMs("202401011200Z")).toBe(Date.UTC(2024, 0, 1, 12));
    expect(generalizedTimeToMs("garbage")).toBeNull();
    expect(msToGeneralizedTime(Date.UTC(2024, 0, 1, 12, 0, 5, 999))).toBe("20240101120005Z");
  });
});

describe("flag rules", () => {
  const guid = Buffer.from("00112233445566778899aabbccddeeff", "hex");
  const ad = (extra: Record<string, string | string[]>) =>
    mapAdEntry(
      { dn: "CN=x,DC=a", objectGUID: guid, sAMAccountName: "x", uSNChanged: "42", ...extra },
      AD_DEFAULT_ATTRIBUTES,
    );

  it("AD: disabled is UAC bit 2; locked from the computed UAC bit 16, else lockoutTime", () => {
    expect(ad({ userAccountControl: "514" })).toMatchObject({
      ok: true,
      user: { user: { enabled: false, locked: false } },
    });
    expect(ad({ userAccountControl: "512", "msDS-User-Account-Control-Computed": "16" })).toMatchObject({
      user: { user: { enabled: true, locked: true } },
    });
    // The DC computes the lockout's end: a lockoutTime whose duration ran out shows 0 there.
    expect(
      ad({ "msDS-User-Account-Control-Computed": "0", lockoutTime: "133485408000000000" }),
    ).toMatchObject({
      user: { user: { locked: false } },
    });
    expect(ad({ lockoutTime: "133485408000000000" })).toMatchObject({ user: { user: { locked: true } } });
    expect(
      ad({ userAccountControl: "66048", "msDS-UserPasswordExpiryTimeComputed": "133485408000000000" }),
    ).toMatchObject({
      user: { user: { passwordExpiresAt: null } },
    });
    expect(ad({ "msDS-UserPasswordExpiryTimeComputed": "133485408000000000" })).toMatchObject({
      user: { user: { passwordExpiresAt: Date.UTC(2024, 0, 1) }, mark: "00000000000000000042" },
    });
    expect(mapAdEntry({ dn: "CN=y", sAMAccountName: "y" }, AD_DEFAULT_ATTRIBUTES)).toMatchObject({
      ok: false,
    });
  });

  it("OpenLDAP: 000001010000Z is disabled, another lock time is locked; no entryUUID is skipped", () => {
    const ol = (extra: Record<string, string | string[]>) =>
      mapOpenLdapEntry(
        {
          dn: "uid=x,dc=a",
          entryUUID: "A102252A-7E61-1041-8F50-CB7C521E29E7",
          uid: "x",
          cn: "X Y",
          ...extra,
        },
        OPENLDAP_DEFAULT_ATTRIBUTES,
        () => 3600,
      );
    expect(ol({ pwdAccountLockedTime: "000001010000Z" })).toMatchObject({
      user: { user: { enabled: false, locked: false } },
    });
    expect(ol({ pwdAccountLockedTime: "20260101000000Z" })).toMatchObject({
      user: { user: { enabled: true, locked: true } },
    });
    expect(ol({ pwdChangedTime: "20240101000000Z" })).toMatchObject({
      user: {
        user: {
          anchor: "a102252a-7e61-1041-8f50-cb7c521e29e7",
          displayName: "X Y",
          passwordLastSet: Date.UTC(2024, 0, 1),
          passwordExpiresAt: Date.UTC(2024, 0, 1) + 3_600_000,
        },
      },
    });
    expect(
      mapOpenLdapEntry({ dn: "uid=z", uid: "z" }, OPENLDAP_DEFAULT_ATTRIBUTES, () => null),
    ).toMatchObject({ ok: false });
  });
});

describe("DNs and filters", () => {
  it("normalizes, compares and escapes", () => {
    expect(normalizeDn("CN=Alice Liddell, OU=People ,DC=Lab")).toBe("cn=alice liddell,ou=people,dc=lab");
    expect(normalizeDn("cn=a\\,b,dc=x")).toBe("cn=a\\,b,dc=x");
    expect(isUnder("uid=a,ou=People,dc=x", "OU=people, DC=X")).toBe(true);
    expect(isUnder("uid=a,ou=peoplex,dc=x", "ou=people,dc=x")).toBe(false);
    expect(namingContextOf("ou=p,dc=x,dc=y", ["dc=y", "dc=x,dc=y", "cn=config"])).toBe("dc=x,dc=y");
    expect(escapeFilterValue("CN=A (B)*\\")).toBe("CN=A \\28B\\29\\2a\\5c");
  });
});
