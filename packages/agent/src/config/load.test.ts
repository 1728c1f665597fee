import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AgentConfigError, loadAgentConfig, readBindPassword } from "./load.js";
import type { AgentDirectoryConfig } from "./schema.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "latchkey-agent-config-"));
  writeFileSync(join(dir, "bind.pw"), "s3cret\n");
  chmodSync(join(dir, "bind.pw"), 0o600);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const base = (url: string, extra = "") =>
  `server:\n  url: https://reset.example.com\ndirectories:\n  - id: corp\n    url: ${url}\n    bindDn: CN=svc\n    bindPasswordFile: bind.pw\n    baseDn: DC=corp${extra}\n`;

async function refusal(yaml: string, env: NodeJS.ProcessEnv = {}): Promise<AgentConfigError> {
  writeFileSync(join(dir, "latchkey-agent.yaml"), yaml);
  const e = await loadAgentConfig({ cwd: dir, env }).then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(AgentConfigError);
  const err = e as AgentConfigError;
  expect(err.line()).toMatch(/^latchkey-agent: config error at .+: .+; .+$/);
  return err;
}

describe("agent configuration", () => {
  it("loads a valid file, with defaults and absolute paths, and env overrides", async () => {
    writeFileSync(join(dir, "latchkey-agent.yaml"), base("ldaps://dc1.corp.test:636"));
    const { config } = await loadAgentConfig({
      cwd: dir,
      env: {
        LATCHKEY_AGENT_LOGGING__LEVEL: "debug",
        LATCHKEY_AGENT_SERVER__URL: "https://other.example.com",
      },
    });
    expect(config.server.url).toBe("https://other.example.com");
    expect(config.logging.level).toBe("debug");
    expect(config.directories[0]).toMatchObject({
      id: "corp",
      startTls: false,
      dialect: "auto",
      bindPasswordFile: join(dir, "bind.pw"),
    });
    expect(config.keyFile).toBe(join(dir, "latchkey-agent.key"));
  });

  it("accepts ldap:// with StartTLS and refuses it without", async () => {
    writeFileSync(join(dir, "latchkey-agent.yaml"), base("ldap://ldap.corp.test", "\n    startTls: true"));
    await expect(loadAgentConfig({ cwd: dir, env: {} })).resolves.toBeDefined();
    const e = await refusal(base("ldap://ldap.corp.test"));
    expect(e.key).toBe("directories[0].url");
    expect(e.fix).toBe("use ldaps:// or set startTls: true");
  });

  it("refuses a password in clear, a readable password file, a plain http server", async () => {
    expect((await refusal(`${base("ldaps://dc1")}    bindPassword: hunter2\n`)).key).toBe(
      "directories[0].bindPassword",
    );
    chmodSync(join(dir, "bind.pw"), 0o640);
    expect((await refusal(base("ldaps://dc1"))).fix).toContain("chmod 600");
    chmodSync(join(dir, "bind.pw"), 0o600);
    const http = await refusal(
      base("ldaps://dc1").replace("https://reset.example.com", "http://reset.example.com"),
    );
    expect(http.key).toBe("server.url");
  });

  it("a plain http:// server that is not loopback only with allowInsecureLink; a password from the environment", async () => {
    const yaml = base("ldaps://dc1")
      .replace("https://reset.example.com", "http://10.0.0.5:8080")
      .replace("bindPasswordFile: bind.pw", "bindPasswordEnv: CORP_BIND_PASSWORD");
    expect((await refusal(yaml, { CORP_BIND_PASSWORD: "x" })).key).toBe("server.url");
    writeFileSync(join(dir, "latchkey-agent.yaml"), yaml);
    const { config } = await loadAgentConfig({
      cwd: dir,
      env: { LATCHKEY_AGENT_SERVER__ALLOW_INSECURE_LINK: "true", CORP_BIND_PASSWORD: "from-env" },
    });
    expect(config.server.allowInsecureLink).toBe(true);
    expect(
      readBindPassword(config.directories[0] as AgentDirectoryConfig, 0, { CORP_BIND_PASSWORD: "from-env" }),
    ).toBe("from-env");
    const missing = await refusal(yaml, { LATCHKEY_AGENT_SERVER__ALLOW_INSECURE_LINK: "true" });
    expect(missing.key).toBe("directories[0].bindPasswordEnv");
    const both = await refusal(`${base("ldaps://dc1")}    bindPasswordEnv: CORP_BIND_PASSWORD\n`, {
      CORP_BIND_PASSWORD: "x",
    });
    expect(both.key).toBe("directories[0].bindPasswordFile");
  });

  it("refuses an unknown key and a missing directory list", async () => {
    expect((await refusal(`${base("ldaps://dc1")}colour: blue\n`)).key).toBe("colour");
    expect((await refusal("server:\n  url: https://reset.example.com\n")).key).toBe("directories");
  });
});
