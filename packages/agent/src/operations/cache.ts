/**
 * The agent's memory of recent operation results, by opId, so an operation the server sends again
 * (a retry after a lost answer, a reconnect) is answered without touching the directory a second
 * time; and the operations in flight, so a second request with the same opId waits for the first.
 * Bounded: at most `maxEntries` results (least recently used go first), each for `ttlMs`.
 * Results hold no secrets (codes and a trimmed diagnostic only).
 */
import type { Clock } from "../link/clock.js";

export class ResultCache<T> {
  private readonly done = new Map<string, { at: number; value: T }>();
  private readonly inFlight = new Map<string, Promise<T>>();

  constructor(private readonly opts: { maxEntries: number; ttlMs: number; clock: Pick<Clock, "now"> }) {}

  get size(): number {
    return this.done.size;
  }

  /** A remembered result (refreshing its place in the LRU order), or undefined. */
  get(key: string): T | undefined {
    const hit = this.done.get(key);
    if (!hit) return undefined;
    if (this.opts.clock.now() - hit.at > this.opts.ttlMs) {
      this.done.delete(key);
      return undefined;
    }
    this.done.delete(key);
    this.done.set(key, hit);
    return hit.value;
  }

  set(key: string, value: T): void {
    this.done.delete(key);
    this.done.set(key, { at: this.opts.clock.now(), value });
    while (this.done.size > this.opts.maxEntries) {
      const oldest = this.done.keys().next();
      if (oldest.done) break;
      this.done.delete(oldest.value);
    }
  }

  /**
   * The result for `key`: remembered (`cached: true`), the one in flight (`cached: true`, waited
   * for), or a fresh run of `run` whose result is then remembered.
   */
  async run(key: string, run: () => Promise<T>): Promise<{ value: T; cached: boolean }> {
    const hit = this.get(key);
    if (hit !== undefined) return { value: hit, cached: true };
    const pending = this.inFlight.get(key);
    if (pending) return { value: await pending, cached: true };
    const p = run();
    this.inFlight.set(key, p);
    try {
      const value = await p;
      this.set(key, value);
      return { value, cached: false };
    } finally {
      this.inFlight.delete(key);
    }
  }
}

/** At most `limit` tasks at once; the rest wait in order. */
export class Limiter {
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }
}
