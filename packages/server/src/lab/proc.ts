// Development and demo facility (not used by `latchkey serve`): process, port and file helpers for
// the throwaway directories of `latchkey demo` and of the test environment (test-env/). Linux only
// (reads /proc).
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer, Socket } from "node:net";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  input?: string;
}

/** Runs a command to completion and captures its output. Throws with both outputs when it fails. */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const res = await runNoThrow(cmd, args, opts);
  if (res.code !== 0) {
    throw new Error(
      `command failed (exit ${res.code}): ${formatCommand(cmd, args)}\n${lastLines(`${res.stdout}\n${res.stderr}`, 40)}`,
    );
  }
  return res;
}

export function runNoThrow(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            stderr += `\n[lab] timed out after ${opts.timeoutMs} ms, killed`;
            child.kill("SIGKILL");
          }, opts.timeoutMs);
    child.on("error", (err) => {
      if (timer) clearTimeout(timer);
      reject(new Error(`cannot run ${formatCommand(cmd, args)}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

export function formatCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args]
    .map((a) => (/^[\w./:=@,+-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`))
    .join(" ");
}

export function lastLines(text: string, n: number): string {
  const lines = text.trimEnd().split("\n");
  return lines.slice(-n).join("\n");
}

/** The last `n` lines of a log file, indented, or a note that it does not exist. */
export function tailFile(path: string, n = 30): string {
  if (!existsSync(path)) return `  (no log file at ${path})`;
  const text = readFileSync(path, "utf8");
  if (text.trim() === "") return `  (log file ${path} is empty)`;
  return `  --- last lines of ${path} ---\n${lastLines(text, n)
    .split("\n")
    .map((l) => `  | ${l}`)
    .join("\n")}`;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** True when something accepts TCP connections on host:port. */
export function portAnswers(port: number, host = "127.0.0.1", timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = new Socket();
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once("error", () => done(false));
    sock.connect(port, host, () => done(true));
  });
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  // A zombie still answers kill(0); treat it as dead.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Process start time in clock ticks since boot (field 22 of /proc/<pid>/stat), to tell a pid from a reused one. */
export function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

export function exeOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

export function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
  } catch {
    return "";
  }
}

/** Reads a pid file; undefined when missing or garbage. */
export function readPidFile(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, "utf8").split("\n")[0]?.trim() ?? "", 10);
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // not a group leader, or already gone
  }
}

/** Live (non-zombie) processes whose process group is `pgid`. */
export function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    // After "(comm) ": state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (fields[0] !== "Z" && Number(fields[2]) === pgid) out.push(Number(entry));
  }
  return out;
}

/** Sends `signal`, waits up to `timeoutMs` for the process to exit, then SIGKILLs it. When it leads
 * a process group (daemons do), also waits for the rest of the group (e.g. Samba's ~40 workers,
 * which keep the ports until they are gone) and SIGKILLs stragglers. Resolves once all are gone. */
export async function killAndWait(
  pid: number,
  signal: NodeJS.Signals = "SIGTERM",
  timeoutMs = 10_000,
): Promise<void> {
  const leader = groupMembers(pid).includes(pid);
  const remaining = () => (leader ? groupMembers(pid) : isAlive(pid) ? [pid] : []);
  if (remaining().length === 0) return;
  try {
    process.kill(pid, signal);
  } catch {
    // the leader is gone; its group may not be
  }
  const deadline = Date.now() + timeoutMs;
  while (remaining().length > 0 && Date.now() < deadline) await sleep(25);
  if (remaining().length > 0) {
    if (leader) signalGroup(pid, "SIGKILL");
    for (const p of remaining()) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        // gone
      }
    }
    const hardDeadline = Date.now() + 5_000;
    while (remaining().length > 0 && Date.now() < hardDeadline) await sleep(25);
  }
}

/** Who listens on a TCP port (any address), from /proc. Best effort: "pid 123 (cmdline)" strings. */
export function portOwners(port: number): string[] {
  const inodes = new Set<string>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1];
      if (!local || cols[3] !== "0A") continue; // LISTEN
      const p = Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16);
      if (p === port && cols[9]) inodes.add(cols[9]);
    }
  }
  if (inodes.size === 0) return [];
  const owners = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m?.[1] && inodes.has(m[1])) {
        owners.set(pid, cmdlineOf(pid) || exeOf(pid) || "?");
        break;
      }
    }
  }
  return [...owners].map(([pid, cmd]) => `pid ${pid} (${cmd})`);
}

/** Polls `check` until it returns a value other than undefined, or throws after `timeoutMs`.
 * `check` may throw to abort early (e.g. when the daemon died). */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      if (e instanceof AbortWait) throw e.cause;
      lastError = e;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await sleep(intervalMs);
  }
}

/** Throw from a waitFor check to stop waiting at once with `cause`. */
export class AbortWait extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause });
  }
}

export function seconds(startMs: number): number {
  return Math.round((performance.now() - startMs) / 10) / 100;
}
