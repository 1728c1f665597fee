// A real Samba AD DC: provisioned, started and seeded by the lab (packages/server/src/lab/samba.ts,
// shared with `latchkey demo --directory samba`) under the creating run's directory, listening on
// 127.0.0.1/::1 only (LDAP 389 and LDAPS 636 are fixed, so there is one per machine), with that
// run's certificate. Test runs that are alive at the same time share it (ref-counted in
// <tmpdir>/latchkey-test-env/dc.json, under the samba.lock mutex); the last one stops it.
// See /work/shared/DIRECTORY-LAB.md for the measured behaviour this relies on.
import { createHash } from "node:crypto";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import {
  AD,
  adUnicodePwd,
  assertPortsFree,
  launchDc,
  provisionDc,
  seedDc,
  sidToString,
  tlsClient,
} from "../../packages/server/src/lab/samba.js";
import type { AdEnv } from "../types.js";
import { SEED_PEOPLE } from "./fixtures.js";
import { isAlive, readPidFile, seconds, sleep, startTimeOf } from "./proc.js";
import type { DaemonRecord, RunRegistry } from "./registry.js";
import { acquireMutex, isRunLive, stateDir, stopDaemon, writeJsonAtomic } from "./registry.js";
import type { TlsFiles } from "./tls.js";

export { AD, adUnicodePwd, sidToString };

export interface SambaHandle {
  env: AdEnv;
  /** The CA that signed the DC's certificate: this run's, or the creating run's when shared. */
  caPem: string;
  timings: Record<string, number>;
  /** Set when this run attached to a DC that another run started. */
  note?: string;
  /** Detaches this run; the last run using the DC stops it. */
  stop(): Promise<void>;
}

/** The machine's one DC, shared by the test runs alive at the same time (ref-counted in `users`). */
interface DcRecord {
  /** Hash of the code that provisions and seeds; runs with other code don't share. */
  version: string;
  dir: string;
  pidFile: string;
  pid?: number;
  start?: string;
  ready: boolean;
  env?: AdEnv;
  /** The CA that signed the DC's certificate (the creating run's CA). */
  caPem: string;
  createdBy: string;
  createdAt: string;
  users: { runId: string; pid: number; start: string | undefined }[];
}

const dcFile = join(stateDir, "dc.json");

function readDc(): DcRecord | undefined {
  try {
    return JSON.parse(readFileSync(dcFile, "utf8")) as DcRecord;
  } catch {
    return undefined;
  }
}

function dcDaemon(dc: DcRecord): DaemonRecord {
  return {
    name: "samba",
    exe: "samba",
    pidFile: dc.pidFile,
    stopSignal: "SIGTERM",
    ...(dc.pid !== undefined ? { pid: dc.pid, start: dc.start } : {}),
  };
}

function dcAlive(dc: DcRecord): boolean {
  const pid = dc.pid ?? readPidFile(dc.pidFile);
  return pid !== undefined && isAlive(pid) && (dc.start === undefined || startTimeOf(pid) === dc.start);
}

function liveUsers(dc: DcRecord): DcRecord["users"] {
  return dc.users.filter((u) => isRunLive({ ownerPid: u.pid, ownerStart: u.start }));
}

/** The directory of the DC that is running now (run directories that hold it must not be pruned). */
export function dcDirInUse(): string | undefined {
  const dc = readDc();
  return dc && dcAlive(dc) ? dc.dir : undefined;
}

/** Which code made the DC: the provisioning/seeding sources. */
function codeVersion(): string {
  const h = createHash("sha256");
  for (const f of ["./samba.ts", "./fixtures.ts", "../../packages/server/src/lab/samba.ts"])
    h.update(readFileSync(new URL(f, import.meta.url)));
  return h.digest("hex").slice(0, 16);
}

async function healthy(dc: DcRecord): Promise<boolean> {
  if (!dc.env) return false;
  const c = tlsClient(dc.env.url, dc.caPem);
  try {
    await c.bind(dc.env.adminDn, dc.env.adminPassword);
    return true;
  } catch {
    return false;
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

/** On process exit without teardown: stop the DC if no other live run uses it (best effort). */
function exitHook(runId: string): void {
  const dc = readDc();
  if (!dc?.users.some((u) => u.runId === runId)) return;
  if (liveUsers(dc).some((u) => u.runId !== runId)) return;
  const pid = dc.pid ?? readPidFile(dc.pidFile);
  if (pid !== undefined && dcAlive(dc)) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      // gone
    }
  }
}

