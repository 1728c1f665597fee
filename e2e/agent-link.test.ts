/**
 * The agent program's refusals against the real server (startLinkServer: buildApp + the
 * directory-link plugin as `serve` composes them): a reused or expired enrollment token is refused
 * with status 2 and one line, and no key file is written; an agent whose key is not the one it
 * enrolled (a forged identity) and a revoked agent are refused at authentication, and stop with
 * status 4 instead of dialling forever.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../packages/server/src/core/clock.js";
import { type LinkServer, startLinkServer } from "../packages/server/src/directory-link/testing/server.js";
import { getTestEnv } from "../test-env/env.js";

const MAIN = resolve(import.meta.dirname, "../packages/agent/dist/cli/main.js");
const env = getTestEnv();
const clock = new ManualClock(Date.now());
let server: LinkServer;
let dir: string;

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run 'npm run build' before this test`);
  server = await startLinkServer({ clock, directories: ["corp-ol"], link: { heartbeatIntervalMs: 1000 } });
  dir = mkdtempSync(join(tmpdir(), "latchkey-e2e-link-"));
  writeFileSync(join(dir, "ol.pw"), env.openldap.servicePassword);
  chmodSync(join(dir, "ol.pw"), 0o600);
  writeFileSync(
    join(dir, "latchkey-agent.yaml"),
    [
      "server:",
      `  url: ${server.baseUrl}`,
      "keyFile: agent.key",
      "directories:",
      "  - id: corp-ol",
      `    url: ${env.openldap.url}`,
      "    startTls: true",
      `    caFile: ${env.caFile}`,
      `    bindDn: ${JSON.stringify(env.openldap.serviceDn)}`,
      "    bindPasswordFile: ol.pw",
      `    baseDn: ${JSON.stringify(env.openldap.usersDn)}`,
      "",
    ].join("\n"),
  );
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

function agent(args: string[], timeoutMs = 30_000) {
  const child: ChildProcess = spawn(process.execPath, [MAIN, ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" },
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (b: Buffer) => {
    stdout += b.toString("utf8");
  });
  child.stderr?.on("data", (b: Buffer) => {
    stderr += b.toString("utf8");
  });
  const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise<{ status: number | null; stdout: string; stderr: string }>((r) =>
    child.on("close", (status) => {
      clearTimeout(killer);
      r({ status, stdout, stderr });
    }),
  );
}

describe("latchkey-agent against the real server: refusals", () => {
  it("a reused token and an expired token: status 2, one line, no key file", async () => {
    const token = await server.token({ directoryId: "corp-ol" });
    const ok = await agent([
      "enroll",
      "--server",
      server.baseUrl,
      "--token",
      token,
      "--key-file",
      "first.key",
    ]);
    expect(ok.status, ok.stderr).toBe(0);
    const reused = await agent([
      "enroll",
      "--server",
      server.baseUrl,
      "--token",
      token,
      "--key-file",
      "second.key",
    ]);
    expect(reused.status).toBe(2);
    expect(reused.stderr.trim().split("\n")).toHaveLength(1);
    expect(reused.stderr).toContain("the server refused the enrollment token");
    expect(existsSync(join(dir, "second.key"))).toBe(false);

    const short = await server.token({ ttlMs: 60_000 });
    clock.advance(61_000);
    const expired = await agent([
      "enroll",
      "--server",
      server.baseUrl,
      "--token",
      short,
      "--key-file",
      "third.key",
    ]);
    expect(expired.status).toBe(2);
    expect(expired.stderr).toContain("the server refused the enrollment token");
    expect(existsSync(join(dir, "third.key"))).toBe(false);
    expect((await server.audit("agent.enroll_failed")).length).toBeGreaterThanOrEqual(2);
  });

  it("a forged identity and a revoked agent are refused at authentication: status 4, no endless redial", async () => {
    const token = await server.token({ directoryId: "corp-ol" });
    const ok = await agent(["enroll", "--server", server.baseUrl, "--token", token]);
    expect(ok.status, ok.stderr).toBe(0);
    const agentId = /enrolled as agent (\S+)/.exec(ok.stdout)?.[1] ?? "";
    const genuine = readFileSync(join(dir, "agent.key"), "utf8");

    // Same agent id, another Ed25519 key (a consistent key file, so the agent loads it): the signature
    // does not verify against the enrolled public key.
    const other = generateKeyPairSync("ed25519").privateKey.export({ format: "jwk" });
    const forged = JSON.parse(genuine) as { ed25519: { public: string; private: string } };
    forged.ed25519 = { public: other.x as string, private: other.d as string };
    writeFileSync(join(dir, "agent.key"), JSON.stringify(forged), { mode: 0o600 });
    const refused = await agent(["run"]);
    expect(refused.status).toBe(4);
    expect(refused.stderr).toContain("the server refused this agent (AUTH_FAILED)");
    expect((await server.audit("agent.auth_failed")).map((e) => e.reason)).toContain("signature_invalid");

    writeFileSync(join(dir, "agent.key"), genuine, { mode: 0o600 });
    await server.link.revoke({ tenantId: server.tenant.id, agentId });
    const revoked = await agent(["sync", "--once"]);
    expect(revoked.status).toBe(4);
    expect(revoked.stderr).toContain("the server refused this agent (AUTH_FAILED)");
    expect((await server.audit("agent.auth_failed")).map((e) => e.reason)).toContain("agent_revoked");
  });
});
