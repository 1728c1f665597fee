/**
 * Opening a directory connection the only way the agent does: ldaps://, or ldap:// upgraded with
 * StartTLS before anything else is sent; certificates always verified (strictTlsOptions); then a
 * simple bind as the service account. There is no switch to turn TLS or verification off.
 */
import { Client } from "ldapts";
import { strictTlsOptions } from "./rootdse.js";

export interface DirectoryTarget {
  url: string;
  startTls: boolean;
  caFile?: string | null;
  /** Inline PEM (tests); used before caFile. */
  caPem?: string;
  bindDn: string;
  password: string;
  timeoutMs: number;
}

/** A connected, TLS-protected, bound client. The caller unbinds it. */
export async function connectDirectory(target: DirectoryTarget): Promise<Client> {
  const plain = target.url.toLowerCase().startsWith("ldap://");
  if (plain && !target.startTls) throw new Error("refusing plain ldap:// without StartTLS");
  if (!target.password) throw new Error("refusing an empty bind password (it would be an anonymous bind)");
  const tlsOptions = strictTlsOptions(target);
  const client = new Client({
    url: target.url,
    timeout: target.timeoutMs,
    connectTimeout: target.timeoutMs,
    ...(plain ? {} : { tlsOptions }),
  });
  try {
    if (plain) await client.startTLS(tlsOptions);
    await client.bind(target.bindDn, target.password);
    return client;
  } catch (e) {
    await client.unbind().catch(() => {});
    throw e;
  }
}

/** An LDAP error as one secret-free line: ldapts appends the result code; diagnostics never hold passwords. */
export function describeLdapError(e: unknown): string {
  if (!(e instanceof Error)) return String(e).slice(0, 300);
  const code = (e as { code?: unknown }).code;
  const msg = e.message.replace(/\s+/g, " ").trim().slice(0, 300);
  return typeof code === "number" && !msg.includes("Code:") ? `${msg} (LDAP ${code})` : msg;
}