export async function startSamba(opts: {
  runDir: string;
  tls: TlsFiles;
  registry: RunRegistry;
  log: (msg: string) => void;
}): Promise<SambaHandle> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "Samba AD DC must run as root (it binds 389/636 and runs its own privileged services). " +
        "Run the tests as root (CI does), e.g. in a root shell or container.",
    );
  }
  const runId = opts.registry.record.runId;
  const me = { runId, pid: process.pid, start: startTimeOf(process.pid) };
  const version = codeVersion();
  const waitSeconds = Number(process.env.LATCHKEY_TEST_AD_WAIT_SECONDS ?? "600");
  const deadline = Date.now() + waitSeconds * 1000;
  const t0 = performance.now();
  const hook = () => exitHook(runId);
  let announced = false;

  const detach = async (): Promise<void> => {
    process.off("exit", hook);
    const release = await acquireMutex(runId, "stopping the Samba AD DC", Date.now() + 120_000, opts.log);
    try {
      const dc = readDc();
      if (!dc) return;
      dc.users = liveUsers(dc).filter((u) => u.runId !== runId);
      if (dc.users.length > 0) {
        writeJsonAtomic(dcFile, dc);
        return;
      }
      await stopDaemon(dcDaemon(dc));
      rmSync(dcFile, { force: true });
    } finally {
      release();
    }
  };

  for (;;) {
    const release = await acquireMutex(runId, "starting the Samba AD DC", deadline, opts.log);
    let busyWith: string | undefined;
    try {
      const dc = readDc();
      if (dc) {
        const users = liveUsers(dc);
        const alive = dcAlive(dc);
        if (alive && dc.ready && dc.version === version && dc.env && (await healthy(dc))) {
          dc.users = [...users, me];
          writeJsonAtomic(dcFile, dc);
          process.on("exit", hook);
          const others = users.length;
          return {
            env: dc.env,
            caPem: dc.caPem,
            timings: { "samba.shared": seconds(t0) },
            note: `sharing the Samba AD DC started by run ${dc.createdBy}${others > 0 ? ` with ${others} other run(s)` : ""}`,
            stop: detach,
          };
        }
        if (alive && users.length > 0) {
          busyWith = `run(s) ${users.map((u) => `${u.runId} (pid ${u.pid})`).join(", ")} use a Samba AD DC made by ${
            dc.version === version ? "the same" : "different"
          } test-env code${dc.ready ? "" : " that is still starting"}`;
        } else {
          // Unused, broken, or left by crashed runs: replace it.
          await stopDaemon(dcDaemon(dc));
          rmSync(dcFile, { force: true });
        }
      }
      if (busyWith === undefined) {
        const created = await createDc({ ...opts, version, me });
        process.on("exit", hook);
        return {
          ...created,
          timings: { ...created.timings, ...(announced ? { "samba.waited": seconds(t0) } : {}) },
          stop: detach,
        };
      }
    } finally {
      release();
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Samba AD DC: gave up waiting after ${waitSeconds} s (LATCHKEY_TEST_AD_WAIT_SECONDS): ${busyWith}`,
      );
    }
    if (!announced) {
      opts.log(`waiting for the Samba AD DC: ${busyWith}; up to ${waitSeconds} s`);
      announced = true;
    }
    await sleep(1000);
  }
}

/** Provisions and starts a new DC under this run's directory, and records it in dc.json. Called with the mutex held. */
async function createDc(opts: {
  runDir: string;
  tls: TlsFiles;
  log: (msg: string) => void;
  version: string;
  me: DcRecord["users"][number];
}): Promise<Omit<SambaHandle, "stop">> {
  const { tls } = opts;
  const timings: Record<string, number> = {};
  await assertPortsFree([389, 636]);

  const tProvision = performance.now();
  const paths = await provisionDc(join(opts.runDir, "samba"), tls);
  timings["samba.provision"] = seconds(tProvision);

  const record: DcRecord = {
    version: opts.version,
    dir: paths.dir,
    pidFile: paths.pidFile,
    ready: false,
    caPem: tls.caPem,
    createdBy: opts.me.runId,
    createdAt: new Date().toISOString(),
    users: [opts.me],
  };
  // Recorded before it starts, so that a crash from here on leaves something to clean up.
  writeJsonAtomic(dcFile, record);
  const fail = async (e: Error): Promise<never> => {
    await stopDaemon(dcDaemon(record));
    rmSync(dcFile, { force: true });
    throw e;
  };

  const tStart = performance.now();
  const launched = await launchDc(paths, tls, (pid) => {
    record.pid = pid;
    record.start = startTimeOf(pid);
    writeJsonAtomic(dcFile, record);
  }).catch(fail);
  timings["samba.start"] = seconds(tStart);

  const tSeed = performance.now();
  let adEnv: AdEnv;
  try {
    adEnv = await seedDc(
      launched.admin,
      { url: launched.url, smbConf: paths.smbConf, logFile: paths.logFile },
      SEED_PEOPLE,
    );
  } catch (e) {
    return fail(e as Error);
  } finally {
    await launched.admin.unbind().catch(() => undefined);
  }
  timings["samba.seed"] = seconds(tSeed);
  record.env = adEnv;
  record.ready = true;
  writeJsonAtomic(dcFile, record);
  return { env: adEnv, caPem: tls.caPem, timings };
}
