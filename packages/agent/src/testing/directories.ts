/**
 * TEST SUPPORT ONLY (excluded from the build): agent directory configurations for the test
 * environment's real Samba AD DC and slapd, bound as their least-privilege agent accounts, and a sink
 * that acknowledges every batch at once and keeps them (engine tests need no server).
 */

import type { TestEnv } from "../../../../test-env/types.js";
import { type AgentConfig, type AgentDirectoryConfig, agentConfigSchema } from "../config/schema.js";
import type { SyncAck, SyncBatch, SyncSink } from "../sync/sink.js";

export function adDirectory(env: TestEnv, extra: Record<string, unknown> = {}): AgentDirectoryConfig {
  return parseDirectory({
    id: "corp-ad",
    url: env.ad.url,
    caFile: env.caFile,
    bindDn: env.ad.serviceDn,
    bindPasswordEnv: "LATCHKEY_TEST_AD_PASSWORD",
    baseDn: env.ad.usersDn,
    scopeGroups: [env.ad.scopeGroupDn],
    adminGroups: [env.ad.adminGroupDn],
    ...extra,
  });
}

export function openLdapDirectory(env: TestEnv, extra: Record<string, unknown> = {}): AgentDirectoryConfig {
  return parseDirectory({
    id: "corp-ol",
    url: env.openldap.url,
    startTls: true,
    caFile: env.caFile,
    bindDn: env.openldap.serviceDn,
    bindPasswordEnv: "LATCHKEY_TEST_OL_PASSWORD",
    baseDn: env.openldap.usersDn,
    scopeGroups: [env.openldap.scopeGroupDn],
    adminGroups: [env.openldap.adminGroupDn],
    ...extra,
  });
}

function parseDirectory(d: Record<string, unknown>): AgentDirectoryConfig {
  const c = agentConfigSchema.parse({ server: { url: "https://127.0.0.1" }, directories: [d] });
  return c.directories[0] as AgentDirectoryConfig;
}

export function agentConfig(opts: {
  server: string;
  keyFile: string;
  directories: AgentDirectoryConfig[];
  sync?: Record<string, unknown>;
}): AgentConfig {
  return agentConfigSchema.parse({
    server: { url: opts.server },
    keyFile: opts.keyFile,
    directories: opts.directories,
    sync: opts.sync ?? {},
  });
}

/** The environment variables the directories above read their passwords from. */
export function directoryPasswords(env: TestEnv): NodeJS.ProcessEnv {
  return {
    LATCHKEY_TEST_AD_PASSWORD: env.ad.servicePassword,
    LATCHKEY_TEST_OL_PASSWORD: env.openldap.servicePassword,
  };
}

export class RecordingSink implements SyncSink {
  readonly batches: SyncBatch[] = [];
  async send(batch: SyncBatch): Promise<SyncAck> {
    this.batches.push(structuredClone(batch));
    return {
      syncId: batch.syncId,
      seq: batch.seq,
      upserted: batch.users.length,
      removed: batch.deleted.length,
      rejected: [],
    };
  }
  /** Batches of one pass. */
  pass(syncId: string): SyncBatch[] {
    return this.batches.filter((b) => b.syncId === syncId);
  }
}
