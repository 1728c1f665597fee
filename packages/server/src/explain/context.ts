/**
 * What an explanation is made from: the tenant's settings, the methods this server implements, the
 * message channels it can deliver on, and the directories with their agents. Read from the store the
 * way the running server sees it (agents' liveness through directory-link/liveness.ts), so the
 * explanation matches what would happen now.
 */
import type { Kysely } from "kysely";
import type { LoadedConfig } from "../config/load.js";
import { type MethodType, parseTenantSettings, type TenantSettings } from "../config/tenant-settings.js";
import { listStoredAgents } from "../directory-link/liveness.js";
import type { MethodRegistry } from "../methods/registry.js";
import type { Database, Tenant } from "../store/schema.js";

export interface DirectoryView {
  id: string;
  /** Dialects announced by the agents serving it ("ad", "openldap"); empty when unknown. */
  dialects: string[];
  agentsEnrolled: number;
  agentsOnline: number;
}

export interface ExplainContext {
  tenant: { name: string; slug: string };
  settings: TenantSettings;
  /** The method types this server runs (the method registry's keys). */
  implemented: readonly MethodType[];
  /** Whether a transport is configured for each channel (an unconfigured one cannot deliver). */
  channels: { email: boolean; sms: boolean; voice: boolean };
  directories: DirectoryView[];
  now: number;
}

/** The method types a registry implements, in the tenant-settings order. */
export function implementedMethods(registry: MethodRegistry): MethodType[] {
  return (Object.keys(registry) as MethodType[]).filter((k) => registry[k as keyof MethodRegistry]);
}

export function channelsOf(config: LoadedConfig["config"]): ExplainContext["channels"] {
  return {
    email: config.smtp !== null && config.smtp !== undefined ? true : config.demo === true,
    sms: config.sms.type !== "none" || config.demo === true,
    voice: config.voice.type !== "none" || config.demo === true,
  };
}

/** Directories named in the configuration or announced by an agent, with their agents' liveness. */
export async function directoriesOf(
  db: Kysely<Database>,
  tenantId: string,
  configured: readonly string[],
  now: number,
): Promise<DirectoryView[]> {
  const agents = await listStoredAgents(db, tenantId, now);
  const byId = new Map<string, DirectoryView>();
  const get = (id: string) => {
    let d = byId.get(id);
    if (!d) {
      d = { id, dialects: [], agentsEnrolled: 0, agentsOnline: 0 };
      byId.set(id, d);
    }
    return d;
  };
  for (const id of configured) get(id);
  for (const a of agents) {
    if (a.revokedAt !== null) continue;
    const ids = new Set([...(a.boundDirectory ? [a.boundDirectory] : []), ...a.directories.map((d) => d.id)]);
    for (const id of ids) {
      const d = get(id);
      d.agentsEnrolled++;
      if (a.online && a.directories.some((x) => x.id === id)) d.agentsOnline++;
      for (const x of a.directories)
        if (x.id === id && !d.dialects.includes(x.dialect)) d.dialects.push(x.dialect);
    }
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

export async function loadExplainContext(opts: {
  db: Kysely<Database>;
  tenant: Tenant;
  config: LoadedConfig["config"];
  implemented: readonly MethodType[];
  now: number;
}): Promise<ExplainContext> {
  return {
    tenant: { name: opts.tenant.name, slug: opts.tenant.slug },
    settings: parseTenantSettings(opts.tenant.settings_json),
    implemented: opts.implemented,
    channels: channelsOf(opts.config),
    directories: await directoriesOf(
      opts.db,
      opts.tenant.id,
      opts.config.directories.map((d) => d.id),
      opts.now,
    ),
    now: opts.now,
  };
}
