// Development and demo facility (not used by `latchkey serve`): a throwaway Samba AD DC for
// `latchkey demo --directory samba` and the test environment: provisioned from scratch in a
// directory, listening on 127.0.0.1/::1 only (LDAP 389 and LDAPS 636 are fixed, so one per machine),
// with the given certificate, seeded with the given people and a least-privilege agent account.
// test-env/lib/samba.ts adds the sharing of one DC between concurrent test runs. The measured Samba
// behaviour this relies on is in the project's DIRECTORY-LAB notes.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Attribute, Change, Client } from "ldapts";
import { entriesOf, type LabUser, type SeedPerson } from "./people.js";
import {
  AbortWait,
  formatCommand,
  isAlive,
  killAndWait,
  portAnswers,
  portOwners,
  readPidFile,
  run,
  runNoThrow,
  seconds,
  sleep,
  tailFile,
  waitFor,
} from "./proc.js";
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

/** Environment for samba/samba-tool: Debian's python3 and sbin first (DIRECTORY-LAB.md gotcha 8). */
export function sambaProcessEnv(): NodeJS.ProcessEnv {
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

export function tlsClient(url: string, caPem: string): Client {
  return new Client({
    url,
    timeout: 20_000,
    connectTimeout: 3_000,
    tlsOptions: { ca: [caPem], rejectUnauthorized: true },
  });
}

export async function assertPortsFree(ports: number[]): Promise<void> {
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
          `or kill the pid) and try again.`,
      );
    }
    await sleep(250);
  }
}

/** What a seeded DC offers (test-env's AdEnv is this type, with the test values documented there). */
export interface LabAd<N extends string> {
  url: string;
  starttlsUrl: string;
  host: string;
  ldapPort: number;
  ldapsPort: number;
  realm: string;
  domain: string;
  dnsDomain: string;
  baseDn: string;
  usersDn: string;
  groupsDn: string;
  adminDn: string;
  adminUpn: string;
  adminPassword: string;
  serviceDn: string;
  serviceUpn: string;
  servicePassword: string;
  serviceSid: string;
  scopeGroupDn: string;
  adminGroupDn: string;
  users: Record<N, LabUser>;
  smbConf: string;
  logFile: string;
}

/** Where a provisioned DC keeps its files. */
export interface DcPaths {
  dir: string;
  runDir: string;
  logDir: string;
  smbConf: string;
  logFile: string;
  pidFile: string;
}

/** `samba-tool domain provision` into `dir` (3.7–4.5 s on the 2-core machine). */
export async function provisionDc(dir: string, tls: TlsFiles): Promise<DcPaths> {
  const runDir = join(dir, "run");
  const logDir = join(dir, "log");
  mkdirSync(runDir, { recursive: true });
  mkdirSync(logDir, { recursive: true });
  const smbConf = join(dir, "etc", "smb.conf");
  const logFile = join(logDir, "log.samba");
  const env = sambaProcessEnv();
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
  return { dir, runDir, logDir, smbConf, logFile, pidFile: join(runDir, "samba.pid") };
}

/** `samba -D`, then waits for its pid (handed to `onPid` at once, so a crash from here on leaves
 * something to clean up) and for an Administrator bind over LDAPS, whose client it returns. */
export async function launchDc(
  paths: DcPaths,
  tls: TlsFiles,
  onPid: (pid: number) => void,
): Promise<{ pid: number; admin: Client; url: string }> {
  const { smbConf, logDir, logFile, pidFile } = paths;
  const env = sambaProcessEnv();
  const started = await runNoThrow("/usr/sbin/samba", ["-D", "-s", smbConf, "-l", logDir], {
    env,
    timeoutMs: 30_000,
  });
  if (started.code !== 0) {
    throw new Error(
      `Samba AD DC: \`samba -D\` exited ${started.code}: ${started.stderr.trim()}\n${tailFile(logFile, 40)}`,
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
  ).catch((e: Error) => {
    throw new Error(`Samba AD DC did not start: ${e.message}\n${tailFile(logFile, 40)}`);
  });
  onPid(pid);

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
  ).catch((e: Error) => {
    throw new Error(`Samba AD DC (pid ${pid}) did not become ready: ${e.message}\n${tailFile(logFile, 40)}`);
  });
  return { pid, admin, url };
}

export interface LabSambaHandle<N extends string> {
  env: LabAd<N>;
  /** The samba root process (it leads the process group of its ~40 workers). */
  pid: number;
  timings: Record<string, number>;
  stop(): Promise<void>;
}

/** The demo's DC: provisions, starts and seeds a DC in `dir`, and stops it (its whole process group)
 * on `stop()`. Needs root and free ports 389/636. */
export async function startLabSamba<N extends string>(opts: {
  dir: string;
  tls: TlsFiles;
  people: Record<N, SeedPerson>;
}): Promise<LabSambaHandle<N>> {
  if (process.getuid?.() !== 0) {
    throw new Error("Samba AD DC must run as root (it binds 389/636 and runs its own privileged services).");
  }
  await assertPortsFree([389, 636]);
  const timings: Record<string, number> = {};
  const t0 = performance.now();
  const paths = await provisionDc(opts.dir, opts.tls);
  timings["samba.provision"] = seconds(t0);
  let pid: number | undefined;
  const stop = async (): Promise<void> => {
    const p = pid ?? readPidFile(paths.pidFile);
    pid = undefined;
    if (p !== undefined) await killAndWait(p, "SIGTERM", 15_000);
  };
  try {
    const t1 = performance.now();
    const launched = await launchDc(paths, opts.tls, (p) => {
      pid = p;
    });
    timings["samba.start"] = seconds(t1);
    const t2 = performance.now();
    try {
      const env = await seedDc(
        launched.admin,
        { url: launched.url, smbConf: paths.smbConf, logFile: paths.logFile },
        opts.people,
      );
      timings["samba.seed"] = seconds(t2);
      return { env, pid: launched.pid, timings, stop };
    } finally {
      await launched.admin.unbind().catch(() => undefined);
    }
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Seeds a freshly provisioned DC over LDAPS as Administrator: the password policy, OU=People and
 * OU=Groups, the agent's service account and its delegation, `people`, and the two groups. */
export async function seedDc<N extends string>(
  admin: Client,
  ctx: { url: string; smbConf: string; logFile: string; env?: NodeJS.ProcessEnv },
  people: Record<N, SeedPerson>,
): Promise<LabAd<N>> {
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
    new Attribute({ type: "description", values: ["Latchkey agent service account (throwaway directory)"] }),
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
    { env: ctx.env ?? sambaProcessEnv(), timeoutMs: 60_000 },
  );
  // Don't leave it unhandled while the users are being created.
  dsacl.catch(() => undefined);

  const scopeGroupDn = `CN=SSPR-Users,${groupsDn}`;
  const adminGroupDn = `CN=SSPR-Admins,${groupsDn}`;
  const users = {} as Record<N, LabUser>;
  for (const [name, u] of entriesOf(people)) {
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
    (Object.values(users) as LabUser[]).filter((u) => u.groups.includes(g)).map((u) => u.dn);
  for (const [dn, cn, description] of [
    [scopeGroupDn, "SSPR-Users", "Latchkey scope: members may reset their password"],
    [adminGroupDn, "SSPR-Admins", "Latchkey administrators"],
  ] as const) {
    const member = membersOf(dn);
    await admin.add(dn, {
      objectClass: ["top", "group"],
      cn,
      sAMAccountName: cn,
      description,
      // global security group
      groupType: "-2147483646",
      // An empty group is fine on AD; `member` with no value is not.
      ...(member.length > 0 ? { member } : {}),
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
