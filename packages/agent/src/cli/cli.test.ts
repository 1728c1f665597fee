/**
 * The built `latchkey-agent` as a child process (build first: `npm run build`), against the test
 * environment's real Samba AD and slapd and a server that speaks the agent protocol
 * (testing/protocol-server.ts, real TLS): enroll, check, run (killed with SIGKILL and restarted: it
 * resumes from its cursor, no second full pass), sync --once, and the refusals — each with its exit
 * status and one line on stderr, never a password.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createOpenLdapUser, getTestEnv } from "../../../../test-env/env.js";
import { until } from "../testing/clock.js";
import { ProtocolServer } from "../testing/protocol-server.js";

const MAIN = resolve(import.meta.dirname, "../../dist/cli/main.js");
const env = getTestEnv();
let server: ProtocolServer;

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run 'npm run build' before this test`);
  server = new ProtocolServer({
    tls: { cert: readFileSync(env.certFile, "utf8"), key: readFileSync(env.keyFile, "utf8") },
    heartbeatIntervalMs: 1000,
  });
  await server.listen();
});
afterAll(() => server.close());

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "latchkey-agent-cli-"));
  dirs.push(d);
  return d;
}

const childEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" };

/** Runs the program to its end. Asynchronously: the server it talks to runs in this process. */
async function run(cwd: string, args: string[]) {
  const p = start(cwd, args);
  const status = await p.exited;
  return { status, stdout: p.out.stdout, stderr: p.out.stderr };
}

function start(cwd: string, args: string[]) {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd, env: childEnv });
  children.push(child);
  const out = { stdout: "", stderr: "" };
  child.stdout.on("data", (b: Buffer) => {
    out.stdout += b.toString("utf8");
  });
  child.stderr.on("data", (b: Buffer) => {
    out.stderr += b.toString("utf8");
  });
  // "close": the process ended and its output is all read.
  const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  return { child, out, exited };
}

function secret(dir: string, name: string, value: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, value);
  chmodSync(p, mode);
  return p;
}

function olConfig(dir: string, extra: string[] = []): void {
  secret(dir, "ol.pw", env.openldap.servicePassword);
  writeFileSync(
    join(dir, "latchkey-agent.yaml"),
    [
      "server:",
      `  url: ${server.url}`,
      `  caFile: ${env.caFile}`,
      "keyFile: agent.key",
      "logging:",
      "  level: info",
      "sync:",
      "  intervalSeconds: 5",
      "directories:",
      "  - id: corp-ol",
      `    url: ${env.openldap.url}`,
      "    startTls: true",
      `    caFile: ${env.caFile}`,
      `    bindDn: ${JSON.stringify(env.openldap.serviceDn)}`,
      "    bindPasswordFile: ol.pw",
      `    baseDn: ${JSON.stringify(env.openldap.usersDn)}`,
      "    scopeGroups:",
      `      - ${JSON.stringify(env.openldap.scopeGroupDn)}`,
      ...extra,
      "",
    ].join("\n"),
  );
}

async function enroll(dir: string): Promise<string> {
  const r = await run(dir, [
    "enroll",
    "--server",
    server.url,
    "--token",
    server.issueToken(),
    "--ca-file",
    env.caFile,
    "--key-file",
    "agent.key",
  ]);
  expect(r.status, r.stderr).toBe(0);
  const m = /enrolled as agent (\S+)/.exec(r.stdout);
  return m?.[1] ?? "";
}

