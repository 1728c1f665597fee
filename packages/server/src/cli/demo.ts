/**
 * `latchkey demo`: one command that shows a whole hybrid reset on one machine. It starts the server
 * in demo mode with the cloud demo users and, beside it, a throwaway directory (OpenLDAP slapd by
 * default, a Samba AD DC with `--directory samba`) seeded with directory users; it makes a one-time
 * enrollment token as `latchkey admin agent-token` does, enrolls the real `latchkey-agent` program
 * with it and runs it, waits until the directory users are synced, and registers their methods.
 * Everything throwaway (directory, certificates, agent keys, and the store unless --db) lives in one
 * temporary directory, torn down with the processes on SIGINT/SIGTERM. Without slapd (or the agent
 * program) the demo says so in one line and runs cloud-only.
 *
 * The throwaway directories come from ../lab/, a demo/dev facility that `latchkey serve` never loads
 * (every lab import here is dynamic and happens only when a directory is asked for).
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { type LoadConfigOptions, loadConfig } from "../config/load.js";
import type { LabUser, SeedPerson } from "../lab/people.js";
import type { User } from "../store/schema.js";
import type { DemoSeedResult } from "../tenants/demo.js";
import { CliError, EXIT_NOT_AVAILABLE } from "./errors.js";
import { listenOverrides, type Running, type ServeOptions, startServer, stopOnSignals } from "./serve.js";

export type DemoDirectoryKind = "openldap" | "samba" | "none";

export interface DemoOptions extends ServeOptions {
  /** Store URL for the demo; default `sqlite:./data/demo.db` cloud-only, a file in the throwaway
   * directory when a directory runs (its synced users die with it). */
  db?: string;
  /** The throwaway directory; absent means openldap when slapd is installed, else none. */
  directory?: DemoDirectoryKind;
}

/** The demo's own defaults: below the file and the environment, so both can still change them. */
export const DEMO_DEFAULTS = {
  database: { url: "sqlite:./data/demo.db" },
  server: { cookieSecure: false },
  logging: { level: "warn" },
  tenant: { slug: "demo", name: "Demo Organisation" },
} as const;

export interface DemoRunning extends Running {
  /** The throwaway directory of this run (null cloud-only). */
  workDir: string | null;
  /** Stops the agent, the server and the directory, and removes the throwaway directory. */
  stop(): Promise<void>;
}

type Out = (s: string) => void;
/** A started server with the demo's seed result and the pages it points to. */
type Started = Awaited<ReturnType<typeof startServer>>;

const INSTALL_HINT: Record<Exclude<DemoDirectoryKind, "none">, string> = {
  openldap: "install it with `apt-get install slapd openssl` (as root)",
  samba: "install it with `apt-get install samba samba-ad-dc samba-ad-provision openssl` (as root)",
};

/** Why a directory kind cannot run here (and what to do), or null when it can. */
function missingFor(kind: Exclude<DemoDirectoryKind, "none">, agentMain: string | null): string | null {
  const onPath = (name: string) =>
    (process.env.PATH ?? "").split(delimiter).some((d) => d !== "" && existsSync(join(d, name)));
  if (kind === "openldap" && (!existsSync("/usr/sbin/slapd") || !existsSync("/usr/lib/ldap/back_mdb.so"))) {
    return `slapd is not installed: ${INSTALL_HINT.openldap}`;
  }
  if (kind === "samba") {
    if (!existsSync("/usr/sbin/samba") || !existsSync("/usr/bin/samba-tool"))
      return `the Samba AD DC is not installed: ${INSTALL_HINT.samba}`;
    if (process.getuid?.() !== 0)
      return "a Samba AD DC needs root (it binds ports 389 and 636): run the demo as root";
  }
  if (!onPath("openssl")) return `openssl is not on the PATH: ${INSTALL_HINT[kind]}`;
  if (agentMain === null) return "the latchkey-agent program was not found: `npm run build` builds it";
  return null;
}

