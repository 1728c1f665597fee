/**
 * RootDSE discovery: what kind of directory is this, and which password operations does it offer?
 * Read once at start (as Authelia's LDAP layer does); the dialect decides how a password is set:
 * - Active Directory (capability 1.2.840.113556.1.4.800): replace unicodePwd, with the policy-hints
 *   control (1.2.840.113556.1.4.2239, or the older …2066) where offered so history applies;
 * - OpenLDAP and others with the RFC 3062 Password Modify extended operation (1.3.6.1.4.1.4203.1.11.1).
 * Anything else is reported as unsupported rather than guessed at.
 *
 * Connections are always TLS with certificate verification: ldaps://, or ldap:// upgraded with
 * StartTLS before the bind. There is no option to turn verification off.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { ConnectionOptions } from "node:tls";
import { Client, type Entry } from "ldapts";

export const OID = {
  AD_CAPABILITY: "1.2.840.113556.1.4.800",
  PASSWORD_MODIFY: "1.3.6.1.4.1.4203.1.11.1",
  POLICY_HINTS: "1.2.840.113556.1.4.2239",
  POLICY_HINTS_DEPRECATED: "1.2.840.113556.1.4.2066",
  START_TLS: "1.3.6.1.4.1.1466.20037",
  PPOLICY: "1.3.6.1.4.1.42.2.27.8.5.1",
} as const;

export type Dialect = "ad" | "openldap" | "unsupported";

export interface RootDse {
  dialect: Dialect;
  /** AD: replace unicodePwd. OpenLDAP: the Password Modify extended operation. */
  passwordOperation: "unicodePwd" | "passwordModify" | null;
  /** AD only: the DC accepts the policy-hints control (history and age rules apply to resets). */
  policyHints: boolean;
  /** OpenLDAP: the ppolicy control is offered. */
  ppolicy: boolean;
  vendorName: string | null;
  vendorVersion: string | null;
  namingContexts: string[];
  defaultNamingContext: string | null;
  supportedExtension: string[];
  supportedControl: string[];
  supportedCapabilities: string[];
}

/** The RootDSE attributes we ask for (operational ones are not returned unless named). */
export const ROOT_DSE_ATTRIBUTES = [
  "supportedExtension",
  "supportedControl",
  "supportedCapabilities",
  "supportedLDAPVersion",
  "namingContexts",
  "defaultNamingContext",
  "vendorName",
  "vendorVersion",
  "dnsHostName",
] as const;

function values(entry: Entry, name: string): string[] {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === name.toLowerCase());
  if (!key) return [];
  const v = entry[key];
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return list.map((x) => (Buffer.isBuffer(x) ? x.toString("utf8") : String(x)));
}

/** Classifies a RootDSE entry (pure: tests feed it captured entries). */
export function classifyRootDse(entry: Entry): RootDse {
  const supportedExtension = values(entry, "supportedExtension");
  const supportedControl = values(entry, "supportedControl");
  const supportedCapabilities = values(entry, "supportedCapabilities");
  const isAd = supportedCapabilities.includes(OID.AD_CAPABILITY);
  const hasPasswordModify = supportedExtension.includes(OID.PASSWORD_MODIFY);
  const dialect: Dialect = isAd ? "ad" : hasPasswordModify ? "openldap" : "unsupported";
  return {
    dialect,
    passwordOperation: dialect === "ad" ? "unicodePwd" : dialect === "openldap" ? "passwordModify" : null,
    policyHints:
      isAd &&
      (supportedControl.includes(OID.POLICY_HINTS) || supportedControl.includes(OID.POLICY_HINTS_DEPRECATED)),
    ppolicy: supportedControl.includes(OID.PPOLICY),
    vendorName: values(entry, "vendorName")[0] ?? null,
    vendorVersion: values(entry, "vendorVersion")[0] ?? null,
    namingContexts: values(entry, "namingContexts"),
    defaultNamingContext: values(entry, "defaultNamingContext")[0] ?? null,
    supportedExtension,
    supportedControl,
    supportedCapabilities,
  };
}

/** A one-line description for logs and the CLI. */
export function describeRootDse(r: RootDse): string {
  switch (r.dialect) {
    case "ad":
      return `Active Directory (password via unicodePwd; policy hints ${r.policyHints ? "supported" : "not supported: history is not enforced on resets"})`;
    case "openldap":
      return `OpenLDAP-compatible (RFC 3062 Password Modify${r.ppolicy ? ", ppolicy control" : ""})${r.vendorName ? ` — ${r.vendorName}` : ""}`;
    default:
      return "unsupported: neither Active Directory nor the RFC 3062 Password Modify operation";
  }
}

export interface ProbeTarget {
  url: string;
  startTls: boolean;
  /** PEM CA file; the system's CAs when absent. */
  caFile?: string | null;
  /** PEM CA inline (tests); used before caFile. */
  caPem?: string;
  /** Bind before reading (checks the service account too); anonymous when absent. */
  bind?: { dn: string; password: string };
  timeoutMs?: number;
}

/** Strict TLS options for a directory URL: verification on, TLS 1.2 at least, SNI by host name. */
export function strictTlsOptions(target: Pick<ProbeTarget, "url" | "caFile" | "caPem">): ConnectionOptions {
  const host = new URL(target.url).hostname.replace(/^\[|\]$/g, "");
  const ca = target.caPem ?? (target.caFile ? readFileSync(target.caFile, "utf8") : undefined);
  return {
    rejectUnauthorized: true,
    minVersion: "TLSv1.2",
    ...(ca ? { ca: [ca] } : {}),
    ...(isIP(host) === 0 ? { servername: host } : {}),
  };
}

/** Reads the RootDSE over an already connected (and, for ldap://, upgraded) client. */
export async function readRootDse(client: Client): Promise<RootDse> {
  const { searchEntries } = await client.search("", {
    scope: "base",
    filter: "(objectClass=*)",
    attributes: [...ROOT_DSE_ATTRIBUTES],
  });
  const entry = searchEntries[0];
  if (!entry) throw new Error("the directory returned no RootDSE entry");
  return classifyRootDse(entry);
}

/** Connects with strict TLS (StartTLS first for ldap://), binds when asked, reads the RootDSE, disconnects. */
export async function probeDirectory(target: ProbeTarget): Promise<RootDse> {
  const plain = target.url.toLowerCase().startsWith("ldap://");
  if (plain && !target.startTls) throw new Error("refusing plain ldap:// without StartTLS");
  const tlsOptions = strictTlsOptions(target);
  const client = new Client({
    url: target.url,
    timeout: target.timeoutMs ?? 10_000,
    connectTimeout: target.timeoutMs ?? 10_000,
    ...(plain ? {} : { tlsOptions }),
  });
  try {
    if (plain) await client.startTLS(tlsOptions);
    if (target.bind) await client.bind(target.bind.dn, target.bind.password);
    return await readRootDse(client);
  } finally {
    await client.unbind().catch(() => {});
  }
}
