/**
 * Start-up benchmark: how long from spawning the built `latchkey serve` (SQLite in a fresh temporary
 * directory, keys from the environment) until /readyz first answers 200. Each cold start includes
 * loading the configuration, creating the database, running the migrations, creating the tenant,
 * building the app (portal included) and listening. Measured in the same run, as references: a bare
 * `node -e 0` (the floor no Node program can beat) and a restart on the existing store (no migration).
 *
 *   npm run build && npx tsx bench/readyz.ts [N]
 *
 * Target: a cold start under 1 s (p50).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { formatMs, printTable, summarise } from "./lib/index.js";

const ROOT = resolve(import.meta.dirname, "..");
const MAIN = join(ROOT, "packages/server/dist/cli/main.js");
const N = Number(process.argv[2] ?? 5);
const TARGET_MS = 1000;

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      s.close(() => resolvePort(port));
    });
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => {
    if (child.exitCode !== null) r(child.exitCode);
    else child.once("exit", (code) => r(code));
  });
}

async function nodeBaseline(): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ["-e", "0"], { stdio: "ignore" });
  await exited(child);
  return performance.now() - t0;
}

const KEYS = {
  LATCHKEY_SECRETS_HMAC_KEY: randomBytes(32).toString("base64"),
  LATCHKEY_SECRETS_DATA_KEY: randomBytes(32).toString("base64"),
};

/** Spawns `latchkey serve` in `dir` and returns the time until /readyz first answers 200. */
async function timeToReady(dir: string): Promise<number> {
  const port = await freePort();
  let stderr = "";
  const t0 = performance.now();
  const child = spawn(process.execPath, [MAIN, "serve", "--port", String(port)], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, LATCHKEY_LOGGING__LEVEL: "warn", ...KEYS },
    stdio: ["ignore", "ignore", "pipe"],
  });
  child.stderr?.on("data", (b) => {
    stderr += String(b);
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`latchkey serve exited with ${child.exitCode}: ${stderr}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
        await res.arrayBuffer();
        if (res.status === 200) return performance.now() - t0;
      } catch {
        // not listening yet
      }
      if (performance.now() - t0 > 30_000) throw new Error(`no 200 from /readyz within 30 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    child.kill("SIGTERM");
    const code = await exited(child);
    if (code !== 0 && code !== null) console.error(`warning: serve exited with ${code} after SIGTERM`);
  }
}

async function main(): Promise<void> {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run 'npm run build' first`);
  const baseline: number[] = [];
  const cold: number[] = [];
  const warm: number[] = [];
  await nodeBaseline(); // warm the file cache once
  for (let i = 0; i < N; i++) {
    baseline.push(await nodeBaseline());
    const dir = mkdtempSync(join(tmpdir(), "latchkey-bench-readyz-"));
    try {
      cold.push(await timeToReady(dir));
      warm.push(await timeToReady(dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const ref = summarise(baseline).p50;
  const row = (name: string, samples: number[]) => {
    const s = summarise(samples);
    return [name, String(s.n), formatMs(s.p50), formatMs(s.max), `${(s.p50 / ref).toFixed(1)}×`];
  };
  console.log(
    `latchkey start-up: spawn → first 200 from /readyz (SQLite, ${N} runs, node ${process.version})\n`,
  );
  printTable(
    [
      row("node -e 0 (baseline: spawn + exit)", baseline),
      row("latchkey serve, cold (new store, migrations)", cold),
      row("latchkey serve, restart (existing store)", warm),
    ],
    ["measure", "n", "p50 ms", "max ms", "÷ node -e 0"],
  );
  const p50 = summarise(cold).p50;
  console.log(
    `\ntarget: cold start p50 under ${TARGET_MS} ms — ${p50 < TARGET_MS ? "met" : "NOT met"} (${formatMs(p50)} ms)`,
  );
  if (p50 >= TARGET_MS) process.exitCode = 1;
}

await main();
