// Bookkeeping that makes the harness safe to crash and safe to run twice at once.
//
// Every run writes a record to <tmpdir>/latchkey-test-env/runs/<runId>.json naming its owner (the
// vitest process) and the daemons it started. At startup each run "sweeps": records whose owner is
// gone belong to a crashed run, and their daemons are stopped. Live runs (another engineer's vitest
// in the same or another checkout) are never touched.
//
// The Samba AD DC cannot move off 389/636, so there is one per machine, shared by the runs that are
// alive at the same time (see lib/samba.ts); samba.lock is the mutex around attaching and detaching.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { exeOf, groupMembers, isAlive, killAndWait, readPidFile, sleep, startTimeOf } from "./proc.js";

export const stateDir = join(tmpdir(), "latchkey-test-env");
const runsDir = join(stateDir, "runs");
const sambaLockDir = join(stateDir, "samba.lock");

export interface DaemonRecord {
  name: string;
  /** Basename of the executable we expect behind the pid (checked before killing a recorded pid). */
  exe: string;
  pid?: number;
  /** /proc start time of `pid`, to tell it from a reused pid. */
  start?: string;
  /** Where the daemon writes its pid, for daemons that were starting when the run died. */
  pidFile?: string;
  stopSignal: NodeJS.Signals;
}

export interface RunRecord {
  runId: string;
  runDir: string;
  ownerPid: number;
  ownerStart: string | undefined;
  startedAt: string;
  daemons: DaemonRecord[];
  /** Directories to delete when the run is swept (e.g. a throwaway PostgreSQL data directory). */
  cleanupPaths: string[];
}

function recordPath(runId: string): string {
  return join(runsDir, `${runId}.json`);
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

function readRecord(path: string): RunRecord | undefined {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as RunRecord;
  } catch {
    return undefined;
  }
}

export function isRunLive(rec: Pick<RunRecord, "ownerPid" | "ownerStart">): boolean {
  return (
    isAlive(rec.ownerPid) && (rec.ownerStart === undefined || startTimeOf(rec.ownerPid) === rec.ownerStart)
  );
}

/** The runs (other than ours) whose owner process is still alive. */
export function liveRuns(exceptRunId?: string): RunRecord[] {
  let files: string[];
  try {
    files = readdirSync(runsDir);
  } catch {
    return [];
  }
  const out: RunRecord[] = [];
  for (const f of files) {
    if (!f.endsWith(".json")) continue;
    const rec = readRecord(join(runsDir, f));
    if (rec && rec.runId !== exceptRunId && isRunLive(rec)) out.push(rec);
  }
  return out;
}

function daemonPid(d: DaemonRecord): number | undefined {
  if (d.pid !== undefined) {
    if (!isAlive(d.pid)) return undefined;
    if (d.start !== undefined && startTimeOf(d.pid) !== d.start) return undefined;
    return d.pid;
  }
  if (d.pidFile === undefined) return undefined;
  const pid = readPidFile(d.pidFile);
  if (pid === undefined || !isAlive(pid)) return undefined;
  const exe = exeOf(pid);
  return exe !== undefined && basename(exe) === d.exe ? pid : undefined;
}

/** Members of the daemon's process group still running its executable, after the leader died
 * (e.g. Samba workers whose root process failed during startup). */
function orphans(d: DaemonRecord): number[] {
  const pgid = d.pid ?? (d.pidFile === undefined ? undefined : readPidFile(d.pidFile));
  if (pgid === undefined || isAlive(pgid)) return [];
  return groupMembers(pgid).filter((p) => {
    const exe = exeOf(p);
    return exe !== undefined && basename(exe) === d.exe;
  });
}

export async function stopDaemon(d: DaemonRecord, timeoutMs = 15_000): Promise<void> {
  const pid = daemonPid(d);
  if (pid !== undefined) await killAndWait(pid, d.stopSignal, timeoutMs);
  await Promise.all(orphans(d).map((p) => killAndWait(p, "SIGTERM", 5_000)));
}

/** Stops what crashed runs left behind. Returns a line per swept run, for the log. */
export async function sweepDeadRuns(): Promise<string[]> {
  let files: string[];
  try {
    files = readdirSync(runsDir);
  } catch {
    return [];
  }
  const notes: string[] = [];
  await Promise.all(
    files
      .filter((f) => f.endsWith(".json"))
      .map(async (f) => {
        const path = join(runsDir, f);
        const rec = readRecord(path);
        if (rec && isRunLive(rec)) return;
        if (rec) {
          const running = rec.daemons
            .filter((d) => daemonPid(d) !== undefined || orphans(d).length > 0)
            .map((d) => d.name);
          await Promise.all(rec.daemons.map((d) => stopDaemon(d)));
          for (const p of rec.cleanupPaths) rmSync(p, { recursive: true, force: true });
          if (running.length > 0) {
            notes.push(
              `stopped ${running.join(", ")} left running by crashed run ${rec.runId} (${rec.runDir})`,
            );
          }
        }
        rmSync(path, { force: true });
      }),
  );
  return notes;
}

