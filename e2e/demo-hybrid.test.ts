/**
 * The built `latchkey demo` program, as a newcomer runs it: one command starts the server, a
 * throwaway slapd seeded with directory users, and the real latchkey-agent enrolled with a one-time
 * token. A directory user is synced, resets through the pages with the email code read from
 * /demo/outbox, and the throwaway slapd then accepts the new password (and refuses the old one).
 * Stopping the demo (SIGTERM, SIGINT) leaves no process behind and removes its temporary directory.
 * Without openssl on the PATH the demo cannot make its directory: it says so in one line and runs
 * cloud-only; asked for the directory explicitly, it refuses with status 3.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client } from "ldapts";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { t } from "../packages/server/src/i18n/index.js";
import { cmdlineOf, isAlive } from "../packages/server/src/lab/proc.js";
import type { CaptchaChallenge } from "../packages/server/src/web/altcha.js";
import { CAPTCHA_FIELD } from "../packages/server/src/web/components.js";
import { until } from "./harness/agent-process.js";
import { csrfOf, HttpClient, solveCaptchaChallengeFast } from "./harness/client.js";

const MAIN = resolve(import.meta.dirname, "../packages/server/dist/cli/main.js");
const AGENT_MAIN = resolve(import.meta.dirname, "../packages/agent/dist/cli/main.js");

beforeAll(() => {
  for (const f of [MAIN, AGENT_MAIN]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run 'npm run build' before this test`);
  }
});

const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  // A failed test still stops its demo the way a person would, so that it stops its daemons.
  for (const c of children.splice(0)) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    const gone = new Promise((r) => c.once("exit", r));
    c.kill("SIGTERM");
    await Promise.race([gone, new Promise((r) => setTimeout(r, 30_000))]);
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "latchkey-demo-test-"));
  dirs.push(d);
  return d;
}

/** A clean environment, as in a fresh shell: no LATCHKEY_* from the developer's. */
function cleanEnv(path = process.env.PATH ?? "/usr/bin:/bin"): NodeJS.ProcessEnv {
  return { PATH: path, HOME: process.env.HOME ?? "/tmp" };
}

interface Demo {
  child: ChildProcess;
  exited: Promise<number | null>;
  output(): { stdout: string; stderr: string };
}