/** The built agent program: the workspace's @latchkey/agent, else `latchkey-agent` on the PATH. */
function findAgentMain(): string | null {
  try {
    const entry = createRequire(import.meta.url).resolve("@latchkey/agent");
    const main = join(dirname(entry), "cli", "main.js");
    if (existsSync(main)) return main;
  } catch {
    // not installed beside the server
  }
  for (const d of (process.env.PATH ?? "").split(delimiter)) {
    if (d && existsSync(join(d, "latchkey-agent"))) return join(d, "latchkey-agent");
  }
  return null;
}

export async function demoCommand(opts: DemoOptions, out: Out, err: Out): Promise<DemoRunning> {
  const overrides: Record<string, unknown> = { demo: true, ...listenOverrides(opts) };
  if (opts.db) overrides.database = { url: opts.db };
  const load = { path: opts.config, defaults: { ...DEMO_DEFAULTS }, overrides };
  // Refused configurations are refused before anything starts or is written.
  await loadConfig(load);

  let kind: DemoDirectoryKind = opts.directory ?? "openldap";
  const agentMain = kind === "none" ? null : findAgentMain();
  if (kind !== "none") {
    const missing = missingFor(kind, agentMain);
    if (missing !== null && opts.directory !== undefined) {
      throw new CliError(`--directory ${kind} cannot run: ${missing}`, EXIT_NOT_AVAILABLE);
    }
    if (missing !== null) {
      err(`latchkey: the demo runs cloud-only (no directory users): ${missing}\n`);
      kind = "none";
    }
  }
  if (kind === "none" || agentMain === null) return cloudOnly(load, out, err);
  return hybrid(kind, agentMain, opts, load, out, err);
}

async function seedCloud(rt: Running["runtime"]): Promise<DemoSeedResult> {
  return (await import("../tenants/demo.js")).seedDemo(
    { db: rt.store.db, clock: rt.clock, secrets: rt.loaded.secrets, audit: rt.audit },
    {
      slug: rt.loaded.config.tenant.slug,
      name: rt.loaded.config.tenant.name,
      settings: rt.loaded.config.tenant.settings,
    },
  );
}

async function printCloud(running: Started, demo: DemoSeedResult | null, out: Out): Promise<void> {
  out(`Latchkey demo: ${running.url}\n`);
  if (!demo) return;
  const { DEMO_METHODS } = await import("../tenants/demo-methods.js");
  const names = demo.users.map((u) => (u.is_admin ? `${u.username} (admin)` : u.username));
  out(`  tenant: ${demo.tenant.name} (${demo.tenant.slug})\n`);
  out(`  demo users: ${names.join(", ")}\n`);
  out("    (cloud accounts: Latchkey holds their password)\n");
  for (const u of demo.users) {
    const methods = DEMO_METHODS[u.username];
    const pw = demo.passwords[u.username];
    // Demo accounts that protect nothing: the password is printed so it can be seen to change.
    const password = pw === undefined ? "password set by an earlier run" : `password ${pw}`;
    if (methods) out(`    ${u.username}: ${methods.join(", ")}; ${password}${contacts(u.email, u.mobile)}\n`);
  }
}

/** The reset page asks for the registered address or number too (strict disclosure): show them. */
function contacts(mail: string | null, mobile: string | null): string {
  return [mail ? `; mail ${mail}` : "", mobile ? `, mobile ${mobile}` : ""].join("");
}

async function printTail(
  running: Started,
  totpUsers: string[],
  workDir: string | null,
  out: Out,
): Promise<void> {
  const { DEMO_ANSWERS, DEMO_TOTP_SECRET } = await import("../tenants/demo-methods.js");
  // Demo-only values that protect nothing: printed so every method can be tried.
  out(`  authenticator app secret (${totpUsers.join(", ")}): ${DEMO_TOTP_SECRET}\n`);
  out(`  security answers (alice): ${DEMO_ANSWERS.map((a) => `${a.questionId} = ${a.answer}`).join("; ")}\n`);
  for (const link of running.links) out(`  ${link.label}: ${running.url}${link.path}\n`);
  out("  reset: give the username, then the mail address or mobile number shown above for the method\n");
  out("  codes (email, SMS, voice) are not sent anywhere: they appear on the messages page above\n");
  out(`  store: ${running.runtime.loaded.config.database.url}\n`);
  if (running.runtime.loaded.secretsGenerated) {
    out("  keys: generated for this run (codes and sealed data from an earlier run cannot be opened)\n");
  }
  if (workDir !== null) out(`  throwaway files (removed on exit): ${workDir}\n`);
  out("  Demo mode: not for production. Stop with Ctrl-C.\n");
}

