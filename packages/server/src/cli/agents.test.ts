/**
 * The agent commands, run in-process against the same SQLite file a live server uses (as an
 * operator's shell would, next to `latchkey serve`): make a token, enroll with it over HTTP, list
 * the agent as online, revoke it and see its link close at its next heartbeat.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLOSE } from "../directory-link/link.js";
import { enroll, generateAgentKeys, TestAgentLink } from "../directory-link/testing/agent-client.js";
import {
  type LinkServer,
  type SharedStore,
  startLinkServer,
  testStore,
} from "../directory-link/testing/server.js";
import { agentRevokeCommand, agentsListCommand, agentTokenCommand, parseTtl } from "./agents.js";
import { CliError } from "./errors.js";
import { buildProgram } from "./main.js";

describe("latchkey admin agent-token / agents / agent revoke", () => {
  let dir: string;
  let config: string;
  let shared: SharedStore;
  let server: LinkServer;
  const lines: string[] = [];
  const out = (s: string) => {
    lines.push(s);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lk-cli-agents-"));
    const url = `sqlite:${join(dir, "latchkey.db")}`;
    shared = await testStore({ url, drop: async () => {} });
    server = await startLinkServer({ shared });
    config = join(dir, "latchkey.yaml");
    writeFileSync(
      config,
      `database:\n  url: ${url}\ntenant:\n  slug: link-test\nserver:\n  publicUrl: https://reset.example.test\n`,
    );
  });
  afterAll(async () => {
    await server?.close();
    await shared?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it("makes a token that enrolls once, lists the agent online, revokes it", async () => {
    lines.length = 0;
    await agentTokenCommand({ config, json: true, ttl: parseTtl("5m"), directory: "corp" }, out);
    const made = JSON.parse(lines.join("")) as {
      token: string;
      expiresAt: string;
      directoryId: string;
      server: string;
    };
    expect(made).toMatchObject({ directoryId: "corp", server: "https://reset.example.test" });
    expect(Buffer.from(made.token, "base64url")).toHaveLength(32);
    expect(Date.parse(made.expiresAt) - Date.now()).toBeGreaterThan(4 * 60_000);
    expect(Date.parse(made.expiresAt) - Date.now()).toBeLessThanOrEqual(5 * 60_000);

    const keys = generateAgentKeys();
    const enrolled = await enroll(server.baseUrl, made.token, keys, { name: "cli-agent", version: "3.1.4" });
    expect(enrolled.status).toBe(201);
    const agentId = enrolled.enrolled?.agentId ?? "";
    expect((await enroll(server.baseUrl, made.token, generateAgentKeys())).status).toBe(401);

    lines.length = 0;
    await agentsListCommand({ config, json: true }, out);
    let listed = JSON.parse(lines.join("")) as Array<Record<string, unknown>>;
    expect(listed.find((a) => a.id === agentId)).toMatchObject({
      name: "cli-agent",
      online: false,
      revoked: null,
    });

    const link = await TestAgentLink.open(server.baseUrl);
    await link.authenticate({
      agentId,
      keys,
      version: "3.1.4",
      directories: [{ id: "corp", dialect: "ad", description: "" }],
    });
    lines.length = 0;
    await agentsListCommand({ config, json: true }, out);
    listed = JSON.parse(lines.join("")) as Array<Record<string, unknown>>;
    expect(listed.find((a) => a.id === agentId)).toMatchObject({
      online: true,
      directories: ["corp"],
      boundDirectory: "corp",
      version: "3.1.4",
    });
    lines.length = 0;
    await agentsListCommand({ config }, out);
    const tableText = lines.join("");
    expect(tableText).toMatch(
      /^ID\s+NAME\s+DIRECTORY\s+VERSION\s+ONLINE\s+LAST HEARTBEAT\s+ENROLLED\s+REVOKED$/m,
    );
    expect(tableText).toMatch(new RegExp(`^${agentId}\\s+cli-agent\\s+corp\\s+3\\.1\\.4\\s+yes\\s`, "m"));

    lines.length = 0;
    await agentRevokeCommand(agentId, { config }, out);
    expect(lines.join("")).toContain(`revoked agent ${agentId}`);
    link.heartbeat();
    expect(await link.next("error")).toMatchObject({ code: "AGENT_REVOKED" });
    expect((await link.waitClosed()).code).toBe(CLOSE.REVOKED);

    lines.length = 0;
    await agentRevokeCommand(agentId, { config }, out);
    expect(lines.join("")).toContain("already revoked");
    await expect(agentRevokeCommand("no-such-agent", { config }, out)).rejects.toThrow(CliError);

    lines.length = 0;
    await agentsListCommand({ config }, out);
    expect(lines.join("")).toMatch(new RegExp(`^${agentId}\\s.*\\srevoked\\s`, "m"));
    const events = (await server.audit()).map((e) => e.event);
    expect(events).toEqual(
      expect.arrayContaining(["agent.token_created", "agent.enrolled", "agent.revoked"]),
    );
    expect(JSON.stringify(await server.audit())).not.toContain(made.token);
  });

  it("plain output shows the token once for copying and the enroll command", async () => {
    lines.length = 0;
    await agentTokenCommand({ config }, out);
    const [token, info, how] = lines.join("").trimEnd().split("\n");
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(info).toMatch(/^one use, expires \S+Z; tenant link-test; directory any the agent announces$/);
    expect(how).toBe(
      `on the agent's host: latchkey-agent enroll --server https://reset.example.test --token ${token}`,
    );
  });

  it("refuses a directory the configuration does not list (when it lists some)", async () => {
    const withDirs = join(dir, "with-dirs.yaml");
    const pw = join(dir, "pw");
    writeFileSync(pw, "x", { mode: 0o600 });
    writeFileSync(
      withDirs,
      `database:\n  url: ${shared.url}\ntenant:\n  slug: link-test\ndirectories:\n  - id: corp\n    url: ldaps://dc1.example.test\n    bindDn: CN=svc\n    bindPasswordFile: ${pw}\n    baseDn: DC=example,DC=test\n`,
    );
    await expect(agentTokenCommand({ config: withDirs, directory: "hr" }, out)).rejects.toThrow(
      /no directory hr/,
    );
    lines.length = 0;
    await agentTokenCommand({ config: withDirs, directory: "corp", json: true }, out);
    expect(JSON.parse(lines.join(""))).toMatchObject({ directoryId: "corp" });
  });

  it("--ttl takes 1m to 1h", () => {
    expect(parseTtl("15m")).toBe(900_000);
    expect(parseTtl("1h")).toBe(3_600_000);
    expect(parseTtl("90s")).toBe(90_000);
    for (const bad of ["59s", "61m", "2h", "15", "m", "-5m", "1.5h", ""])
      expect(() => parseTtl(bad), bad).toThrow();
  });

  it("each command's --help says what it does and shows an example", async () => {
    for (const args of [["agent-token"], ["agents"], ["agent", "revoke"]]) {
      let help = "";
      const program = buildProgram();
      const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
      for (const c of all(program)) c.configureOutput({ writeOut: (t) => (help += t), writeErr: () => {} });
      await expect(program.parseAsync(["node", "latchkey", "admin", ...args, "--help"])).rejects.toThrow();
      expect(help, args.join(" ")).toMatch(/^Usage: latchkey admin /);
      expect(help, args.join(" ")).toContain("Example");
      expect(help, args.join(" ")).toContain(`$ latchkey admin ${args.join(" ")}`);
    }
  });
});
