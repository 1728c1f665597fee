// PostgreSQL for the run. In order of preference:
//   1. LATCHKEY_TEST_PG_URL (must allow CREATE DATABASE);
//   2. a server already answering on 127.0.0.1:5432 with trust auth (role postgres, then root;
//      database test, else postgres);
//   3. a throwaway cluster from Debian's /usr/lib/postgresql/<v>/bin on a free port, run as the
//      `postgres` user when we are root. LATCHKEY_TEST_PG_CLUSTER=1 forces this one.
// Test files get their own database from createTestDatabase() (test-env/env.ts), named
// lkt_<run tag>_<random>; teardown drops the run's databases, and startup drops those of dead runs.
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import type { PostgresEnv } from "../types.js";
import { freePort, readPidFile, run, runNoThrow, seconds, tailFile } from "./proc.js";
import type { RunRegistry } from "./registry.js";
import { liveRuns } from "./registry.js";

export const DB_PREFIX = "lkt_";

export function runTag(runId: string): string {
  return runId.replace(/[^a-z0-9]/gi, "_").toLowerCase();
}

export interface PostgresHandle {
  env: PostgresEnv;
  timings: Record<string, number>;
  stop(): Promise<void>;
}

async function tryConnect(url: string): Promise<Error | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query("select 1");
    return undefined;
  } catch (e) {
    return e as Error;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => undefined);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Drops test databases of this run (mine=true) or of runs that are no longer alive. */
export async function dropTestDatabases(
  url: string,
  filter: { runId: string; mine: boolean },
): Promise<void> {
  const myTag = runTag(filter.runId);
  const liveTags = new Set(liveRuns(filter.runId).map((r) => runTag(r.runId)));
  await withClient(url, async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      "select datname from pg_database where datname like $1 escape '!'",
      [`${DB_PREFIX.replace("_", "!_")}%`],
    );
    for (const { datname } of rows) {
      const tag = datname.slice(DB_PREFIX.length).replace(/_[a-z0-9]+$/, "");
      const isMine = tag === myTag;
      if (filter.mine ? !isMine : isMine || liveTags.has(tag)) continue;
      await c.query(`drop database if exists ${quoteIdent(datname)} with (force)`);
    }
  });
}

export async function startPostgres(opts: {
  runDir: string;
  runId: string;
  registry: RunRegistry;
  log: (msg: string) => void;
}): Promise<PostgresHandle> {
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const fromEnv = process.env.LATCHKEY_TEST_PG_URL;
  const forceCluster = process.env.LATCHKEY_TEST_PG_CLUSTER === "1";
  let env: PostgresEnv | undefined;
  let stopCluster: (() => Promise<void>) | undefined;

  if (fromEnv) {
    const err = await tryConnect(fromEnv);
    if (err)
      throw new Error(
        `PostgreSQL: cannot connect to LATCHKEY_TEST_PG_URL (${redact(fromEnv)}): ${err.message}`,
      );
    env = { url: fromEnv, source: "env" };
  } else if (!forceCluster) {
    const errors: string[] = [];
    for (const candidate of [
      "postgres@127.0.0.1:5432/test",
      "root@127.0.0.1:5432/test",
      "postgres@127.0.0.1:5432/postgres",
    ]) {
      const url = `postgres://${candidate}`;
      const err = await tryConnect(url);
      if (!err) {
        env = { url, source: "local" };
        break;
      }
      if ((err as Error & { code?: string }).code === "ECONNREFUSED") break; // nothing listens
      errors.push(`${url}: ${err.message}`);
    }
    if (!env && errors.length > 0) {
      opts.log(
        `PostgreSQL answers on 127.0.0.1:5432 but not with trust auth for postgres/root (${errors.join("; ")}); ` +
          "starting a throwaway cluster instead (set LATCHKEY_TEST_PG_URL to use that server)",
      );
    }
  }
  if (!env) {
    const cluster = await startCluster(opts.registry);
    env = { url: cluster.url, source: "cluster" };
    stopCluster = cluster.stop;
    timings["postgres.initdb"] = cluster.initdbSeconds;
  } else {
    // A shared server: clean up databases that crashed runs left behind.
    await dropTestDatabases(env.url, { runId: opts.runId, mine: false }).catch(() => undefined);
  }
  timings.postgres = seconds(t0);
  const finalEnv = env;
  return {
    env: finalEnv,
    timings,
    stop: async () => {
      if (stopCluster) await stopCluster();
      else await dropTestDatabases(finalEnv.url, { runId: opts.runId, mine: true }).catch(() => undefined);
    },
  };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}