/** Starts `latchkey demo` and waits until it printed its last line (ready, users synced). */
async function startDemo(args: string[], env = cleanEnv()): Promise<Demo> {
  const cwd = tempDir();
  const child = spawn(process.execPath, [MAIN, "demo", "--port", "0", ...args], { cwd, env, stdio: "pipe" });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (b: Buffer) => {
    stdout += b.toString("utf8");
  });
  child.stderr?.on("data", (b: Buffer) => {
    stderr += b.toString("utf8");
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  await until(
    "the demo to print that it is ready",
    async () => {
      if (gone) throw new Error(`the demo exited before it was ready:\n${stderr}\n${stdout}`);
      return stdout.includes("Stop with Ctrl-C.");
    },
    120_000,
  );
  return { child, exited, output: () => ({ stdout, stderr }) };
}

function field(stdout: string, re: RegExp): string {
  const m = re.exec(stdout);
  if (!m?.[1]) throw new Error(`not in the demo's output: ${re}\n${stdout}`);
  return m[1];
}

/** Every live process below `pid` (children, grandchildren…), by parent pid in /proc. */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      parent.set(Number(e), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) {
      if (pp === p) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(pid);
  return out;
}

async function bindsWith(url: string, caFile: string, dn: string, password: string): Promise<string> {
  const c = new Client({ url, timeout: 10_000, connectTimeout: 5_000 });
  try {
    await c.startTLS({ ca: [readFileSync(caFile, "utf8")], rejectUnauthorized: true });
    await c.bind(dn, password);
    return "ok";
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

/** The code in the newest message to `to` on the demo outbox page. */
async function codeFromOutbox(baseUrl: string, to: string): Promise<string> {
  return until(
    `a message to ${to} on /demo/outbox`,
    async () => {
      const page = await (await fetch(`${baseUrl}/demo/outbox`)).text();
      const article = page.split('<article class="demo-message">').find((a) => a.includes(`>${to}<`));
      return article ? /<pre>[\s\S]*?\b(\d{6,8})\b[\s\S]*?<\/pre>/.exec(article)?.[1] : undefined;
    },
    20_000,
  );
}

describe("latchkey demo with a throwaway slapd and the real agent", () => {
  it("syncs the directory users; a directory user resets through the pages and binds with the new password; SIGTERM leaves nothing behind", async () => {
    const demo = await startDemo([]);
    const { stdout } = demo.output();
    const url = field(stdout, /Latchkey demo: (http:\/\/127\.0\.0\.1:\d+)/);
    const ldapUrl = field(stdout, /directory: (ldap:\/\/127\.0\.0\.1:\d+)/);
    const caFile = field(stdout, /CA: (\S+)/);
    const workDir = field(stdout, /throwaway files \(removed on exit\): (\S+)/);
    const store = field(stdout, /store: (\S+)/);
    const oldPassword = field(
      stdout,
      /\n {4}dana: email, sms; password (\S+); mail dana@corp\.example, mobile \+\d+\n/,
    );
    const danaDn = "uid=dana,ou=people,dc=example,dc=test";
    // What a newcomer is told: cloud and directory users, their methods and passwords, where codes are.
    expect(stdout).toContain("demo users: alice, bob, carol (admin)");
    expect(stdout).toMatch(
      /\n {4}alice: email, sms, questions; password \S+; mail alice@demo\.example, mobile \+\d+\n/,
    );
    expect(stdout).toMatch(/\n {4}fiona \(admin\): email, sms, totp; password \S+; mail fiona@corp\.example/);
    expect(stdout).toContain("gus: outside the scope group");
    expect(stdout).toContain(`messages sent (codes): ${url}/demo/outbox`);
    expect(store).toBe(`sqlite:${join(workDir, "demo.db")}`);

    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const tree = descendants(demo.child.pid ?? 0);
    const commands = tree.map(cmdlineOf);
    expect(commands.some((c) => c.startsWith("/usr/sbin/slapd") && c.includes(workDir))).toBe(true);
    expect(commands.some((c) => c.includes(`${AGENT_MAIN} run`))).toBe(true);

    // The directory users are synced (the agent's full pass), with their methods registered.
    const listed = spawnSync(process.execPath, [MAIN, "admin", "users", "list", "--json"], {
      env: { ...cleanEnv(), LATCHKEY_DATABASE__URL: store },
      encoding: "utf8",
    });
    expect(listed.status, listed.stderr).toBe(0);
    const users = JSON.parse(listed.stdout) as { username: string; kind: string; methods: number }[];
    expect(users.find((u) => u.username === "dana")).toMatchObject({ kind: "synced", methods: 2 });
    expect(users.find((u) => u.username === "alice")).toMatchObject({ kind: "cloud", methods: 3 });
    expect(await bindsWith(ldapUrl, caFile, danaDn, oldPassword)).toBe("ok");

    // dana forgot her password: the reset page, the email code from the outbox, a new password.
    const c = new HttpClient(url);
    const first = await c.get("/reset");
    const challenge = JSON.parse((await c.get("/api/v1/captcha/challenge")).text) as CaptchaChallenge;
    const choose = await c.submit("/reset/identify", {
      _csrf: csrfOf(first.text),
      username: "dana",
      [CAPTCHA_FIELD]: solveCaptchaChallengeFast(challenge),
    });
    // The demo tenant discloses nothing: the person gives the registered address with the method.
    const emailPage = await c.submit("/reset/challenge", {
      _csrf: csrfOf(choose.text),
      method: "email",
      contact: "dana@corp.example",
    });
    const code = await codeFromOutbox(url, "dana@corp.example");
    const pwPage = await c.submit("/reset/verify", { _csrf: csrfOf(emailPage.text), code });
    expect(pwPage.text).toContain(t("en", "reset.password.title"));
    const next = "Harbour-Lantern-Quill-83";
    const done = await c.submit("/reset/password", {
      _csrf: csrfOf(pwPage.text),
      password: next,
      confirm: next,
    });
    expect(done.text).toContain(t("en", "reset.done.title"));

    // The throwaway slapd holds the new password; the old one no longer binds.
    expect(await bindsWith(ldapUrl, caFile, danaDn, next)).toBe("ok");
    expect(await bindsWith(ldapUrl, caFile, danaDn, oldPassword)).not.toBe("ok");

    demo.child.kill("SIGTERM");
    expect(await demo.exited).toBe(0);
    expect(tree.filter(isAlive)).toEqual([]);
    expect(existsSync(workDir)).toBe(false);
    expect(demo.output().stderr).toContain(`removed ${workDir}`);
  });

  it("Ctrl-C (SIGINT) stops the agent, the server and slapd, and removes the temporary directory", async () => {
    const demo = await startDemo(["--directory", "openldap"]);
    const workDir = field(demo.output().stdout, /throwaway files \(removed on exit\): (\S+)/);
    const tree = descendants(demo.child.pid ?? 0);
    expect(tree.length).toBeGreaterThanOrEqual(2);
    demo.child.kill("SIGINT");
    expect(await demo.exited).toBe(0);
    expect(tree.filter(isAlive)).toEqual([]);
    expect(existsSync(workDir)).toBe(false);
  });
});

describe("latchkey demo after a demo was killed outright", () => {
  it("the next demo stops the slapd and agent that a SIGKILLed demo left, and removes its directory", async () => {
    const first = await startDemo([]);
    const workDir = field(first.output().stdout, /throwaway files \(removed on exit\): (\S+)/);
    const left = descendants(first.child.pid ?? 0);
    expect(left.length).toBeGreaterThanOrEqual(2);
    first.child.kill("SIGKILL");
    await first.exited;
    // SIGKILL cannot be caught: its slapd and agent are still running…
    expect(left.filter(isAlive)).toEqual(left);
    const second = await startDemo([]);
    // …until the next demo starts.
    expect(left.filter(isAlive)).toEqual([]);
    expect(existsSync(workDir)).toBe(false);
    expect(second.output().stderr).toContain(`left by a demo that was killed (${workDir})`);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
  });
});

describe("latchkey demo when the directory cannot be made", () => {
  // An empty PATH: no openssl for the throwaway CA (the same path as a machine without slapd).
  const noTools = () => cleanEnv(tempDir());

  it("says so in one line and runs cloud-only", async () => {
    const demo = await startDemo([], noTools());
    const { stdout, stderr } = demo.output();
    const lines = stderr.split("\n").filter(Boolean);
    expect(lines).toEqual([
      "latchkey: the demo runs cloud-only (no directory users): openssl is not on the PATH: install it with `apt-get install slapd openssl` (as root)",
    ]);
    expect(stdout).toContain("demo users: alice, bob, carol (admin)");
    expect(stdout).not.toContain("directory users");
    expect(descendants(demo.child.pid ?? 0)).toEqual([]);
    demo.child.kill("SIGINT");
    expect(await demo.exited).toBe(0);
  });

  it("asked for explicitly, refuses with status 3 and one line", () => {
    const r = spawnSync(process.execPath, [MAIN, "demo", "--port", "0", "--directory", "openldap"], {
      cwd: tempDir(),
      env: noTools(),
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(r.status).toBe(3);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(
      "latchkey: --directory openldap cannot run: openssl is not on the PATH: install it with `apt-get install slapd openssl` (as root)\n",
    );
  });
});
