import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ConfigError } from "./errors.js";
import { ENV_DATA_KEY, ENV_HMAC_KEY, type LoadConfigOptions, loadConfig } from "./load.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "latchkey-config-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const hmac = randomBytes(32);
const data = randomBytes(32);
const KEYS = { [ENV_HMAC_KEY]: hmac.toString("base64"), [ENV_DATA_KEY]: data.toString("hex") };

function file(name: string, content: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  chmodSync(p, mode);
  return p;
}

async function failure(opts: LoadConfigOptions): Promise<ConfigError> {
  try {
    await loadConfig({ cwd: dir, env: {}, ...opts });
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    const err = e as ConfigError;
    expect(err.line()).not.toContain("\n");
    expect(err.line()).toMatch(/^latchkey: config error at \S.*: .+; .+$/);
    return err;
  }
  throw new Error("loadConfig accepted the configuration");
}

describe("loadConfig: sources and defaults", () => {
  it("uses the defaults when there is no file, with keys from the environment", async () => {
    const loaded = await loadConfig({ cwd: dir, env: KEYS });
    expect(loaded.source.file).toBeNull();
    expect(loaded.config.server).toMatchObject({ host: "127.0.0.1", port: 8080, cookieSecure: true });
    expect(loaded.config.database.url).toBe(`sqlite:${join(dir, "data/latchkey.db")}`);
    expect(loaded.publicUrl).toBe("http://127.0.0.1:8080");
    expect(loaded.secrets.hmacKey.equals(hmac)).toBe(true);
    expect(loaded.secrets.dataKey.equals(data)).toBe(true);
    expect(loaded.secretsGenerated).toBe(false);
    expect(loaded.config.tenant.settings.reset.gates).toBe(1);
  });

  it("reads ./latchkey.yaml, then lets LATCHKEY_* variables override it (JSON when it parses)", async () => {
    file(
      "latchkey.yaml",
      "server:\n  port: 9000\n  host: 0.0.0.0\nlogging:\n  level: debug\ntenant:\n  slug: acme\n  name: Acme\n",
    );
    const loaded = await loadConfig({
      cwd: dir,
      env: {
        ...KEYS,
        LATCHKEY_SERVER__PORT: "9090",
        LATCHKEY_SERVER__TRUST_PROXY: '["10.0.0.1"]',
        LATCHKEY_SERVER__PUBLIC_URL: "https://reset.acme.test",
        LATCHKEY_TENANT__SETTINGS: '{"reset":{"gates":2}}',
        LATCHKEY_UNRELATED: "ignored: no double underscore",
        LATCHKEY_LOGGING__LEVEL: "",
      },
    });
    expect(loaded.source.file).toBe(join(dir, "latchkey.yaml"));
    expect(loaded.config.server.port).toBe(9090);
    expect(loaded.config.server.host).toBe("0.0.0.0");
    expect(loaded.config.server.trustProxy).toEqual(["10.0.0.1"]);
    expect(loaded.config.logging.level).toBe("debug");
    expect(loaded.config.tenant).toMatchObject({ slug: "acme", name: "Acme" });
    expect(loaded.config.tenant.settings.reset.gates).toBe(2);
    expect(loaded.publicUrl).toBe("https://reset.acme.test");
    expect(loaded.source.env).toEqual([
      "LATCHKEY_SERVER__PORT",
      "LATCHKEY_SERVER__PUBLIC_URL",
      "LATCHKEY_SERVER__TRUST_PROXY",
      "LATCHKEY_TENANT__SETTINGS",
    ]);
  });

  it("reads keys from owner-only files, hex or base64, and resolves relative paths", async () => {
    file("hmac.key", `${hmac.toString("hex")}\n`);
    file("data.key", `${data.toString("base64url")}\n`);
    file("latchkey.yaml", "secrets:\n  hmacKeyFile: hmac.key\n  dataKeyFile: ./data.key\n");
    const loaded = await loadConfig({ cwd: dir, env: {} });
    expect(loaded.secrets.hmacKey.equals(hmac)).toBe(true);
    expect(loaded.secrets.dataKey.equals(data)).toBe(true);
    expect(loaded.config.secrets.hmacKeyFile).toBe(join(dir, "hmac.key"));
  });

  it("in demo mode generates missing keys for the run", async () => {
    const loaded = await loadConfig({ cwd: dir, env: {}, overrides: { demo: true } });
    expect(loaded.secretsGenerated).toBe(true);
    expect(loaded.secrets.hmacKey).toHaveLength(32);
    expect(loaded.secrets.hmacKey.equals(loaded.secrets.dataKey)).toBe(false);
  });

  it("for commands that need no keys, replaces missing ones but still checks configured key files", async () => {
    const loaded = await loadConfig({ cwd: dir, env: {}, requireSecrets: false });
    expect(loaded.secretsGenerated).toBe(true);
    file("hmac.key", hmac.toString("base64"), 0o644);
    await expect(
      loadConfig({ cwd: dir, env: { LATCHKEY_SECRETS__HMAC_KEY_FILE: "hmac.key" }, requireSecrets: false }),
    ).rejects.toThrow(/chmod 600/);
  });

  it("applies command defaults below the file and overrides above the environment", async () => {
    file("latchkey.yaml", "database:\n  url: sqlite:./mine.db\n");
    const loaded = await loadConfig({
      cwd: dir,
      env: { ...KEYS, LATCHKEY_DEMO: "false" },
      defaults: { database: { url: "sqlite:./data/demo.db" }, server: { cookieSecure: false } },
      overrides: { demo: true },
    });
    expect(loaded.config.database.url).toBe(`sqlite:${join(dir, "mine.db")}`);
    expect(loaded.config.server.cookieSecure).toBe(false);
    expect(loaded.config.demo).toBe(true);
  });

  it("accepts a directory over ldaps:// and over ldap:// with StartTLS", async () => {
    file("bind.pw", "s3cret");
    const dirs = [
      {
        id: "ad",
        url: "ldaps://dc1.corp.test:636",
        bindDn: "x",
        bindPasswordFile: "bind.pw",
        baseDn: "DC=corp",
      },
      {
        id: "ol",
        url: "ldap://ldap.corp.test",
        startTls: true,
        bindDn: "x",
        bindPasswordFile: "bind.pw",
        baseDn: "o",
      },
    ];
    const loaded = await loadConfig({
      cwd: dir,
      env: { ...KEYS, LATCHKEY_DIRECTORIES: JSON.stringify(dirs) },
    });
    expect(loaded.config.directories.map((d) => d.id)).toEqual(["ad", "ol"]);
    expect(loaded.config.directories[0]?.bindPasswordFile).toBe(join(dir, "bind.pw"));
  });
});

