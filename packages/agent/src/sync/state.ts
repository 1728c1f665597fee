/**
 * The sync state file: per directory, the cursor (the change mark a pass fully covered, and which
 * directory server it belongs to), the anchors the server holds, the membership sets, and the
 * versions of entries near the cursor. It lives next to the key file (mode 0600, atomic writes) and
 * is written only after the server acknowledged a whole pass, so an agent killed at any moment
 * resumes from the last acknowledged cursor: at worst it sends a pass again, never skips one.
 *
 * An unreadable or foreign state file (another agent id, another format) is set aside with a warning
 * and the agent starts with a full pass; a state file readable by group or others is refused.
 */
import { existsSync, readFileSync, renameSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { z } from "zod";
import { secretFileProblem, writeFileAtomic } from "../fs-atomic.js";
import type { AgentLogger } from "../log.js";

export const STATE_FORMAT = "latchkey-agent-state/1";

const directoryStateSchema = z.object({
  dialect: z.enum(["ad", "openldap"]),
  /** Hash of the configuration that decides which users are read and how. */
  fingerprint: z.string(),
  /** AD: the dsServiceName of the DC whose USNs the cursor counts. */
  server: z.string().nullable(),
  cursor: z.string().nullable(),
  /** When (agent clock, epoch ms) the cursor last moved: the overlap below it is re-read until then + overlap. */
  cursorAt: z.number().nullable().default(null),
  /** A pass read the overlap window late enough: the next window starts just above the cursor. */
  settled: z.boolean().default(false),
  /** Marks below this are final (a settled window read them): windows never reach below it again. */
  floor: z.string().nullable().default(null),
  /** Anchors the server holds for this directory, sorted. */
  anchors: z.array(z.string()),
  scope: z.array(z.string()).nullable(),
  admin: z.array(z.string()),
  groups: z.array(z.string()),
  /** key (anchor, or "g:" + group DN) → version, for entries at or after the cursor's window. */
  recent: z.record(z.string(), z.string()),
  passesSinceReconcile: z.number().int().min(0),
  lastFullAt: z.number().nullable(),
  lastPassAt: z.number().nullable(),
});
export type DirectoryState = z.infer<typeof directoryStateSchema>;

const stateSchema = z.object({
  format: z.literal(STATE_FORMAT),
  agentId: z.string(),
  directories: z.record(z.string(), directoryStateSchema),
});

/** `/etc/latchkey/agent.key` → `/etc/latchkey/agent.state.json`. */
export function defaultStatePath(keyFile: string): string {
  const base = basename(keyFile).replace(/\.key$/i, "");
  return join(dirname(keyFile), `${base}.state.json`);
}

export class StateFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StateFileError";
  }
}

export class StateStore {
  private directories: Record<string, DirectoryState> = {};

  private constructor(
    readonly path: string,
    private readonly agentId: string,
  ) {}

  /** Loads the state (or starts empty). Throws StateFileError for a file with unsafe permissions. */
  static load(path: string, agentId: string, log?: AgentLogger): StateStore {
    const store = new StateStore(path, agentId);
    if (!existsSync(path)) return store;
    const problem = secretFileProblem(path);
    if (problem) throw new StateFileError(`refusing the state file: ${problem}`);
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(path, "utf8"));
    } catch {
      data = undefined;
    }
    const parsed = stateSchema.safeParse(data);
    if (!parsed.success || parsed.data.agentId !== agentId) {
      const aside = `${path}.invalid-${Date.now()}`;
      try {
        renameSync(path, aside);
      } catch {
        // it will be overwritten by the next save
      }
      log?.warn(
        { stateFile: path, setAside: aside, reason: parsed.success ? "another agent id" : "unreadable" },
        "sync state not usable: starting with a full sync",
      );
      return store;
    }
    store.directories = parsed.data.directories;
    return store;
  }

  get(directoryId: string): DirectoryState | undefined {
    return this.directories[directoryId];
  }

  /** Replaces a directory's state and writes the file (atomic, 0600). */
  commit(directoryId: string, state: DirectoryState): void {
    this.directories[directoryId] = state;
    this.save();
  }

  /** Forgets a directory (the next pass is full). */
  forget(directoryId: string): void {
    delete this.directories[directoryId];
    this.save();
  }

  private save(): void {
    const content = { format: STATE_FORMAT, agentId: this.agentId, directories: this.directories };
    writeFileAtomic(this.path, JSON.stringify(content));
  }
}
