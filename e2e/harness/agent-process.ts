/**
 * What the e2e files that run the real `latchkey-agent` program share: where the built program is,
 * spawning it with its output captured, a cleanup list run after each test, and polling for a
 * condition with a deadline (no timed assertions: a condition either holds in time or the test says
 * what it waited for).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { afterEach, beforeAll } from "vitest";

export const AGENT_MAIN = resolve(import.meta.dirname, "../../packages/agent/dist/cli/main.js");

export type Cleanup = (() => Promise<unknown> | unknown)[];

/** Registers the hooks: the built agent must exist; cleanups run after each test, newest first. */
export function agentProcessHooks(): Cleanup {
  const cleanup: Cleanup = [];
  beforeAll(() => {
    if (!existsSync(AGENT_MAIN)) {
      throw new Error(`${AGENT_MAIN} is missing: run 'npm run build' before this test`);
    }
  });
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });
  return cleanup;
}

/** Polls `check` every 100 ms until it returns something truthy, or fails naming `what`. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | null | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Returns a function that starts the agent program in `cwd` (killed at cleanup if still running). */
export function agentSpawner(cleanup: Cleanup) {
  return function spawnAgent(cwd: string, args: string[]) {
    const child: ChildProcess = spawn(process.execPath, [AGENT_MAIN, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/tmp" },
    });
    const out = { stdout: "", stderr: "" };
    child.stdout?.on("data", (b: Buffer) => {
      out.stdout += b.toString("utf8");
    });
    child.stderr?.on("data", (b: Buffer) => {
      out.stderr += b.toString("utf8");
    });
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    cleanup.push(() => {
      if (child.exitCode === null) child.kill("SIGKILL");
    });
    return { child, out, exited };
  };
}
