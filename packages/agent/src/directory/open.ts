/**
 * Opens a sync session on one configured directory: connect with strict TLS, bind as the service
 * account, read the RootDSE, and pick the dialect it shows (AD, or OpenLDAP with RFC 3062). A
 * configured dialect that the RootDSE contradicts, or a directory that is neither, is refused.
 */
import type { AgentConfig, AgentDirectoryConfig } from "../config/schema.js";
import { AdSession } from "./ad/session.js";
import { connectDirectory } from "./connect.js";
import { OpenLdapSession } from "./openldap/session.js";
import { describeRootDse, readRootDse } from "./rootdse.js";
import { resolveSessionConfig } from "./session-config.js";
import type { DirectorySession } from "./types.js";

export interface OpenSessionOptions {
  directory: AgentDirectoryConfig;
  password: string;
  sync: Pick<AgentConfig["sync"], "pageSize" | "overlapSeconds">;
  /** Inline CA PEM (tests); else directory.caFile; else the system's CAs. */
  caPem?: string;
}

export class DialectError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DialectError";
  }
}

export async function openDirectorySession(opts: OpenSessionOptions): Promise<DirectorySession> {
  const d = opts.directory;
  const client = await connectDirectory({
    url: d.url,
    startTls: d.startTls,
    caFile: d.caFile,
    ...(opts.caPem ? { caPem: opts.caPem } : {}),
    bindDn: d.bindDn,
    password: opts.password,
    timeoutMs: d.timeoutMs,
  });
  try {
    const dse = await readRootDse(client);
    if (dse.dialect === "unsupported") throw new DialectError(`directory ${d.id}: ${describeRootDse(dse)}`);
    if (d.dialect !== "auto" && d.dialect !== dse.dialect)
      throw new DialectError(
        `directory ${d.id}: configured as ${d.dialect} but the RootDSE says ${dse.dialect}`,
      );
    const cfg = resolveSessionConfig(d, dse.dialect, opts.sync);
    return dse.dialect === "ad"
      ? await AdSession.open(client, cfg, dse)
      : await OpenLdapSession.open(client, cfg, dse);
  } catch (e) {
    await client.unbind().catch(() => {});
    throw e;
  }
}
