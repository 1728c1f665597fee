/**
 * The real, built `latchkey` program run as a child process in a temporary directory (build first:
 * `npm run build`). Proves the refusal contract — exit status 2, exactly one line, nothing written —
 * and that serve/demo/migrate/admin/docs work end to end.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { renderConfigurationDoc } from "../config/generate-docs.js";
import { migrationProvider } from "../store/migrations/index.js";

const MAIN = resolve(import.meta.dirname, "../../dist/cli/main.js");
const KEYS = {
  LATCHKEY_SECRETS_HMAC_KEY: randomBytes(32).toString("base64"),
  LATCHKEY_SECRETS_DATA_KEY: randomBytes(32).toString("base64"),
};

beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run 'npm run build' before this test`);
});

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "latchkey-cli-"));
  dirs.push(d);
  return d;
}

/** A clean environment: nothing from the developer's shell leaks in (no LATCHKEY_*). */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp", ...extra };
}

function run(cwd: string, args: string[], extraEnv: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    cwd,
    env: env(extraEnv),
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every path under `dir` with its size and modification time. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = statSync(p);
      out.push(
        `${relative(dir, p)} ${st.isDirectory() ? "dir" : st.size} ${st.mtimeMs} ${(st.mode & 0o777).toString(8)}`,
      );
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

function write(dir: string, name: string, content: string, mode = 0o600): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  chmodSync(p, mode);
  return p;
}

interface Case {
  name: string;
  prepare(dir: string): Record<string, string>;
  key: string;
}

const INSECURE: Case[] = [
  { name: "no keys outside demo mode", prepare: () => ({}), key: "secrets.hmacKeyFile" },
  {
    name: "a key in clear in the file",
    prepare: (d) => {
      write(d, "latchkey.yaml", `secrets:\n  dataKey: ${randomBytes(32).toString("base64")}\n`);
      return KEYS;
    },
    key: "secrets.dataKey",
  },
  {
    name: "plain ldap:// without StartTLS",
    prepare: (d) => {
      write(d, "bind.pw", "s3cret");
      write(
        d,
        "latchkey.yaml",
        "directories:\n  - id: corp\n    url: ldap://dc1.corp.test:389\n    bindDn: CN=svc\n    bindPasswordFile: bind.pw\n    baseDn: DC=corp\n",
      );
      return KEYS;
    },
    key: "directories[0].url",
  },
  {
    name: "a group/world-readable key file",
    prepare: (d) => {
      write(d, "hmac.key", randomBytes(32).toString("base64"), 0o644);
      write(d, "data.key", randomBytes(32).toString("base64"));
      write(d, "latchkey.yaml", "secrets:\n  hmacKeyFile: hmac.key\n  dataKeyFile: data.key\n");
      return {};
    },
    key: "secrets.hmacKeyFile",
  },
  {
    name: "a malformed value",
    prepare: () => ({ ...KEYS, LATCHKEY_SERVER__PORT: "eighty" }),
    key: "server.port (from LATCHKEY_SERVER__PORT)",
  },
  {
    name: "plain SMTP to a remote host",
    prepare: (d) => {
      write(
        d,
        "latchkey.yaml",
        "smtp:\n  host: mail.example.com\n  from: it@example.com\n  startTls: false\n",
      );
      return KEYS;
    },
    key: "smtp.startTls",
  },
];

