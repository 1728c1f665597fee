/**
 * The built `latchkey-agent` as a child process (build first: `npm run build`): `enroll` is honestly
 * unavailable, `run` refuses insecure configurations with one line and status 2, and against the test
 * environment's real Samba AD and slapd it reports each dialect and exits with status 3 (no server link yet).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { getTestEnv } from "../../../../test-env/env.js";

const MAIN = resolve(import.meta.dirname, "../../dist/cli/main.js");
beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run 'npm run build' before this test`);
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "latchkey-agent-cli-"));
  dirs.push(d);
  return d;
}

function run(cwd: string, args: string[]) {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function secret(dir: string, name: string, value: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, value);
  chmodSync(p, mode);
  return p;
}

describe("latchkey-agent", () => {
  it("enroll says it is not available yet and exits 3", () => {
    const r = run(tempDir(), ["enroll", "--server", "https://reset.example.com", "--token", "abc"]);
    expect(r.status).toBe(3);
    expect(r.stderr).toBe(
      "latchkey-agent: enroll is not available yet (issue 4): the agent cannot enroll with a server in this version\n",
    );
  });

  it("every command's --help shows an example", () => {
    for (const c of [[], ["run"], ["enroll"]]) {
      const r = run(tempDir(), [...c, "--help"]);
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
    it(`run refuses ${name}: status 2, one line, nothing written`, () => {
      const dir = tempDir();
      secret(dir, "bind.pw", "x");
      writeFileSync(join(dir, "latchkey-agent.yaml"), yaml);
      const before = readdirSync(dir).sort();
      const r = run(dir, ["run"]);
      expect(r.status).toBe(2);
      const lines = r.stderr.split("\n").filter(Boolean);
      expect(lines).toHaveLength(1);
      expect(lines[0]?.startsWith(`latchkey-agent: config error at ${key}: `)).toBe(true);
      expect(r.stderr).not.toContain("hunter2");
      expect(readdirSync(dir).sort()).toEqual(before);
    });
  }

  it("run probes the real AD and OpenLDAP, names each dialect, and exits 3 (no server link yet)", () => {
    const env = getTestEnv();
    const dir = tempDir();
    secret(dir, "ad.pw", env.ad.servicePassword);
    secret(dir, "ol.pw", env.openldap.servicePassword);
    writeFileSync(
      join(dir, "latchkey-agent.yaml"),
      [
        "server:",
        "  url: https://reset.example.com",
        "logging:",
        "  level: warn",
        "directories:",
        "  - id: ad",
        `    url: ${env.ad.url}`,
        `    caFile: ${env.caFile}`,
        `    bindDn: ${JSON.stringify(env.ad.serviceDn)}`,
        "    bindPasswordFile: ad.pw",
        `    baseDn: ${JSON.stringify(env.ad.baseDn)}`,
        "  - id: openldap",
        `    url: ${env.openldap.url}`,
        "    startTls: true",
        `    caFile: ${env.caFile}`,
        `    bindDn: ${JSON.stringify(env.openldap.serviceDn)}`,
        "    bindPasswordFile: ol.pw",
        `    baseDn: ${JSON.stringify(env.openldap.baseDn)}`,
        "",
      ].join("\n"),
    );
    const r = run(dir, ["run"]);
    expect(r.status, r.stderr).toBe(3);
    expect(r.stderr).toContain(`directory ad (${env.ad.url}): Active Directory`);
    expect(r.stderr).toContain(
      `directory openldap (${env.openldap.url}): OpenLDAP-compatible (RFC 3062 Password Modify`,
    );
    expect(r.stderr).toContain("not built yet (issue 4)");
    expect(`${r.stdout}${r.stderr}`).not.toContain(env.ad.servicePassword);
  });

  it("run fails with status 1 when a directory's certificate is not trusted", () => {
    const env = getTestEnv();
    const dir = tempDir();
    secret(dir, "ad.pw", env.ad.servicePassword);
    writeFileSync(
      join(dir, "latchkey-agent.yaml"),
      `server:\n  url: https://reset.example.com\ndirectories:\n  - id: ad\n    url: ${env.ad.url}\n    bindDn: ${JSON.stringify(env.ad.serviceDn)}\n    bindPasswordFile: ad.pw\n    baseDn: ${JSON.stringify(env.ad.baseDn)}\n`,
    );
    const r = run(dir, ["run"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("directory ad");
    expect(r.stderr).toContain("1 directory failed the probe");
  });
});