describe("latchkey-agent", () => {
  it("every command's --help shows an example", async () => {
    for (const c of [[], ["enroll"], ["run"], ["sync"], ["check"]]) {
      const r = await run(tempDir(), [...c, "--help"]);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/Examples?:\n {2}\$ latchkey-agent /);
    }
  });

  for (const [name, yaml, key] of [
    [
      "plain ldap:// without StartTLS",
      "server:\n  url: https://reset.example.com\ndirectories:\n  - id: corp\n    url: ldap://dc1.corp.test\n    bindDn: CN=svc\n    bindPasswordFile: bind.pw\n    baseDn: DC=corp\n",
      "directories[0].url",
    ],
    [
      "a password in clear",
      "server:\n  url: https://reset.example.com\ndirectories:\n  - id: corp\n    url: ldaps://dc1.corp.test\n    bindDn: CN=svc\n    bindPassword: hunter2\n    baseDn: DC=corp\n",
      "directories[0].bindPassword",
    ],
  ] as const) {
    it(`refuses ${name}: status 2, one line, nothing written`, async () => {
      const dir = tempDir();
      secret(dir, "bind.pw", "x");
      writeFileSync(join(dir, "latchkey-agent.yaml"), yaml);
      const before = readdirSync(dir).sort();
      for (const cmd of ["check", "run"]) {
        const r = await run(dir, [cmd]);
        expect(r.status).toBe(2);
        const lines = r.stderr.split("\n").filter(Boolean);
        expect(lines).toHaveLength(1);
        expect(lines[0]?.startsWith(`latchkey-agent: config error at ${key}: `)).toBe(true);
        expect(r.stderr).not.toContain("hunter2");
        expect(readdirSync(dir).sort()).toEqual(before);
      }
    });
  }

  it("check probes the real AD and OpenLDAP and names each dialect", async () => {
    const dir = tempDir();
    secret(dir, "ad.pw", env.ad.servicePassword);
    olConfig(dir, [
      "  - id: ad",
      `    url: ${env.ad.url}`,
      `    caFile: ${env.caFile}`,
      `    bindDn: ${JSON.stringify(env.ad.serviceDn)}`,
      "    bindPasswordFile: ad.pw",
      `    baseDn: ${JSON.stringify(env.ad.baseDn)}`,
    ]);
    const r = await run(dir, ["check"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`directory ad (${env.ad.url}): Active Directory`);
    expect(r.stderr).toContain(
      `directory corp-ol (${env.openldap.url}): OpenLDAP-compatible (RFC 3062 Password Modify`,
    );
    expect(`${r.stdout}${r.stderr}`).not.toContain(env.ad.servicePassword);
  });

  it("check fails with status 1 when a directory's certificate is not trusted", async () => {
    const dir = tempDir();
    secret(dir, "ad.pw", env.ad.servicePassword);
    writeFileSync(
      join(dir, "latchkey-agent.yaml"),
      `server:\n  url: https://reset.example.com\ndirectories:\n  - id: ad\n    url: ${env.ad.url}\n    bindDn: ${JSON.stringify(env.ad.serviceDn)}\n    bindPasswordFile: ad.pw\n    baseDn: ${JSON.stringify(env.ad.baseDn)}\n`,
    );
    const r = await run(dir, ["check"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("directory ad");
    expect(r.stderr).toContain("1 directory failed the probe");
  });

  it("enroll: status 0 and a 0600 key file; a used token: status 2, one line; a dead server: status 1", async () => {
    const dir = tempDir();
    const token = server.issueToken();
    const ok = await run(dir, [
      "enroll",
      "--server",
      server.url,
      "--token",
      token,
      "--ca-file",
      env.caFile,
      "--name",
      "site-1",
    ]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(statSync(join(dir, "latchkey-agent.key")).mode & 0o777).toBe(0o600);
    const reused = await run(dir, [
      "enroll",
      "--server",
      server.url,
      "--token",
      token,
      "--ca-file",
      env.caFile,
      "--key-file",
      "b.key",
    ]);
    expect(reused.status).toBe(2);
    expect(reused.stderr.split("\n").filter(Boolean)).toEqual([
      "latchkey-agent: the server refused the enrollment token (unknown, already used or expired); make a new one with `latchkey admin agent-token`",
    ]);
    const dead = await run(dir, [
      "enroll",
      "--server",
      "https://127.0.0.1:1",
      "--token",
      server.issueToken(),
      "--key-file",
      "c.key",
    ]);
    expect(dead.status).toBe(1);
    expect(dead.stderr).toMatch(
      /^latchkey-agent: cannot reach the server at https:\/\/127\.0\.0\.1:1: connection refused\n$/,
    );
    const again = await run(dir, [
      "enroll",
      "--server",
      server.url,
      "--token",
      server.issueToken(),
      "--ca-file",
      env.caFile,
    ]);
    expect(again.status).toBe(2);
    expect(again.stderr).toContain("already exists");
    for (const r of [ok, reused, dead, again]) expect(`${r.stdout}${r.stderr}`).not.toContain(token);
    expect(readdirSync(dir).sort()).toEqual(["latchkey-agent.key"]);
  });

  it("run before enrolling: status 2, says to enroll", async () => {
    const dir = tempDir();
    olConfig(dir);
    const r = await run(dir, ["run"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/does not exist: enroll first/);
  });

  it("run syncs, survives SIGKILL and resumes from its cursor (no second full pass); sync --once; SIGTERM stops it", async () => {
    const dir = tempDir();
    olConfig(dir);
    const agentId = await enroll(dir);
    const fullBatches = () => server.batches.filter((b) => b.agentId === agentId && b.message.full);
    const mine = () => server.batches.filter((b) => b.agentId === agentId);

    const first = start(dir, ["run"]);
    await until("a full pass", () => fullBatches().some((b) => b.message.final), 20_000);
    const users = server.users.get("corp-ol");
    expect(users && [...users.values()].find((u) => u.username === "alice")).toMatchObject({ inScope: true });
    // The cursor is written once the agent has the final ack.
    await until("the state file", () => existsSync(join(dir, "agent.state.json")));
    expect(statSync(join(dir, "agent.state.json")).mode & 0o777).toBe(0o600);
    first.child.kill("SIGKILL");
    await first.exited;

    const user = await createOpenLdapUser();
    try {
      const before = mine().length;
      const second = start(dir, ["run"]);
      await until(
        "the new user, incrementally",
        () =>
          mine()
            .slice(before)
            .some((b) => b.message.users.some((u) => u.username === user.username)),
        20_000,
      );
      expect(
        mine()
          .slice(before)
          .every((b) => !b.message.full),
      ).toBe(true);
      expect(fullBatches().every((b) => b.message.syncId === fullBatches()[0]?.message.syncId)).toBe(true);
      second.child.kill("SIGTERM");
      expect(await second.exited).toBe(0);
      expect(second.out.stdout).toContain('"msg":"incremental sync pass done"');
      expect(`${first.out.stdout}${second.out.stdout}${second.out.stderr}`).not.toContain(
        env.openldap.servicePassword,
      );

      await user.remove();
      const once = await run(dir, ["sync", "--once"]);
      expect(once.status, once.stderr).toBe(0);
      expect(once.stderr).toMatch(/latchkey-agent: corp-ol: incremental pass, \d+ users sent, 1 deleted/);
      expect(users?.has(user.username)).toBe(false);
      const full = await run(dir, ["sync", "--once", "--full"]);
      expect(full.status, full.stderr).toBe(0);
      expect(full.stderr).toMatch(/corp-ol: full pass, \d+ users sent/);
    } finally {
      await user.remove().catch(() => {});
    }
  });

  it("run exits 4 when the server revokes the agent", async () => {
    const dir = tempDir();
    olConfig(dir);
    const agentId = await enroll(dir);
    const p = start(dir, ["run"]);
    await until(
      "connected",
      () =>
        server.sockets.size > 0 &&
        server.authenticated > 0 &&
        server.heartbeats.some((h) => h.agentId === agentId),
      20_000,
    );
    server.revoke(agentId);
    expect(await p.exited).toBe(4);
    expect(p.out.stderr).toContain("the server refused this agent (AGENT_REVOKED)");
  });
});
