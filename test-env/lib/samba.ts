// A real Samba AD DC: provisioned from scratch under the creating run's directory, listening on
// 127.0.0.1/::1 only (LDAP 389 and LDAPS 636 are fixed, so there is one per machine), with that
// run's certificate. Test runs that are alive at the same time share it (ref-counted in
// <tmpdir>/latchkey-test-env/dc.json, under the samba.lock mutex); the last one stops it.
// See /work/shared/DIRECTORY-LAB.md for the measured behaviour this relies on.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Attribute, Change, Client } from "ldapts";
import type { AdEnv, SeededUser, SeededUserName } from "../types.js";
import { seedEntries } from "./fixtures.js";
import {
  AbortWait,
  formatCommand,
  isAlive,
  portAnswers,
  portOwners,
  readPidFile,
  run,
  runNoThrow,
  seconds,
  sleep,
  startTimeOf,
  tailFile,
  waitFor,
} from "./proc.js";
import type { DaemonRecord, RunRegistry } from "./registry.js";
import { acquireMutex, isRunLive, stateDir, stopDaemon, writeJsonAtomic } from "./registry.js";
import type { TlsFiles } from "./tls.js";

export const AD = {
  realm: "LAB.EXAMPLE.TEST",
  domain: "LAB",
  dnsDomain: "lab.example.test",
  baseDn: "DC=lab,DC=example,DC=test",
  adminPassword: "Adm1n!Passw0rd",
  servicePassword: "Agent-Svc-Passw0rd!",
  serviceName: "sspr-agent",
} as const;

const GUID = {
  userClass: "bf967aba-0de6-11d0-a285-00aa003049e2",
  resetPassword: "00299570-246d-11d0-a768-00aa006e0529",
  lockoutTime: "28630ebf-41d5-11d1-a9c1-0000f80367c1",
  pwdLastSet: "bf967a0a-0de6-11d0-a285-00aa003049e2",
};

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

/** Environment for samba/samba-tool: Debian's python3 and sbin first (DIRECTORY-LAB.md gotcha 8). */
function sambaProcessEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PATH: `/usr/sbin:/usr/bin:/sbin:/bin:${process.env.PATH ?? ""}`,
  };
  delete env.PYTHONPATH;
  delete env.PYTHONHOME;
  delete env.VIRTUAL_ENV;
  return env;
}

export function adUnicodePwd(password: string): Buffer {
  return Buffer.from(`"${password}"`, "utf16le");
}

export function sidToString(sid: Buffer): string {
  const revision = sid.readUInt8(0);
  const count = sid.readUInt8(1);
  const authority = sid.readUIntBE(2, 6);
  const subs: number[] = [];
  for (let i = 0; i < count; i++) subs.push(sid.readUInt32LE(8 + 4 * i));
  return ["S", revision, authority, ...subs].join("-");
}

function tlsClient(url: string, caPem: string): Client {
  return new Client({
    url,
    timeout: 20_000,
    connectTimeout: 3_000,
    tlsOptions: { ca: [caPem], rejectUnauthorized: true },
  });
}

