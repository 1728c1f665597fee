// vitest globalSetup: starts every real part the tests talk to, once per `vitest run`, in parallel:
// a throwaway CA and certificate, a Samba AD DC, slapd, PostgreSQL and an SMTP sink. Tests read what
// was started through test-env/env.ts (getTestEnv()). See test-env/README.md.
import { mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestProject } from "vitest/node";
import { type PostgresHandle, startPostgres } from "./lib/postgres.js";
import { seconds } from "./lib/proc.js";
import { liveRuns, RunRegistry, sweepDeadRuns } from "./lib/registry.js";
import { dcDirInUse, type SambaHandle, startSamba } from "./lib/samba.js";
import { type SlapdHandle, startSlapd } from "./lib/slapd.js";
import { type SmtpHandle, startSmtpSink } from "./lib/smtp-sink.js";
import { makeTls } from "./lib/tls.js";
import type { TestEnv } from "./types.js";

const KEEP_OLD_RUN_DIRS = 3;

function log(msg: string): void {
  process.stderr.write(`[test-env] ${msg}\n`);
}

function makeRunId(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  const stamp = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
  return `${stamp}-${process.pid}`;
}

/** Deletes run directories of finished runs, keeping the newest few for their logs. */
function pruneRunDirs(parent: string, keepRunId: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  const live = new Set(liveRuns().map((r) => r.runId));
  const dcDir = dcDirInUse();
  const finished = names
    .filter((n) => /^\d{14}-\d+$/.test(n) && n !== keepRunId && !live.has(n))
    .filter((n) => dcDir === undefined || !dcDir.startsWith(join(parent, n, "/")))
    .sort()
    .reverse();
  for (const n of finished.slice(KEEP_OLD_RUN_DIRS))
    rmSync(join(parent, n), { recursive: true, force: true });
}

function describeFailure(part: string, reason: unknown): string {
  const msg = reason instanceof Error ? reason.message : String(reason);
  // Most messages already name their part ("Samba AD DC: ...", "slapd did not start: ...").
  return msg.slice(0, 40).includes(part) ? `- ${msg}` : `- ${part}: ${msg}`;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = performance.now();
  const repoRoot = fileURLToPath(new URL("..", import.meta.url));
  const runId = makeRunId();
  // Samba puts unix sockets under its directories (limit 107 bytes): fall back to a short path.
  let parent = join(repoRoot, ".test-env");
  if (join(parent, runId).length > 64) parent = join(tmpdir(), "latchkey-test-env", "dirs");
  const runDir = join(parent, runId);
  mkdirSync(runDir, { recursive: true });
  try {
    rmSync(join(parent, "latest"), { force: true });
    symlinkSync(runId, join(parent, "latest"));
  } catch {
    // cosmetic
  }

  for (const note of await sweepDeadRuns()) log(note);
  pruneRunDirs(parent, runId);
  const registry = new RunRegistry(runId, runDir);

  let tls: Awaited<ReturnType<typeof makeTls>>;
  const tTls = performance.now();
  try {
    tls = await makeTls(join(runDir, "tls"));
  } catch (e) {
    registry.close();
    throw new Error(`test-env: could not make the test CA and certificate: ${(e as Error).message}`);
  }
  const tlsSeconds = seconds(tTls);

  const parts = ["Samba AD DC", "slapd", "PostgreSQL", "SMTP sink"] as const;
  const settled = await Promise.allSettled([
    startSamba({ runDir, tls, registry, log }),
    startSlapd({ runDir, tls, registry }),
    startPostgres({ runDir, runId, registry, log }),
    startSmtpSink({ runDir, tls }),
  ]);
  const stops = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value.stop] : []));
  const failures = settled.flatMap((s, i) =>
    s.status === "rejected" ? [describeFailure(parts[i] ?? "?", s.reason)] : [],
  );
  if (failures.length > 0) {
    await Promise.allSettled(stops.map((stop) => stop()));
    registry.close();
    throw new Error(
      `test-env: could not start the test environment (run dir ${runDir}):\n${failures.join("\n")}\n` +
        "Daemons that did start were stopped again. Logs stay in the run dir.",
    );
  }
  const [samba, slapd, postgres, smtp] = settled.map((s) => (s as PromiseFulfilledResult<unknown>).value) as [
    SambaHandle,
    SlapdHandle,
    PostgresHandle,
    SmtpHandle,
  ];

  const timings: Record<string, number> = {
    tls: tlsSeconds,
    ...samba.timings,
    ...slapd.timings,
    ...postgres.timings,
    ...smtp.timings,
    total: seconds(t0),
  };
  if (samba.note) log(samba.note);
  // Trust this run's CA and, when the DC is shared, the CA of the run that made it.
  const caPem = samba.caPem === tls.caPem ? tls.caPem : `${tls.caPem.trimEnd()}\n${samba.caPem}`;
  const caFile = join(runDir, "tls", "trusted-ca.pem");
  writeFileSync(caFile, caPem);
  const env: TestEnv = {
    runId,
    runDir,
    caFile,
    caPem,
    certFile: tls.certFile,
    keyFile: tls.keyFile,
    ad: samba.env,
    openldap: slapd.env,
    postgres: postgres.env,
    smtp: smtp.env,
    timings,
  };
  // For humans and for tools outside vitest (e.g. a manual ldapsearch while a run is paused).
  writeFileSync(join(runDir, "env.json"), `${JSON.stringify(env, null, 2)}\n`);
  project.provide("latchkeyEnv", env);
  log(
    `ready in ${timings.total} s (${Object.entries(timings)
      .filter(([k]) => k !== "total")
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}); run dir ${runDir}`,
  );

  let tornDown = false;
  return async () => {
    if (tornDown) return;
    tornDown = true;
    const tStop = performance.now();
    const results = await Promise.allSettled([samba.stop(), slapd.stop(), postgres.stop(), smtp.stop()]);
    registry.close();
    const errors = results.flatMap((r) => (r.status === "rejected" ? [String(r.reason)] : []));
    if (errors.length > 0) log(`teardown problems: ${errors.join("; ")}`);
    log(`stopped in ${seconds(tStop)} s`);
  };
}