async function cloudOnly(load: LoadConfigOptions, out: Out, err: Out): Promise<DemoRunning> {
  const running = await startServer(load, seedCloud);
  await printCloud(running, running.demo, out);
  await printTail(running, ["bob", "carol"], null, out);
  const demoRunning: DemoRunning = { ...running, workDir: null };
  onSignals(demoRunning, err);
  return demoRunning;
}

/** What must stop, newest first; also killed synchronously if the process exits without teardown. */
interface Teardown {
  steps: { name: string; run: () => Promise<void> }[];
  pids: Set<number>;
  workDir: string;
}

const RECORD = "demo.json";

/** What a SIGKILLed demo leaves for the next one to stop: its own pid and its daemons' pids, each
 * with its /proc start time (a reused pid is never signalled). */
interface DemoRecord {
  owner: { pid: number; start: string | undefined };
  pids: { pid: number; start: string | undefined }[];
}

async function recordPids(t: Teardown): Promise<void> {
  const { startTimeOf } = await import("../lab/proc.js");
  const rec: DemoRecord = {
    owner: { pid: process.pid, start: startTimeOf(process.pid) },
    pids: [...t.pids].map((pid) => ({ pid, start: startTimeOf(pid) })),
  };
  writeFileSync(join(t.workDir, RECORD), `${JSON.stringify(rec)}\n`, { mode: 0o600 });
}

/** Stops what earlier demos that were killed outright (SIGKILL, a crash) left running, and removes
 * their temporary directories. A live demo's directory is left alone. */
async function sweepAbandoned(err: Out): Promise<void> {
  const { isAlive, killAndWait, startTimeOf } = await import("../lab/proc.js");
  const alive = (p: { pid: number; start: string | undefined }) =>
    isAlive(p.pid) && (p.start === undefined || startTimeOf(p.pid) === p.start);
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith("latchkey-demo-")) continue;
    const dir = join(tmpdir(), name);
    let rec: DemoRecord;
    try {
      rec = JSON.parse(readFileSync(join(dir, RECORD), "utf8")) as DemoRecord;
    } catch {
      continue; // not a demo's, or still being made
    }
    if (alive(rec.owner)) continue;
    const left = rec.pids.filter(alive);
    await Promise.all(left.map((p) => killAndWait(p.pid, "SIGTERM", 10_000)));
    rmSync(dir, { recursive: true, force: true });
    if (left.length > 0)
      err(`latchkey: stopped ${left.length} process(es) left by a demo that was killed (${dir})\n`);
  }
}

function exitHook(t: Teardown): () => void {
  return () => {
    for (const pid of t.pids) {
      try {
        process.kill(pid, "SIGTERM");
      } catch {
        // gone
      }
    }
  };
}

