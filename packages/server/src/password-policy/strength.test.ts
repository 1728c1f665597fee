import { spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import {
  createWorkerStrengthEstimator,
  resolveConfig,
  StrengthUnavailableError,
  WORKER_SOURCE,
} from "./strength.js";

describe("createWorkerStrengthEstimator (real zxcvbn in a worker thread)", () => {
  const estimator = createWorkerStrengthEstimator({ poolSize: 1 });
  afterAll(() => estimator.close());

  it("scores a common password 0 and a long random string 4", async () => {
    expect(await estimator.score("password", [])).toBe(0);
    expect(await estimator.score("kX9#mP2$vL7@qR4!tW8^nB3&", [])).toBe(4);
  });

  it("penalises the person's own words", async () => {
    const alone = await estimator.score("vanderbildtmarguerite", []);
    const withInputs = await estimator.score("vanderbildtmarguerite", ["vanderbildt", "marguerite"]);
    expect(withInputs).toBeLessThan(alone);
  });

  it("serves concurrent requests from the pool and answers each one", async () => {
    const passwords = ["password", "kX9#mP2$vL7@qR4!tW8^nB3&", "qwerty", "correct horse battery staple"];
    const scores = await Promise.all(passwords.map((p) => estimator.score(p, [])));
    expect(scores[0]).toBe(0);
    expect(scores[1]).toBe(4);
    expect(scores[2]).toBe(0);
    expect(scores.every((s) => Number.isInteger(s) && s >= 0 && s <= 4)).toBe(true);
  });

  it("only sees the first maxInputLength characters", async () => {
    const capped = createWorkerStrengthEstimator({ poolSize: 1, maxInputLength: 8 });
    try {
      // Only "password" is seen; the strong tail is cut off.
      expect(await capped.score("passwordkX9#mP2$vL7@qR4!tW8^nB3&", [])).toBe(0);
    } finally {
      await capped.close();
    }
  });
});

describe("failure modes", () => {
  it("refuses at once when the queue is full", async () => {
    const est = createWorkerStrengthEstimator({ poolSize: 1, maxQueue: 0 });
    try {
      await expect(est.score("password", [])).rejects.toMatchObject({ reason: "busy" });
    } finally {
      await est.close();
    }
  });

  it("rejects after close", async () => {
    const est = createWorkerStrengthEstimator({ poolSize: 1 });
    await est.close();
    await expect(est.score("password", [])).rejects.toBeInstanceOf(StrengthUnavailableError);
  });

  it("kills a runaway estimate at the timeout and serves the next request from a fresh worker", async () => {
    // Unbounded l33t substitutions over 1000 look-alike characters take zxcvbn seconds; 50 ms is far below.
    const est = createWorkerStrengthEstimator({
      poolSize: 1,
      timeoutMs: 50,
      maxInputLength: 1000,
      l33tMaxSubstitutions: 100,
    });
    try {
      await est.score("warm", []); // the first call also pays for loading the dictionaries
      await expect(est.score("1l!|0oO@a4$s5".repeat(77), [])).rejects.toMatchObject({ reason: "timeout" });
      expect(await est.score("password", [])).toBe(0);
    } finally {
      await est.close();
    }
  });
});

describe("worker source", () => {
  // Regression: a parent started with --input-type=module makes eval'd workers ES modules, where
  // `require` does not exist; the source must load either way (the pool also passes execArgv: []).
  it.each([[[]], [["--input-type=module"]]])(
    "loads and answers in a plain Node parent with flags %j",
    (flags) => {
      const script = `
      const { Worker } = require("node:worker_threads");
      const w = new Worker(${JSON.stringify(WORKER_SOURCE)}, { eval: true, workerData: ${JSON.stringify(resolveConfig({}))} });
      w.on("message", (m) => {
        if (m.ready) w.postMessage({ id: 1, password: "password", userInputs: [] });
        else { console.log(JSON.stringify(m)); w.terminate(); }
      });
      w.on("error", (e) => { console.error(String(e)); process.exit(2); });`;
      const esm = flags.includes("--input-type=module");
      const source = esm
        ? `import { createRequire } from "node:module"; const require = createRequire(import.meta.url);${script}`
        : script;
      const run = spawnSync(process.execPath, [...flags, "-e", source], {
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(run.stderr).toBe("");
      expect(JSON.parse(run.stdout.trim())).toEqual({ id: 1, score: 0 });
    },
  );
});
