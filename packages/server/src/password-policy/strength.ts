/**
 * Password strength (zxcvbn-ts) off the event loop. zxcvbn's cost varies about 25× with the input
 * (l33t, repeats, long inputs: tens of milliseconds), so it runs in a small, lazily started pool of
 * worker threads with a per-job timeout, a bounded queue and a cap on how much of the password it
 * sees. A failure (timeout, crash, full queue) rejects with StrengthUnavailableError; the checker
 * then fails the rule closed.
 *
 * Why the worker is an `eval` string: the worker must run both from src under vitest (TypeScript,
 * which a plain Node worker cannot load) and from dist (JavaScript), and tsc copies no .js/.mjs
 * assets. So the worker body is a small module-agnostic script in this file, and the zxcvbn packages
 * are resolved here with createRequire(import.meta.url) and handed to it as file URLs. The same code
 * works from src, from dist and under any test runner, with no build step of its own.
 */
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

/** Estimates how hard a password is to guess: zxcvbn's 0 (trivial) to 4 (strong). */
export interface StrengthEstimator {
  /** @param userInputs the person's own words (names, username, organisation), penalised as dictionary words. */
  score(password: string, userInputs: readonly string[]): Promise<number>;
  /** Stops the workers; pending and later calls reject. */
  close(): Promise<void>;
}

export class StrengthUnavailableError extends Error {
  readonly reason: "timeout" | "busy" | "crashed" | "closed" | "startup";
  constructor(reason: StrengthUnavailableError["reason"]) {
    super(`strength estimator unavailable: ${reason}`);
    this.name = "StrengthUnavailableError";
    this.reason = reason;
  }
}

export interface WorkerStrengthEstimatorOptions {
  /** Worker threads. Default: one per core beyond the first, at least 1, at most 4. */
  poolSize?: number;
  /** Longest a single estimate may take once a worker has it, in ms. Default 2000. */
  timeoutMs?: number;
  /** Longest a worker may take to load its dictionaries, in ms. Default 20000. */
  startupTimeoutMs?: number;
  /** Estimates waiting for a worker beyond which new ones are refused at once. Default 256. */
  maxQueue?: number;
  /**
   * zxcvbn sees only this many leading characters (UTF-16 units). Default 24: zxcvbn's cost grows
   * with length, and 24 characters that score well are already beyond guessing; cutting can only
   * lower a score (a weak 24-character start fails the rule even with a strong tail). Passphrases of
   * 3–5 common words kept every verdict at 24 (bench/password-check.ts).
   */
  maxInputLength?: number;
  /**
   * Which dictionaries zxcvbn ranks words against:
   * - "words" (default): the common password and diceware lists plus the four large English lists
   *   (common words, first names, last names, Wikipedia). Same verdicts as "full" on our corpus of
   *   dictionary-based passwords (bench/password-check.ts), at a third of the cost.
   * - "full": also the 14 small word-sequence lists (months, colours, planets …); each list is one
   *   more lookup per substring, which is where zxcvbn's time goes.
   * - "common": the common password and diceware lists only; fastest, but accepts about three times
   *   as many dictionary-word passwords at score 3.
   */
  dictionaries?: "words" | "full" | "common";
  /** zxcvbn's cap on l33t substitutions tried per password. Default 1 (see docs/password-policy.md). */
  l33tMaxSubstitutions?: number;
}

/** The large English lists the "words" setting keeps (the rest of language-en is word sequences). */
const ENGLISH_WORD_LISTS = ["commonWords-en", "firstnames-en", "lastnames-en", "wikipedia-en"];

export interface WorkerConfig {
  core: string;
  common: string;
  en: string | null;
  /** Which language-en lists to load; null for all of them. */
  enLists: string[] | null;
  maxLength: number;
  l33tMaxSubstitutions: number;
}

// Run with `eval: true`. Written to load the same whether Node treats it as CommonJS or as an ES
// module (a parent started with --input-type=module makes eval'd workers ESM): no `require`, no
// top-level await, packages loaded by dynamic import() of file URLs. It never logs and never echoes
// the password back.
export const WORKER_SOURCE = `
(async () => {
  const { parentPort, workerData } = await import("node:worker_threads");
  const load = async (url) => {
    const ns = await import(url);
    return ns.default ?? ns;
  };
  const { ZxcvbnFactory } = await load(workerData.core);
  const common = await load(workerData.common);
  const en = workerData.en === null ? null : await load(workerData.en);
  const english = {};
  if (en !== null) {
    for (const [name, words] of Object.entries(en.dictionary)) {
      if (workerData.enLists === null || workerData.enLists.includes(name)) english[name] = words;
    }
  }
  const zxcvbn = new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...english },
    graphs: common.adjacencyGraphs,
    maxLength: workerData.maxLength,
    l33tMaxSubstitutions: workerData.l33tMaxSubstitutions,
  });
  zxcvbn.check("warm-up", []);
  parentPort.on("message", (job) => {
    let score;
    try {
      score = zxcvbn.check(String(job.password), Array.isArray(job.userInputs) ? job.userInputs : []).score;
    } catch {
      score = -1;
    }
    parentPort.postMessage({ id: job.id, score });
  });
  parentPort.postMessage({ ready: true });
})().catch(() => {
  // Without dictionaries there is nothing to serve; exit so the pool reports "startup".
  process.exit(1);
});
`;