describe("loadConfig: refuses invalid or insecure configurations with the key and the fix", () => {
  it("missing keys outside demo mode", async () => {
    const err = await failure({});
    expect(err.key).toBe("secrets.hmacKeyFile");
    expect(err.fix).toContain(ENV_HMAC_KEY);
    const err2 = await failure({ env: { [ENV_HMAC_KEY]: KEYS[ENV_HMAC_KEY] } });
    expect(err2.key).toBe("secrets.dataKeyFile");
  });

  it("a key written in clear in the file, without echoing it", async () => {
    const secret = hmac.toString("base64");
    file("latchkey.yaml", `secrets:\n  hmacKey: "${secret}"\n`);
    const err = await failure({ env: KEYS });
    expect(err.key).toBe("secrets.hmacKey");
    expect(err.problem).toContain("in clear");
    expect(err.fix).toContain("secrets.hmacKeyFile");
    expect(err.line()).not.toContain(secret);
  });

  it("any password, token or secret in clear, at any depth", async () => {
    file(
      "latchkey.yaml",
      "smtp:\n  host: mail.test\n  from: a@b.test\n  auth:\n    user: u\n    password: hunter2\n",
    );
    const err = await failure({ env: KEYS });
    expect(err.key).toBe("smtp.auth.password");
    expect(err.fix).toContain("passwordFile");
    expect(err.line()).not.toContain("hunter2");

    file("latchkey.yaml", "directories:\n  - id: x\n    bindPassword: hunter2\n");
    expect((await failure({ env: KEYS })).key).toBe("directories[0].bindPassword");
  });

  it("a password inside the PostgreSQL URL in the file", async () => {
    file("latchkey.yaml", "database:\n  url: postgres://latchkey:hunter2@db.test/latchkey\n");
    const err = await failure({ env: KEYS });
    expect(err.key).toBe("database.url");
    expect(err.line()).not.toContain("hunter2");
  });

  it("a credential header of an HTTP provider", async () => {
    const err = await failure({
      env: {
        ...KEYS,
        LATCHKEY_SMS: JSON.stringify({
          type: "http",
          url: "https://sms.test/send",
          headers: { "X-Api-Key": "k" },
        }),
      },
    });
    expect(err.key).toBe("sms.headers.X-Api-Key");
    expect(err.fix).toContain("headerFiles");
  });

  it("plain ldap:// without StartTLS", async () => {
    file("bind.pw", "s3cret");
    file(
      "latchkey.yaml",
      "directories:\n  - id: corp\n    url: ldap://dc1.corp.test\n    bindDn: x\n    bindPasswordFile: bind.pw\n    baseDn: DC=corp\n",
    );
    const err = await failure({ env: KEYS });
    expect(err.key).toBe("directories[0].url");
    expect(err.fix).toBe("use ldaps:// or set startTls: true");
  });

  it("plain SMTP to a remote host, and a plain-http gateway", async () => {
    const smtp = await failure({
      env: { ...KEYS, LATCHKEY_SMTP: '{"host":"mail.test","from":"a@b.test","startTls":false}' },
    });
    expect(smtp.key).toBe("smtp.startTls");
    const sms = await failure({
      env: { ...KEYS, LATCHKEY_SMS: '{"type":"http","url":"http://sms.example.test/send"}' },
    });
    expect(sms.key).toBe("sms.url");
    // Loopback is fine for both (a local relay, a test sink).
    const ok = await loadConfig({
      cwd: dir,
      env: {
        ...KEYS,
        LATCHKEY_SMTP: '{"host":"127.0.0.1","port":2525,"from":"a@b.test","startTls":false}',
        LATCHKEY_SMS: '{"type":"http","url":"http://127.0.0.1:9999/send"}',
      },
    });
    expect(ok.config.smtp?.port).toBe(2525);
  });

  it("a key file readable by group or others", async () => {
    file("hmac.key", hmac.toString("base64"), 0o640);
    file("data.key", data.toString("base64"));
    file("latchkey.yaml", "secrets:\n  hmacKeyFile: hmac.key\n  dataKeyFile: data.key\n");
    const err = await failure({});
    expect(err.key).toBe("secrets.hmacKeyFile");
    expect(err.problem).toContain("0640");
    expect(err.fix).toBe(`run: chmod 600 ${join(dir, "hmac.key")}`);
  });

  it("a provider credential file readable by others", async () => {
    file("token", "t", 0o604);
    const err = await failure({
      env: {
        ...KEYS,
        LATCHKEY_SMS: JSON.stringify({
          type: "twilio",
          accountSid: `AC${"0".repeat(32)}`,
          authTokenFile: "token",
          from: "+15005550006",
        }),
      },
    });
    expect(err.key).toBe("sms.authTokenFile");
  });

  it("a key that is not 32 bytes, or the same key twice", async () => {
    const short = await failure({ env: { ...KEYS, [ENV_HMAC_KEY]: "correct horse battery staple" } });
    expect(short.key).toBe(ENV_HMAC_KEY);
    expect(short.line()).not.toContain("horse");
    const same = await failure({
      env: { [ENV_HMAC_KEY]: KEYS[ENV_HMAC_KEY], [ENV_DATA_KEY]: KEYS[ENV_HMAC_KEY] },
    });
    expect(same.problem).toContain("same");
  });

  it("a malformed value, naming the variable it came from", async () => {
    const err = await failure({ env: { ...KEYS, LATCHKEY_SERVER__PORT: "eighty" } });
    expect(err.key).toBe("server.port (from LATCHKEY_SERVER__PORT)");
    expect(err.problem).toContain("expected number");
    file("latchkey.yaml", "server:\n  port: 70000\n");
    expect((await failure({ env: KEYS })).key).toBe("server.port");
    rmSync(join(dir, "latchkey.yaml"));
    const missing = await failure({ env: { ...KEYS, LATCHKEY_SMTP: '{"from":"a@b.test"}' } });
    expect(missing.key).toBe("smtp.host");
    expect(missing.problem).toBe("missing");
  });

  it("an unknown key in the file or a misspelt variable", async () => {
    file("latchkey.yaml", "server:\n  prot: 80\n");
    const err = await failure({ env: KEYS });
    expect(err.key).toBe("server.prot");
    expect(err.problem).toBe("unknown key");
    rmSync(join(dir, "latchkey.yaml"));
    const env = await failure({ env: { ...KEYS, LATCHKEY_SERVER__PROT: "80" } });
    expect(env.key).toBe("LATCHKEY_SERVER__PROT");
  });

  it("an unknown provider type, invalid tenant settings, bad YAML, a missing --config file", async () => {
    expect((await failure({ env: { ...KEYS, LATCHKEY_SMS__TYPE: "pigeon" } })).fix).toBe(
      "use one of: none, http, twilio",
    );
    expect(
      (await failure({ env: { ...KEYS, LATCHKEY_TENANT__SETTINGS: '{"reset":{"gates":3}}' } })).key,
    ).toBe("tenant.settings.reset.gates");
    file("bad.yaml", "server: [unclosed\n");
    expect((await failure({ env: KEYS, path: "bad.yaml" })).problem).toContain("does not parse");
    expect((await failure({ env: KEYS, path: "nope.yaml" })).key).toBe("--config");
  });

  it("writes nothing while loading, even when it fails", async () => {
    file("latchkey.yaml", "server:\n  port: 8080\n");
    await failure({});
    expect(readdirSync(dir).sort()).toEqual(["latchkey.yaml"]);
  });
});