/** Our own run: a record on disk kept in step with the daemons we start. */
export class RunRegistry {
  readonly record: RunRecord;
  private exitHook = (): void => this.killAllSync();

  constructor(runId: string, runDir: string) {
    mkdirSync(runsDir, { recursive: true });
    this.record = {
      runId,
      runDir,
      ownerPid: process.pid,
      ownerStart: startTimeOf(process.pid),
      startedAt: new Date().toISOString(),
      daemons: [],
      cleanupPaths: [],
    };
    this.save();
    process.on("exit", this.exitHook);
  }

  private save(): void {
    writeJsonAtomic(recordPath(this.record.runId), this.record);
  }

  /** Record a daemon before starting it (with its pid file) and again once its pid is known. */
  addDaemon(d: DaemonRecord): DaemonRecord {
    const existing = this.record.daemons.find((x) => x.name === d.name);
    if (existing) Object.assign(existing, d);
    else this.record.daemons.push(d);
    this.save();
    return existing ?? d;
  }

  setPid(name: string, pid: number): void {
    const d = this.record.daemons.find((x) => x.name === name);
    if (!d) throw new Error(`no daemon ${name} recorded`);
    d.pid = pid;
    d.start = startTimeOf(pid);
    this.save();
  }

  addCleanupPath(path: string): void {
    this.record.cleanupPaths.push(path);
    this.save();
  }

  async stop(name: string): Promise<void> {
    const d = this.record.daemons.find((x) => x.name === name);
    if (d) await stopDaemon(d);
  }

  /** Last resort on process exit (e.g. Ctrl-C): signal every daemon without waiting. The next run's
   * sweep finishes the job, because the record stays on disk. */
  private killAllSync(): void {
    for (const d of this.record.daemons) {
      const pid = daemonPid(d);
      if (pid === undefined) continue;
      try {
        process.kill(pid, d.stopSignal);
      } catch {
        // gone
      }
    }
  }

  /** After a clean teardown: forget the run. */
  close(): void {
    process.off("exit", this.exitHook);
    for (const p of this.record.cleanupPaths) rmSync(p, { recursive: true, force: true });
    rmSync(recordPath(this.record.runId), { force: true });
  }
}

interface LockOwner {
  runId: string;
  pid: number;
  start: string | undefined;
  since: string;
  purpose: string;
}

/** A machine-wide mutex (a directory) for short critical sections around the shared Samba DC.
 * Waits while a live process holds it, breaks it when the holder is gone. Throws after `deadline`. */
export async function acquireMutex(
  runId: string,
  purpose: string,
  deadline: number,
  log: (msg: string) => void,
): Promise<() => void> {
  mkdirSync(stateDir, { recursive: true });
  let announced = false;
  for (;;) {
    try {
      mkdirSync(sambaLockDir);
      const owner: LockOwner = {
        runId,
        pid: process.pid,
        start: startTimeOf(process.pid),
        since: new Date().toISOString(),
        purpose,
      };
      writeJsonAtomic(join(sambaLockDir, "owner.json"), owner);
      return () => {
        const cur = readOwner();
        if (cur === undefined || cur.runId === runId) rmSync(sambaLockDir, { recursive: true, force: true });
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const owner = readOwner();
    if (owner === undefined) {
      // Being created right now, or left half-written by a crash: give it a moment, then take over.
      if (Date.now() - lockMtime() > 5000) rmSync(sambaLockDir, { recursive: true, force: true });
      await sleep(50);
      continue;
    }
    if (!isRunLive({ ownerPid: owner.pid, ownerStart: owner.start })) {
      rmSync(sambaLockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Samba AD DC: another Latchkey test run (pid ${owner.pid}, run ${owner.runId}) has held the DC lock ` +
          `since ${owner.since} (${owner.purpose}); gave up waiting (LATCHKEY_TEST_AD_WAIT_SECONDS).`,
      );
    }
    if (!announced && Date.now() - Date.parse(owner.since) > 2000) {
      log(`waiting for another test run (pid ${owner.pid}): ${owner.purpose}`);
      announced = true;
    }
    await sleep(100);
  }
}

function readOwner(): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(join(sambaLockDir, "owner.json"), "utf8")) as LockOwner;
  } catch {
    return undefined;
  }
}

function lockMtime(): number {
  try {
    return statSync(sambaLockDir).mtimeMs;
  } catch {
    return Date.now();
  }
}

export { writeJsonAtomic };