async function assertPortsFree(ports: number[]): Promise<void> {
  // A previous run's DC may still be shutting down (it takes 1–2 s): give it a few seconds.
  const deadline = Date.now() + 6_000;
  for (;;) {
    const busy: number[] = [];
    for (const p of ports) if (await portAnswers(p)) busy.push(p);
    if (busy.length === 0) return;
    if (Date.now() > deadline) {
      const who = busy.map((p) => `  ${p}: ${portOwners(p).join(", ") || "owner unknown"}`).join("\n");
      throw new Error(
        `Samba AD DC cannot start: port(s) ${busy.join(", ")} on 127.0.0.1 are already in use, and Samba's ` +
          `LDAP ports cannot be moved:\n${who}\nStop that service (e.g. \`systemctl stop slapd samba-ad-dc\`, ` +
          `or kill the pid) and run the tests again.`,
      );
    }
    await sleep(250);
  }
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
  for (const f of ["./samba.ts", "./fixtures.ts"]) h.update(readFileSync(new URL(f, import.meta.url)));
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
  const dir = join(opts.runDir, "samba");
  const runDir = join(dir, "run");
  const logDir = join(dir, "log");
  mkdirSync(runDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const smbConf = join(dir, "etc", "smb.conf");
  const logFile = join(logDir, "log.samba");
  const env = sambaProcessEnv();

  const tProvision = performance.now();
  const provisionLog = join(dir, "provision.log");
  const provisionArgs = [
    "/usr/bin/samba-tool",
    "domain",
    "provision",
    `--targetdir=${dir}`,
    `--realm=${AD.realm}`,
    `--domain=${AD.domain}`,
    "--host-name=dc1",
    `--adminpass=${AD.adminPassword}`,
    "--server-role=dc",
    "--dns-backend=NONE",
    "--use-rfc2307",
    "--option=interfaces = lo",
    "--option=bind interfaces only = yes",
    `--option=pid directory = ${runDir}`,
    `--option=ncalrpc dir = ${join(runDir, "ncalrpc")}`,
    `--option=winbindd socket directory = ${join(runDir, "winbindd")}`,
    `--option=ntp signd socket directory = ${join(runDir, "ntp_signd")}`,
    `--option=log file = ${logFile}`,
    "--option=tls enabled = yes",
    `--option=tls keyfile = ${tls.keyFile}`,
    `--option=tls certfile = ${tls.certFile}`,
    `--option=tls cafile = ${tls.caFile}`,
  ];
  const res = await runNoThrow("/usr/bin/python3", provisionArgs, { env, timeoutMs: 120_000 });
  writeFileSync(provisionLog, `${res.stdout}\n${res.stderr}`);
  if (res.code !== 0) {
    throw new Error(
      `Samba AD DC: provisioning failed (exit ${res.code}):\n  ${formatCommand("/usr/bin/python3", provisionArgs)}\n${tailFile(provisionLog, 25)}`,
    );
  }
  timings["samba.provision"] = seconds(tProvision);

  const pidFile = join(runDir, "samba.pid");
  const record: DcRecord = {
    version: opts.version,
    dir,
    pidFile,
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
  const started = await runNoThrow("/usr/sbin/samba", ["-D", "-s", smbConf, "-l", logDir], {
    env,
    timeoutMs: 30_000,
  });
  if (started.code !== 0) {
    return fail(
      new Error(
        `Samba AD DC: \`samba -D\` exited ${started.code}: ${started.stderr.trim()}\n${tailFile(logFile, 40)}`,
      ),
    );
  }
  const pid = await waitFor(
    "samba to write its pid file",
    async () => {
      const p = readPidFile(pidFile);
      return p !== undefined && isAlive(p) ? p : undefined;
    },
    10_000,
    25,
  ).catch((e: Error) => fail(new Error(`Samba AD DC did not start: ${e.message}\n${tailFile(logFile, 40)}`)));
  record.pid = pid;
  record.start = startTimeOf(pid);
  writeJsonAtomic(dcFile, record);

  const url = "ldaps://127.0.0.1:636";
  const adminDn = `CN=Administrator,CN=Users,${AD.baseDn}`;
  const admin = await waitFor(
    "Samba's LDAPS to accept an Administrator bind",
    async () => {
      if (!isAlive(pid)) throw new AbortWait(new Error("samba exited during startup"));
      const c = tlsClient(url, tls.caPem);
      try {
        await c.bind(adminDn, AD.adminPassword);
        return c;
      } catch (e) {
        await c.unbind().catch(() => undefined);
        throw e;
      }
    },
    30_000,
    100,
  ).catch((e: Error) =>
    fail(new Error(`Samba AD DC (pid ${pid}) did not become ready: ${e.message}\n${tailFile(logFile, 40)}`)),
  );
  timings["samba.start"] = seconds(tStart);

  const tSeed = performance.now();
  let adEnv: AdEnv;
  try {
    adEnv = await seed(admin, { url, smbConf, logFile, env });
  } catch (e) {
    return fail(e as Error);
  } finally {
    await admin.unbind().catch(() => undefined);
  }
  timings["samba.seed"] = seconds(tSeed);
  record.env = adEnv;
  record.ready = true;
  writeJsonAtomic(dcFile, record);
  return { env: adEnv, caPem: tls.caPem, timings };
}

async function seed(
  admin: Client,
  ctx: { url: string; smbConf: string; logFile: string; env: NodeJS.ProcessEnv },
): Promise<AdEnv> {
  const base = AD.baseDn;
  const usersDn = `OU=People,${base}`;
  const groupsDn = `OU=Groups,${base}`;
  const minute = String(-60 * 10_000_000);

  // Test-friendly domain password policy (DIRECTORY-LAB.md gotcha 5), the same values as
  // `samba-tool domain passwordsettings set --complexity=on --history-length=5 --min-pwd-length=8
  //  --min-pwd-age=0 --max-pwd-age=0 --account-lockout-threshold=3 --account-lockout-duration=1
  //  --reset-account-lockout-after=1`.
  const replace = (type: string, value: string) =>
    new Change({ operation: "replace", modification: new Attribute({ type, values: [value] }) });
  await admin.modify(base, [
    replace("pwdProperties", "1"),
    replace("pwdHistoryLength", "5"),
    replace("minPwdLength", "8"),
    replace("minPwdAge", "0"),
    replace("maxPwdAge", "-9223372036854775808"),
    replace("lockoutThreshold", "3"),
    replace("lockoutDuration", minute),
    replace("lockOutObservationWindow", minute),
  ]);

  await admin.add(usersDn, { objectClass: ["top", "organizationalUnit"], ou: "People" });
  await admin.add(groupsDn, { objectClass: ["top", "organizationalUnit"], ou: "Groups" });

  const serviceDn = `CN=${AD.serviceName},CN=Users,${base}`;
  const serviceUpn = `${AD.serviceName}@${AD.dnsDomain}`;
  await admin.add(serviceDn, [
    new Attribute({ type: "objectClass", values: ["top", "person", "organizationalPerson", "user"] }),
    new Attribute({ type: "sAMAccountName", values: [AD.serviceName] }),
    new Attribute({ type: "userPrincipalName", values: [serviceUpn] }),
    new Attribute({ type: "description", values: ["Latchkey agent service account (tests)"] }),
    new Attribute({ type: "unicodePwd", values: [adUnicodePwd(AD.servicePassword)] }),
    // NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD
    new Attribute({ type: "userAccountControl", values: ["66048"] }),
  ]);
  const { searchEntries } = await admin.search(serviceDn, {
    scope: "base",
    attributes: ["objectSid"],
    explicitBufferAttributes: ["objectSid"],
  });
  const rawSid = searchEntries[0]?.objectSid;
  if (!Buffer.isBuffer(rawSid)) throw new Error("Samba AD DC: cannot read the service account's objectSid");
  const serviceSid = sidToString(rawSid);

  // Least-privilege delegation on OU=People, inherited by user objects: Reset Password, and
  // read/write lockoutTime (unlock) and pwdLastSet (force/undo must-change). Changing a password
  // with the old one needs no delegation (Everyone holds Change Password by default).
  const aces = [
    `(OA;CIIO;CR;${GUID.resetPassword};${GUID.userClass};${serviceSid})`,
    `(OA;CIIO;RPWP;${GUID.lockoutTime};${GUID.userClass};${serviceSid})`,
    `(OA;CIIO;RPWP;${GUID.pwdLastSet};${GUID.userClass};${serviceSid})`,
  ].join("");
  const samLdb = join(ctx.smbConf, "..", "..", "private", "sam.ldb");
  const dsacl = run(
    "/usr/bin/python3",
    [
      "/usr/bin/samba-tool",
      "dsacl",
      "set",
      "-H",
      samLdb,
      "-s",
      ctx.smbConf,
      `--objectdn=${usersDn}`,
      `--sddl=${aces}`,
    ],
    { env: ctx.env, timeoutMs: 60_000 },
  );
  // Don't leave it unhandled while the users are being created.
  dsacl.catch(() => undefined);

  const scopeGroupDn = `CN=SSPR-Users,${groupsDn}`;
  const adminGroupDn = `CN=SSPR-Admins,${groupsDn}`;
  const users = {} as Record<SeededUserName, SeededUser>;
  for (const [name, u] of seedEntries()) {
    const dn = `CN=${u.givenName} ${u.sn},${usersDn}`;
    const upn = `${u.username}@${AD.dnsDomain}`;
    await admin.add(dn, [
      new Attribute({ type: "objectClass", values: ["top", "person", "organizationalPerson", "user"] }),
      new Attribute({ type: "sAMAccountName", values: [u.username] }),
      new Attribute({ type: "userPrincipalName", values: [upn] }),
      new Attribute({ type: "givenName", values: [u.givenName] }),
      new Attribute({ type: "sn", values: [u.sn] }),
      new Attribute({ type: "displayName", values: [u.displayName] }),
      new Attribute({ type: "mail", values: [u.mail] }),
      new Attribute({ type: "mobile", values: [u.mobile] }),
      new Attribute({ type: "unicodePwd", values: [adUnicodePwd(u.password)] }),
      new Attribute({ type: "userAccountControl", values: ["512"] }),
    ]);
    const groups = [...(u.inScope ? [scopeGroupDn] : []), ...(u.admin ? [adminGroupDn] : [])];
    users[name] = {
      username: u.username,
      dn,
      password: u.password,
      givenName: u.givenName,
      sn: u.sn,
      displayName: u.displayName,
      mail: u.mail,
      mobile: u.mobile,
      groups,
      userPrincipalName: upn,
    };
  }
  const membersOf = (g: string) =>
    Object.values(users)
      .filter((u) => u.groups.includes(g))
      .map((u) => u.dn);
  for (const [dn, cn, description] of [
    [scopeGroupDn, "SSPR-Users", "Latchkey scope: members may reset their password"],
    [adminGroupDn, "SSPR-Admins", "Latchkey administrators"],
  ] as const) {
    await admin.add(dn, {
      objectClass: ["top", "group"],
      cn,
      sAMAccountName: cn,
      description,
      // global security group
      groupType: "-2147483646",
      member: membersOf(dn),
    });
  }
  await dsacl.catch((e: Error) => {
    throw new Error(`Samba AD DC: delegating rights to ${serviceDn} failed: ${e.message}`);
  });

  return {
    url: ctx.url,
    starttlsUrl: "ldap://127.0.0.1:389",
    host: "127.0.0.1",
    ldapPort: 389,
    ldapsPort: 636,
    realm: AD.realm,
    domain: AD.domain,
    dnsDomain: AD.dnsDomain,
    baseDn: base,
    usersDn,
    groupsDn,
    adminDn: `CN=Administrator,CN=Users,${base}`,
    adminUpn: `Administrator@${AD.dnsDomain}`,
    adminPassword: AD.adminPassword,
    serviceDn,
    serviceUpn,
    servicePassword: AD.servicePassword,
    serviceSid,
    scopeGroupDn,
    adminGroupDn,
    users,
    smbConf: ctx.smbConf,
    logFile: ctx.logFile,
  };
}