async function runTeardown(t: Teardown, err: Out): Promise<void> {
  for (const step of t.steps.splice(0).reverse()) {
    try {
      await step.run();
    } catch (e) {
      err(`latchkey: stopping the ${step.name} failed: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  rmSync(t.workDir, { recursive: true, force: true });
}

async function hybrid(
  kind: Exclude<DemoDirectoryKind, "none">,
  agentMain: string,
  opts: DemoOptions,
  load: LoadConfigOptions,
  out: Out,
  err: Out,
): Promise<DemoRunning> {
  const [{ makeTls }, { killAndWait }, { demoDirectoryPeople, DEMO_DIRECTORY_METHODS }] = await Promise.all([
    import("../lab/tls.js"),
    import("../lab/proc.js"),
    import("../tenants/demo-directory.js"),
  ]);
  await sweepAbandoned(err);
  const workDir = mkdtempSync(join(tmpdir(), "latchkey-demo-"));
  const teardown: Teardown = { steps: [], pids: new Set(), workDir };
  await recordPids(teardown);
  const hook = exitHook(teardown);
  process.on("exit", hook);
  const fail = async (e: unknown): Promise<never> => {
    await runTeardown(teardown, err);
    process.off("exit", hook);
    throw e;
  };

  const people = demoDirectoryPeople();
  let directory: DemoDirectory;
  try {
    const tls = await makeTls(join(workDir, "tls"), "Latchkey demo");
    if (kind === "samba") {
      err("latchkey: provisioning a throwaway Samba AD DC (several seconds; slapd starts in under one)…\n");
    }
    directory = await startDirectory(kind, workDir, tls, people, teardown);
    await recordPids(teardown);
    err(`latchkey: ${directory.label} started at ${directory.url}\n`);
  } catch (e) {
    return fail(e);
  }

  // The server's view of the directory, as an operator would configure it.
  const passwordFile = join(workDir, "directory-bind.pw");
  writeFileSync(passwordFile, directory.servicePassword, { mode: 0o600 });
  const overrides: Record<string, unknown> = {
    ...load.overrides,
    directories: [
      {
        id: directory.id,
        url: directory.url,
        startTls: directory.startTls,
        caFile: directory.caFile,
        bindDn: directory.serviceDn,
        bindPasswordFile: passwordFile,
        baseDn: directory.usersDn,
        scopeGroups: [directory.scopeGroupDn],
        adminGroups: [directory.adminGroupDn],
      },
    ],
  };
  // The synced users die with the directory: their store too, unless --db names one.
  const defaults = opts.db
    ? load.defaults
    : { ...load.defaults, database: { url: `sqlite:${join(workDir, "demo.db")}` } };

  let running: Started;
  try {
    running = await startServer({ path: load.path, defaults, overrides }, seedCloud);
    teardown.steps.push({ name: "server", run: () => running.stop() });
  } catch (e) {
    return fail(e);
  }

  let directoryUsers: User[];
  try {
    const tenant = running.demo?.tenant;
    if (!tenant) throw new Error("the demo tenant was not seeded");
    const { createEnrollmentToken } = await import("../directory-link/enrollment.js");
    const { runtime } = running;
    // Exactly what `latchkey admin agent-token --directory <id>` makes: one use, 15 minutes.
    const made = await createEnrollmentToken(
      { db: runtime.store.db, clock: runtime.clock, audit: runtime.audit },
      { tenantId: tenant.id, directoryId: directory.id, actor: "cli" },
    );
    const agentDir = join(workDir, "agent");
    mkdirSync(agentDir, { mode: 0o700 });
    writeAgentConfig(agentDir, running.url, directory);
    const enroll = await runAgent(agentMain, agentDir, [
      "enroll",
      "--server",
      running.url,
      "--token",
      made.token,
      "--name",
      "demo-agent",
    ]);
    if (enroll.code !== 0) {
      throw new Error(`latchkey-agent enroll failed (exit ${enroll.code}): ${enroll.output.trim()}`);
    }
    const logFile = join(agentDir, "agent.log");
    const agent = startAgent(agentMain, agentDir, logFile);
    teardown.pids.add(agent.pid);
    await recordPids(teardown);
    teardown.steps.push({
      name: "agent",
      run: async () => {
        teardown.pids.delete(agent.pid);
        await killAndWait(agent.pid, "SIGTERM", 10_000);
      },
    });
    err(
      `latchkey: latchkey-agent enrolled and running (log: ${logFile}); waiting for the directory users…\n`,
    );
    const wanted = Object.values<SeedPerson>(people)
      .filter((p) => p.inScope)
      .map((p) => p.username);
    directoryUsers = await waitForSync(
      running,
      directory.id,
      wanted,
      kind === "samba" ? 120_000 : 60_000,
      logFile,
    );
    const { seedMethodsFor } = await import("../tenants/demo-methods.js");
    await seedMethodsFor(
      { db: runtime.store.db, clock: runtime.clock, secrets: runtime.loaded.secrets, tenant },
      directoryUsers,
      DEMO_DIRECTORY_METHODS,
    );
  } catch (e) {
    return fail(e);
  }

  await printCloud(running, running.demo, out);
  out(
    `  directory users (${directory.label}, synced by a real latchkey-agent; a reset is written back to it):\n`,
  );
  for (const p of Object.values<SeedPerson>(people)) {
    const methods = DEMO_DIRECTORY_METHODS[p.username];
    const user = directoryUsers.find((u) => u.username === p.username);
    const role = user?.is_admin ? " (admin)" : "";
    const what = methods ? `${methods.join(", ")}` : "outside the scope group: may not reset";
    out(
      `    ${p.username}${role}: ${what}; password ${p.password}${methods ? contacts(p.mail, p.mobile) : ""}\n`,
    );
  }
  const dana = directory.users.dana;
  if (dana) {
    out(
      `  directory: ${directory.url}${directory.startTls ? " (StartTLS)" : ""}, users in ${directory.usersDn}\n`,
    );
    out(`    CA: ${directory.caFile}\n`);
    out(`    check a password: ${directory.checkCommand(dana)}\n`);
  }
  await printTail(running, ["bob", "carol", "erik", "fiona"], workDir, out);

  let stopping: Promise<void> | null = null;
  const demoRunning: DemoRunning = {
    ...running,
    workDir,
    stop: () => {
      stopping ??= runTeardown(teardown, err).finally(() => process.off("exit", hook));
      return stopping;
    },
  };
  onSignals(demoRunning, err);
  return demoRunning;
}

interface DemoDirectory {
  id: string;
  label: string;
  url: string;
  startTls: boolean;
  caFile: string;
  serviceDn: string;
  servicePassword: string;
  usersDn: string;
  scopeGroupDn: string;
  adminGroupDn: string;
  users: Record<string, LabUser>;
  /** A shell command that binds as the user with their password. */
  checkCommand(u: LabUser): string;
}

async function startDirectory(
  kind: Exclude<DemoDirectoryKind, "none">,
  workDir: string,
  tls: Awaited<ReturnType<typeof import("../lab/tls.js").makeTls>>,
  people: Record<string, SeedPerson>,
  teardown: Teardown,
): Promise<DemoDirectory> {
  if (kind === "openldap") {
    const { startLabSlapd } = await import("../lab/slapd.js");
    const pids = teardown.pids;
    const slapd = await startLabSlapd({
      dir: join(workDir, "slapd"),
      tls,
      people,
      label: "Latchkey demo directory",
      supervisor: trackedSupervisor(pids),
    });
    teardown.steps.push({ name: "slapd", run: () => slapd.stop() });
    const e = slapd.env;
    return {
      id: "demo-openldap",
      label: "OpenLDAP slapd",
      url: e.url,
      startTls: true,
      caFile: tls.caFile,
      serviceDn: e.serviceDn,
      servicePassword: e.servicePassword,
      usersDn: e.usersDn,
      scopeGroupDn: e.scopeGroupDn,
      adminGroupDn: e.adminGroupDn,
      users: e.users,
      checkCommand: (u) =>
        `LDAPTLS_CACERT=${tls.caFile} ldapwhoami -x -ZZ -H ${e.url} -D '${u.dn}' -w '${u.password}'`,
    };
  }
  const { startLabSamba } = await import("../lab/samba.js");
  const samba = await startLabSamba({ dir: join(workDir, "samba"), tls, people });
  teardown.pids.add(samba.pid);
  teardown.steps.push({
    name: "Samba AD DC",
    run: async () => {
      await samba.stop();
      teardown.pids.delete(samba.pid);
    },
  });
  const e = samba.env;
  return {
    id: "demo-ad",
    label: "Samba AD DC",
    url: e.url,
    startTls: false,
    caFile: tls.caFile,
    serviceDn: e.serviceDn,
    servicePassword: e.servicePassword,
    usersDn: e.usersDn,
    scopeGroupDn: e.scopeGroupDn,
    adminGroupDn: e.adminGroupDn,
    users: e.users,
    checkCommand: (u) =>
      `LDAPTLS_CACERT=${tls.caFile} ldapwhoami -x -H ${e.url} -D '${u.dn}' -w '${u.password}'`,
  };
}

/** The lab's default supervisor, plus the pid in `pids` for the synchronous exit hook. */
function trackedSupervisor(pids: Set<number>) {
  const known = new Map<string, number>();
  return {
    addDaemon: () => undefined,
    setPid: (name: string, pid: number) => {
      known.set(name, pid);
      pids.add(pid);
    },
    stop: async (name: string) => {
      const pid = known.get(name);
      known.delete(name);
      if (pid === undefined) return;
      const { killAndWait } = await import("../lab/proc.js");
      await killAndWait(pid, "SIGTERM", 10_000);
      pids.delete(pid);
    },
  };
}

function writeAgentConfig(agentDir: string, serverUrl: string, d: DemoDirectory): void {
  writeFileSync(join(agentDir, "bind.pw"), d.servicePassword, { mode: 0o600 });
  chmodSync(join(agentDir, "bind.pw"), 0o600);
  const yaml = [
    "# Written by `latchkey demo` for its throwaway directory.",
    "server:",
    `  url: ${serverUrl}`,
    "keyFile: agent.key",
    "directories:",
    `  - id: ${d.id}`,
    `    url: ${d.url}`,
    ...(d.startTls ? ["    startTls: true"] : []),
    `    caFile: ${JSON.stringify(d.caFile)}`,
    `    bindDn: ${JSON.stringify(d.serviceDn)}`,
    "    bindPasswordFile: bind.pw",
    `    baseDn: ${JSON.stringify(d.usersDn)}`,
    "    scopeGroups:",
    `      - ${JSON.stringify(d.scopeGroupDn)}`,
    "    adminGroups:",
    `      - ${JSON.stringify(d.adminGroupDn)}`,
    "",
  ];
  writeFileSync(join(agentDir, "latchkey-agent.yaml"), yaml.join("\n"), { mode: 0o600 });
}

/** The agent's environment: nothing of the demo's shell leaks in but PATH and HOME. */
function agentEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" };
}

function agentArgs(agentMain: string, args: string[]): [string, string[]] {
  return agentMain.endsWith(".js") ? [process.execPath, [agentMain, ...args]] : [agentMain, args];
}

function runAgent(agentMain: string, cwd: string, args: string[]): Promise<{ code: number; output: string }> {
  const [cmd, argv] = agentArgs(agentMain, args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { cwd, env: agentEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (b: Buffer) => {
      output += b.toString("utf8");
    });
    child.stderr.on("data", (b: Buffer) => {
      output += b.toString("utf8");
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? 1, output }));
  });
}

/** Runs the agent in its own process group, so a Ctrl-C reaches the demo first and the demo stops
 * the agent before the server and the directory (no reconnect storm on the way down). */
function startAgent(agentMain: string, cwd: string, logFile: string): { pid: number; child: ChildProcess } {
  const [cmd, argv] = agentArgs(agentMain, ["run"]);
  const fd = openSync(logFile, "a", 0o600);
  const child = spawn(cmd, argv, { cwd, env: agentEnv(), detached: true, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  child.unref();
  if (child.pid === undefined) throw new Error("latchkey-agent could not be started");
  return { pid: child.pid, child };
}

async function waitForSync(
  running: Running,
  directoryId: string,
  usernames: string[],
  timeoutMs: number,
  logFile: string,
): Promise<User[]> {
  const { waitFor, tailFile } = await import("../lab/proc.js");
  const db = running.runtime.store.db;
  return waitFor(
    `the agent to sync ${usernames.join(", ")}`,
    async () => {
      const rows = await db
        .selectFrom("users")
        .selectAll()
        .where("directory_id", "=", directoryId)
        .where("deleted_at", "is", null)
        .execute();
      return usernames.every((n) => rows.some((r) => r.username === n)) ? rows : undefined;
    },
    timeoutMs,
    200,
  ).catch((e: Error) => {
    throw new Error(`${e.message}\n${tailFile(logFile, 20)}`);
  });
}

/** SIGINT/SIGTERM: stop taking requests, stop the agent, the server and the directory, remove the
 * throwaway files, exit 0. A second signal exits at once (the exit hook still signals the daemons). */
function onSignals(running: DemoRunning, err: Out): void {
  // Samba's ~40 processes may take a few seconds; the server's own shutdown timeout adds to it.
  const timeoutMs = running.runtime.loaded.config.server.shutdownTimeoutMs + 30_000;
  stopOnSignals(
    () => running.stop(),
    timeoutMs,
    err,
    () => {
      if (running.workDir !== null) err(`latchkey: stopped; removed ${running.workDir}\n`);
    },
  );
}