interface Job {
  id: number;
  password: string;
  userInputs: string[];
  resolve: (score: number) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  state: "starting" | "idle" | "busy";
  job: Job | null;
  timer: NodeJS.Timeout | null;
}

export function resolveConfig(opts: WorkerStrengthEstimatorOptions): WorkerConfig {
  const require = createRequire(import.meta.url);
  const url = (pkg: string) => pathToFileURL(require.resolve(pkg)).href;
  const dictionaries = opts.dictionaries ?? "words";
  return {
    core: url("@zxcvbn-ts/core"),
    common: url("@zxcvbn-ts/language-common"),
    en: dictionaries === "common" ? null : url("@zxcvbn-ts/language-en"),
    enLists: dictionaries === "words" ? ENGLISH_WORD_LISTS : null,
    maxLength: opts.maxInputLength ?? 24,
    l33tMaxSubstitutions: opts.l33tMaxSubstitutions ?? 1,
  };
}

/** A pool of zxcvbn workers, started on first use. */
export function createWorkerStrengthEstimator(opts: WorkerStrengthEstimatorOptions = {}): StrengthEstimator {
  const poolSize = Math.max(1, Math.min(opts.poolSize ?? Math.min(4, availableParallelism() - 1), 16));
  const timeoutMs = opts.timeoutMs ?? 2000;
  const startupTimeoutMs = opts.startupTimeoutMs ?? 20_000;
  const maxQueue = opts.maxQueue ?? 256;
  const config = resolveConfig(opts);
  const maxInput = config.maxLength;
  const slots = new Set<Slot>();
  const queue: Job[] = [];
  let nextId = 1;
  let closed = false;

  const clearTimer = (slot: Slot) => {
    if (slot.timer !== null) clearTimeout(slot.timer);
    slot.timer = null;
  };

  const retire = (slot: Slot, reason: StrengthUnavailableError["reason"]) => {
    if (!slots.delete(slot)) return;
    clearTimer(slot);
    const job = slot.job;
    slot.job = null;
    void slot.worker.terminate();
    if (job !== null) job.reject(new StrengthUnavailableError(reason));
    if (reason === "startup" && [...slots].every((s) => s.state === "starting")) {
      // Nothing can serve the queue right now; fail it rather than let it wait forever.
      for (const queued of queue.splice(0)) queued.reject(new StrengthUnavailableError("startup"));
    }
    pump();
  };

  const spawn = (): Slot => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: config,
      // Inherit no CLI flags (loaders, --input-type, test-runner hooks): the worker needs none.
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    const slot: Slot = { worker, state: "starting", job: null, timer: null };
    slot.timer = setTimeout(() => retire(slot, "startup"), startupTimeoutMs);
    worker.on("message", (msg: { ready?: boolean; id?: number; score?: number }) => {
      if (msg.ready === true && slot.state === "starting") {
        clearTimer(slot);
        slot.state = "idle";
        worker.unref();
        pump();
        return;
      }
      const job = slot.job;
      if (job === null || msg.id !== job.id) return;
      clearTimer(slot);
      slot.job = null;
      slot.state = "idle";
      worker.unref();
      const score = msg.score;
      if (typeof score === "number" && Number.isInteger(score) && score >= 0 && score <= 4)
        job.resolve(score);
      else job.reject(new StrengthUnavailableError("crashed"));
      pump();
    });
    worker.on("error", () => retire(slot, slot.state === "starting" ? "startup" : "crashed"));
    worker.on("exit", () => retire(slot, slot.state === "starting" ? "startup" : "crashed"));
    slots.add(slot);
    return slot;
  };

  const pump = () => {
    if (closed) return;
    while (queue.length > 0) {
      let idle: Slot | undefined;
      for (const s of slots) if (s.state === "idle") idle = s;
      if (idle === undefined) {
        if (slots.size < poolSize) spawn();
        return;
      }
      const job = queue.shift()!;
      const slot = idle;
      slot.state = "busy";
      slot.job = job;
      slot.worker.ref();
      slot.timer = setTimeout(() => retire(slot, "timeout"), timeoutMs);
      slot.worker.postMessage({ id: job.id, password: job.password, userInputs: job.userInputs });
    }
  };

  return {
    score(password, userInputs) {
      if (closed) return Promise.reject(new StrengthUnavailableError("closed"));
      if (queue.length >= maxQueue) return Promise.reject(new StrengthUnavailableError("busy"));
      return new Promise<number>((resolve, reject) => {
        queue.push({
          id: nextId++,
          password: String(password).slice(0, maxInput),
          userInputs: [...userInputs]
            .filter((u) => typeof u === "string")
            .map((u) => u.slice(0, 64))
            .slice(0, 64),
          resolve,
          reject,
        });
        pump();
      });
    },
    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new StrengthUnavailableError("closed"));
      const all = [...slots];
      slots.clear();
      for (const slot of all) {
        clearTimer(slot);
        slot.job?.reject(new StrengthUnavailableError("closed"));
        slot.job = null;
      }
      await Promise.all(all.map((s) => s.worker.terminate()));
    },
  };
}
