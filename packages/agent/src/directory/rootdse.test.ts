/**
 * RootDSE discovery: the pure classifier on entries shaped like the real ones, then the real probe
 * against the test environment's Samba AD DC and slapd (strict TLS with the run's CA).
 */
import { describe, expect, it } from "vitest";
import { getTestEnv } from "../../../../test-env/env.js";
import { classifyRootDse, describeRootDse, OID, probeDirectory } from "./rootdse.js";

describe("classifyRootDse", () => {
  it("recognises Active Directory by its capability, with policy hints", () => {
    const r = classifyRootDse({
      dn: "",
      supportedCapabilities: [OID.AD_CAPABILITY, "1.2.840.113556.1.4.1670"],
      supportedControl: ["1.2.840.113556.1.4.319", OID.POLICY_HINTS],
      supportedExtension: [OID.START_TLS],
      defaultNamingContext: "DC=lab,DC=example,DC=test",
    });
    expect(r).toMatchObject({ dialect: "ad", passwordOperation: "unicodePwd", policyHints: true });
    expect(r.defaultNamingContext).toBe("DC=lab,DC=example,DC=test");
  });

  it("recognises OpenLDAP by RFC 3062 Password Modify, even with a single value", () => {
    const r = classifyRootDse({
      dn: "",
      supportedExtension: OID.PASSWORD_MODIFY,
      supportedControl: [OID.PPOLICY],
      namingContexts: "dc=example,dc=test",
    });
    expect(r).toMatchObject({
      dialect: "openldap",
      passwordOperation: "passwordModify",
      ppolicy: true,
      policyHints: false,
    });
    expect(r.namingContexts).toEqual(["dc=example,dc=test"]);
  });

  it("says plainly when neither fits", () => {
    const r = classifyRootDse({ dn: "", supportedExtension: [OID.START_TLS] });
    expect(r.dialect).toBe("unsupported");
    expect(r.passwordOperation).toBeNull();
    expect(describeRootDse(r)).toContain("unsupported");
  });
});

describe("probeDirectory against the real directories", () => {
  it("finds Active Directory on Samba over ldaps:// and over StartTLS, bound as the agent", async () => {
    const { ad, caPem } = getTestEnv();
    const bind = { dn: ad.serviceDn, password: ad.servicePassword };
    const viaLdaps = await probeDirectory({ url: ad.url, startTls: false, caPem, bind });
    expect(viaLdaps.dialect).toBe("ad");
    expect(viaLdaps.supportedCapabilities).toContain(OID.AD_CAPABILITY);
    expect(viaLdaps.defaultNamingContext?.toLowerCase()).toBe(ad.baseDn.toLowerCase());
    const viaStartTls = await probeDirectory({ url: ad.starttlsUrl, startTls: true, caPem, bind });
    expect(viaStartTls.dialect).toBe("ad");
  });

  it("finds OpenLDAP with Password Modify on slapd over StartTLS and ldaps://", async () => {
    const { openldap, caPem } = getTestEnv();
    const bind = { dn: openldap.serviceDn, password: openldap.servicePassword };
    const viaStartTls = await probeDirectory({ url: openldap.url, startTls: true, caPem, bind });
    expect(viaStartTls.dialect).toBe("openldap");
    expect(viaStartTls.supportedExtension).toContain(OID.PASSWORD_MODIFY);
    const viaLdaps = await probeDirectory({ url: openldap.ldapsUrl, startTls: false, caPem });
    expect(viaLdaps.dialect).toBe("openldap");
  });

  it("refuses a certificate from an unknown CA, and plain ldap:// without StartTLS", async () => {
    const { ad, openldap } = getTestEnv();
    // No CA given: the system store does not know the run's throwaway CA, so TLS must fail.
    await expect(probeDirectory({ url: ad.url, startTls: false })).rejects.toThrow();
    await expect(probeDirectory({ url: openldap.url, startTls: true })).rejects.toThrow();
    await expect(probeDirectory({ url: openldap.url, startTls: false })).rejects.toThrow(/StartTLS/);
  });

  it("reports a wrong service password as a failure", async () => {
    const { ad, caPem } = getTestEnv();
    await expect(
      probeDirectory({
        url: ad.url,
        startTls: false,
        caPem,
        bind: { dn: ad.serviceDn, password: "wrong-password" },
      }),
    ).rejects.toThrow();
  });
});