describe("latchkey refuses an invalid or insecure configuration", () => {
  for (const c of INSECURE) {
    it(`${c.name}: status 2, one line naming ${c.key}, nothing written`, () => {
      const dir = tempDir();
      const extra = c.prepare(dir);
      const before = snapshot(dir);
      const r = run(dir, ["serve"], extra);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      const lines = r.stderr.split("\n").filter(Boolean);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(/^latchkey: config error at .+: .+; .+$/);
      expect(lines[0]?.startsWith(`latchkey: config error at ${c.key}: `)).toBe(true);
      expect(snapshot(dir)).toEqual(before);
      expect(existsSync(join(dir, "data"))).toBe(false);
    });
  }

  it("the same refusal from migrate, demo and admin, before any store is opened", () => {
    const dir = tempDir();
    write(dir, "latchkey.yaml", "server:\n  port: -1\n");
    const before = snapshot(dir);
    for (const args of [["migrate"], ["demo"], ["admin", "users", "list"], ["admin", "audit", "tail"]]) {
      const r = run(dir, args, KEYS);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain("config error at server.port");
    }
    expect(snapshot(dir)).toEqual(before);
  });

  it("never echoes the secret it refuses", () => {
    const dir = tempDir();
    const secret = randomBytes(32).toString("base64");
    write(dir, "latchkey.yaml", `secrets:\n  hmacKey: "${secret}"\n`);
    const r = run(dir, ["serve"], KEYS);
    expect(r.status).toBe(2);
    expect(r.stderr).not.toContain(secret);
  });
});