function findPgBin(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, "bin", "initdb")))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      "PostgreSQL: nothing answers on 127.0.0.1:5432, LATCHKEY_TEST_PG_URL is unset, and there are no server " +
        "binaries in /usr/lib/postgresql/*/bin to start a throwaway cluster. Install them " +
        "(`apt-get install postgresql`, which `bash test-env/ensure-packages.sh` does as root) or set LATCHKEY_TEST_PG_URL.",
    );
  }
  return join(root, versions[0] ?? "", "bin");
}

async function startCluster(
  registry: RunRegistry,
): Promise<{ url: string; stop: () => Promise<void>; initdbSeconds: number }> {
  const bin = findPgBin();
  const asRoot = process.getuid?.() === 0;
  // The data directory must belong to the server's user, and every parent must be searchable by it,
  // which a repo under /root is not: use a fresh directory under the system tmpdir.
  const dataParent = mkdtempSync(join(tmpdir(), "latchkey-pg-"));
  registry.addCleanupPath(dataParent);
  const data = join(dataParent, "data");
  const logFile = join(dataParent, "postgres.log");
  mkdirSync(data, { mode: 0o700 });
  let pgUid: number | undefined;
  let pgGid: number | undefined;
  if (asRoot) {
    const id = await run("id", ["-u", "postgres"]).catch(() => {
      throw new Error(
        "PostgreSQL: running as root, but there is no `postgres` user to run the throwaway cluster as",
      );
    });
    const gid = await run("id", ["-g", "postgres"]);
    pgUid = Number(id.stdout.trim());
    pgGid = Number(gid.stdout.trim());
    chmodSync(dataParent, 0o755);
    chownSync(dataParent, pgUid, pgGid);
    chownSync(data, pgUid, pgGid);
  }
  const asPg = (cmd: string, args: string[]): [string, string[]] =>
    asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];

  const t0 = performance.now();
  const [c1, a1] = asPg(join(bin, "initdb"), [
    "-D",
    data,
    "-U",
    "postgres",
    "-A",
    "trust",
    "-E",
    "UTF8",
    "--locale=C",
    "--no-sync",
  ]);
  const init = await runNoThrow(c1, a1, { timeoutMs: 120_000 });
  if (init.code !== 0)
    throw new Error(`PostgreSQL: initdb failed (exit ${init.code}):\n${init.stdout}\n${init.stderr}`);
  const initdbSeconds = seconds(t0);

  const port = await freePort();
  registry.addDaemon({
    name: "postgres",
    exe: "postgres",
    pidFile: join(data, "postmaster.pid"),
    stopSignal: "SIGINT", // fast shutdown
  });
  const serverOpts = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dataParent}`,
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
    "-c max_connections=200",
  ].join(" ");
  const [c2, a2] = asPg(join(bin, "pg_ctl"), [
    "-D",
    data,
    "-l",
    logFile,
    "-o",
    serverOpts,
    "-w",
    "-t",
    "60",
    "start",
  ]);
  const started = await runNoThrow(c2, a2, { timeoutMs: 90_000 });
  if (started.code !== 0) {
    throw new Error(
      `PostgreSQL: pg_ctl start failed (exit ${started.code}): ${started.stderr.trim()}\n${tailFile(logFile)}`,
    );
  }
  const pid = readPidFile(join(data, "postmaster.pid"));
  if (pid !== undefined) registry.setPid("postgres", pid);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const err = await tryConnect(url);
  if (err)
    throw new Error(
      `PostgreSQL: the throwaway cluster started but does not answer: ${err.message}\n${tailFile(logFile)}`,
    );
  return { url, initdbSeconds, stop: () => registry.stop("postgres") };
}
