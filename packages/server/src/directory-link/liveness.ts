/**
 * When an agent counts as online, in one place. The instance holding an agent's link knows it
 * exactly (AgentRegistry). Every other process (`latchkey admin agents`, another instance) reads
 * the store: the link server closes a link silent for SILENT_INTERVALS heartbeat intervals, and
 * writes `agents.last_heartbeat_at` at most every `heartbeatWriteEveryMs`; so an agent whose row
 * names a link instance and whose last written heartbeat is younger than `onlineWindowMs()` is
 * online somewhere. A crashed instance leaves `link_instance` set, and the window ages it out.
 */
import { type DirectoryInfo, directoryInfoSchema } from "@latchkey/protocol";
import type { Kysely } from "kysely";
import { z } from "zod";
import type { Agent, Database } from "../store/schema.js";

/** How often agents are told to send a heartbeat (the `welcome` message carries it). */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 15_000;
/** A link silent for this many heartbeat intervals is closed. */
export const SILENT_INTERVALS = 3;
/** `last_heartbeat_at` is written at most this often per agent (the registry is updated on every heartbeat). */
export const DEFAULT_HEARTBEAT_WRITE_EVERY_MS = 30_000;

export interface LivenessTimings {
  heartbeatIntervalMs: number;
  heartbeatWriteEveryMs: number;
}

export const DEFAULT_TIMINGS: LivenessTimings = {
  heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
  heartbeatWriteEveryMs: DEFAULT_HEARTBEAT_WRITE_EVERY_MS,
};

/** How old a written heartbeat may be for the agent to count as online (75 s with the defaults). */
export function onlineWindowMs(t: LivenessTimings = DEFAULT_TIMINGS): number {
  return t.heartbeatWriteEveryMs + SILENT_INTERVALS * t.heartbeatIntervalMs;
}

const storedDirectories = z.array(directoryInfoSchema).max(50);

/** The directories stored with an agent (what it was accepted for at its last authentication). */
export function parseStoredDirectories(json: string): DirectoryInfo[] {
  try {
    const r = storedDirectories.safeParse(JSON.parse(json));
    return r.success ? r.data : [];
  } catch {
    return [];
  }
}

/** An agent as any process sees it through the store. */
export interface StoredAgent {
  id: string;
  tenantId: string;
  name: string;
  /** The directory the enrollment token bound it to; null: any directory it announces. */
  boundDirectory: string | null;
  /** Directories it was accepted for at its last authentication. */
  directories: DirectoryInfo[];
  version: string | null;
  enrolledAt: number;
  revokedAt: number | null;
  lastHeartbeatAt: number | null;
  /** Id of the instance holding its link (possibly stale: see `online`). */
  linkInstance: string | null;
  online: boolean;
}

export function storedAgentOf(
  row: Agent,
  now: number,
  timings: LivenessTimings = DEFAULT_TIMINGS,
): StoredAgent {
  const online =
    row.revoked_at === null &&
    row.link_instance !== null &&
    row.last_heartbeat_at !== null &&
    now - row.last_heartbeat_at <= onlineWindowMs(timings);
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    boundDirectory: row.directory_id,
    directories: parseStoredDirectories(row.directories_json),
    version: row.version,
    enrolledAt: row.enrolled_at,
    revokedAt: row.revoked_at,
    lastHeartbeatAt: row.last_heartbeat_at,
    linkInstance: row.link_instance,
    online,
  };
}

/** Every agent of a tenant, oldest enrollment first. */
export async function listStoredAgents(
  db: Kysely<Database>,
  tenantId: string,
  now: number,
  timings: LivenessTimings = DEFAULT_TIMINGS,
): Promise<StoredAgent[]> {
  const rows = await db
    .selectFrom("agents")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .orderBy("enrolled_at")
    .orderBy("id")
    .execute();
  return rows.map((r) => storedAgentOf(r, now, timings));
}

/**
 * The agents online on any instance that serve a directory, freshest heartbeat first: the
 * multi-instance answer to "can a writeback for this directory be delivered now?".
 */
export async function storedAgentsServing(
  db: Kysely<Database>,
  tenantId: string,
  directoryId: string,
  now: number,
  timings: LivenessTimings = DEFAULT_TIMINGS,
): Promise<StoredAgent[]> {
  const rows = await db
    .selectFrom("agents")
    .selectAll()
    .where("tenant_id", "=", tenantId)
    .where("revoked_at", "is", null)
    .where("link_instance", "is not", null)
    .where("last_heartbeat_at", ">=", now - onlineWindowMs(timings))
    .orderBy("last_heartbeat_at", "desc")
    .execute();
  return rows
    .map((r) => storedAgentOf(r, now, timings))
    .filter((a) => a.directories.some((d) => d.id === directoryId));
}