describe("latchkey commands", () => {
  it("every command's --help says what it does and shows an example", () => {
    const dir = tempDir();
    const commands = [
      [],
      ["serve"],
      ["migrate"],
      ["demo"],
      ["admin"],
      ["admin", "users", "list"],
      ["admin", "audit", "tail"],
      ["admin", "tenant", "show"],
      ["admin", "tenant", "set"],
      ["docs", "config"],
    ];
    for (const c of commands) {
      const r = run(dir, [...c, "--help"]);
      expect(r.status, c.join(" ")).toBe(0);
      expect(r.stdout, c.join(" ")).toMatch(/Examples?:\n {2}\$ latchkey /);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it("a usage error is status 2", () => {
    const r = run(tempDir(), ["serve", "--port", "99999"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--port must be a whole number");
  });

  it("docs config prints the generated configuration reference", () => {
    const r = run(tempDir(), ["docs", "config"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(renderConfigurationDoc());
  });

  it("migrate applies the migrations once and says so; admin views read the store", async () => {
    const dir = tempDir();
    const first = run(dir, ["migrate"], KEYS);
    expect(first.status, first.stderr).toBe(0);
    const names = Object.keys(await migrationProvider.getMigrations()).sort();
    expect(first.stdout).toBe(`applied ${names.length} migration(s) on sqlite: ${names.join(", ")}\n`);
    expect(run(dir, ["migrate"], {}).stdout).toBe("the store is up to date (sqlite)\n");
    // The store is owner-only: it holds hashes and sealed data.
    expect(statSync(join(dir, "data")).mode & 0o077).toBe(0);
    expect(statSync(join(dir, "data", "latchkey.db")).mode & 0o077).toBe(0);
    const empty = run(dir, ["admin", "users", "list"]);
    expect(empty.status).toBe(1);
    expect(empty.stderr).toBe(
      "latchkey: the store holds no tenant yet; start the server once (latchkey serve)\n",
    );
  });
});

/** Starts a long-running command and waits until it prints a URL. */
async function startServer(dir: string, args: string[], extra: Record<string, string>) {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd: dir, env: env(extra), stdio: "pipe" });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b) => {
    stdout += String(b);
  });
  child.stderr.on("data", (b) => {
    stderr += String(b);
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const check = () => {
      const m = /(http:\/\/127\.0\.0\.1:\d+)/.exec(`${stdout}\n${stderr}`);
      if (m?.[1]) resolveUrl(m[1]);
    };
    child.stdout.on("data", check);
    child.stderr.on("data", check);
    child.on("exit", (code) => reject(new Error(`exited with ${code} before listening: ${stderr}`)));
  });
  return { child, url, exited, output: () => ({ stdout, stderr }) };
}

describe("latchkey serve and demo", () => {
  it("serve migrates, creates the tenant, answers /readyz, and stops cleanly on SIGTERM", async () => {
    const dir = tempDir();
    const s = await startServer(dir, ["serve", "--port", "0"], {
      ...KEYS,
      LATCHKEY_TENANT__SLUG: "acme",
      LATCHKEY_TENANT__NAME: "Acme",
      LATCHKEY_LOGGING__LEVEL: "info",
    });
    const ready = await fetch(`${s.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get("x-request-id")).toBeTruthy();
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
    const { stdout, stderr } = s.output();
    expect(stderr).toContain(`latchkey: listening on ${s.url}`);
    // Logs are JSON lines on stdout and carry request ids.
    const logs = stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.some((l) => typeof l.reqId === "string")).toBe(true);
    expect(stdout).not.toContain(KEYS.LATCHKEY_SECRETS_HMAC_KEY);

    const show = run(dir, ["admin", "tenant", "show", "--json"]);
    expect(show.status, show.stderr).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ slug: "acme", name: "Acme", users: 0 });
    const tail = run(dir, ["admin", "audit", "tail", "--json", "--limit", "5"]);
    expect(JSON.parse(tail.stdout).map((e: { event: string }) => e.event)).toEqual(["tenant.created"]);
  });

  it("demo seeds the demo tenant and users, prints the URL and their names", async () => {
    const dir = tempDir();
    // Cloud-only (the hybrid demo, with its throwaway slapd and agent, is e2e/demo-hybrid.test.ts).
    const s = await startServer(dir, ["demo", "--directory", "none", "--port", "0"], {});
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    // The portal is wired in: the reset page and, in demo mode, the outbox page answer.
    expect((await fetch(`${s.url}/reset`)).status).toBe(200);
    expect((await fetch(`${s.url}/demo/outbox`)).status).toBe(200);
    s.child.kill("SIGINT");
    expect(await s.exited).toBe(0);
    const { stdout } = s.output();
    expect(stdout).toContain(`Latchkey demo: ${s.url}`);
    expect(stdout).toContain("demo users: alice, bob, carol (admin)");
    expect(stdout).toContain(`reset page: ${s.url}/reset`);
    expect(existsSync(join(dir, "data", "demo.db"))).toBe(true);
    const users = run(dir, ["admin", "users", "list", "--json"], {
      LATCHKEY_DATABASE__URL: "sqlite:./data/demo.db",
    });
    expect(users.status, users.stderr).toBe(0);
    expect(JSON.parse(users.stdout).map((u: { username: string }) => u.username)).toEqual([
      "alice",
      "bob",
      "carol",
    ]);
    expect(users.stdout).not.toContain("argon2");

    // Settings change from the shell: validated as a whole, audited, and a refusal writes nothing.
    const db = { LATCHKEY_DATABASE__URL: "sqlite:./data/demo.db" };
    const set = run(dir, ["admin", "tenant", "set", "reset.gates=2", "reset.methods=email,totp"], db);
    expect(set.status, set.stderr).toBe(0);
    expect(set.stdout).toContain("reset.gates: 1 → 2\n");
    expect(set.stdout).toContain('reset.methods: ["email","sms","totp","questions"] → ["email","totp"]\n');
    const shown = JSON.parse(run(dir, ["admin", "tenant", "show", "--json"], db).stdout);
    expect(shown.settings.reset).toMatchObject({ gates: 2, methods: ["email", "totp"] });
    for (const [arg, message] of [
      ["reset.gates=3", "latchkey: setting refused: reset.gates:"],
      ["reset.gatez=1", "latchkey: setting refused: unknown setting reset.gatez\n"],
      ["reset=1", "latchkey: setting refused: reset is a group; set one of its fields\n"],
      ["password.minLength", 'latchkey: setting refused: expected path=value, got "password.minLength"\n'],
    ] as const) {
      const bad = run(dir, ["admin", "tenant", "set", "password.minLength=20", arg], db);
      expect(bad.status, arg).toBe(2);
      expect(bad.stderr.startsWith(message), `${arg}: ${bad.stderr}`).toBe(true);
    }
    const after = JSON.parse(run(dir, ["admin", "tenant", "show", "--json"], db).stdout);
    expect(after.settings.password.minLength).not.toBe(20);
    const audit = run(dir, ["admin", "audit", "tail", "--json"], db);
    expect(audit.stdout).toContain("tenant.settings_updated");
  });
});
