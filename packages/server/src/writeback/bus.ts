/**
 * Wake-ups for writeback across instances. An operation row handed to another instance is found by
 * that instance's claim query and its answer by the submitter's read of the row; the bus only makes
 * both happen at once instead of at the next poll. It carries ids, never anything secret, and a lost
 * wake-up costs at most one poll interval (the services poll as a fallback).
 *
 * - PostgreSQL: LISTEN/NOTIFY on a dedicated connection (several processes).
 * - SQLite: one process; the instances in it (tests run several on one file) share an in-memory bus
 *   per database handle.
 */
import { createRequire } from "node:module";
import type { Kysely } from "kysely";
import type pgTypes from "pg";
import type { Logger } from "../logging/logger.js";
import type { Database } from "../store/schema.js";

/** `queued`: an attempt waits for the instance holding `id` (an agent id). `answered`: row `id` has an answer. */
export type BusTopic = "queued" | "answered";

export interface WritebackBus {
  publish(topic: BusTopic, id: string): void;
  subscribe(topic: BusTopic, fn: (id: string) => void): () => void;
  /** Resolves once wake-ups from other processes are received (PostgreSQL: LISTEN is active). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

class Listeners {
  private readonly fns = new Map<BusTopic, Set<(id: string) => void>>();
  emit(topic: BusTopic, id: string): void {
    for (const fn of this.fns.get(topic) ?? []) {
      try {
        fn(id);
      } catch {
        // A listener's failure is its own; the others still hear of it.
      }
    }
  }
  add(topic: BusTopic, fn: (id: string) => void): () => void {
    let set = this.fns.get(topic);
    if (!set) {
      set = new Set();
      this.fns.set(topic, set);
    }
    set.add(fn);
    return () => set.delete(fn);
  }
}

const memoryBuses = new WeakMap<object, Listeners>();

/** The in-process bus of one database handle (SQLite: every instance of the process shares it). */
export function memoryBus(db: Kysely<Database>): WritebackBus {
  let l = memoryBuses.get(db);
  if (!l) {
    l = new Listeners();
    memoryBuses.set(db, l);
  }
  const listeners = l;
  return {
    // Asynchronous like a notification: the publisher's own write has returned before anyone runs.
    publish: (topic, id) => queueMicrotask(() => listeners.emit(topic, id)),
    subscribe: (topic, fn) => listeners.add(topic, fn),
    ready: async () => {},
    close: async () => {},
  };
}

const CHANNEL: Record<BusTopic, string> = {
  queued: "latchkey_writeback_queued",
  answered: "latchkey_writeback_answered",
};

/**
 * LISTEN/NOTIFY on one dedicated connection, reconnected after an error (the poll fallback covers
 * the gap). NOTIFY goes out on the same connection: no pool checkout on the hot path.
 */
export function postgresBus(url: string, logger: Logger): WritebackBus {
  const pg = createRequire(import.meta.url)("pg") as typeof pgTypes;
  const listeners = new Listeners();
  const log = logger.child({ component: "writeback-bus" });
  let client: pgTypes.Client | null = null;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let readyResolve: () => void = () => {};
  let readyPromise = new Promise<void>((r) => {
    readyResolve = r;
  });

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url });
    c.on("notification", (n) => {
      const topic = (Object.keys(CHANNEL) as BusTopic[]).find((t) => CHANNEL[t] === n.channel);
      if (topic && n.payload) listeners.emit(topic, n.payload);
    });
    const lost = (e?: unknown) => {
      if (client !== c) return;
      client = null;
      readyPromise = new Promise<void>((r) => {
        readyResolve = r;
      });
      if (closed) return;
      log.warn({ err: e }, "writeback notifications lost; reconnecting (polling meanwhile)");
      retry = setTimeout(() => void connect().catch(() => {}), 1000);
      retry.unref();
    };
    c.on("error", lost);
    c.on("end", () => lost());
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANNEL.queued}; LISTEN ${CHANNEL.answered}`);
    } catch (e) {
      await c.end().catch(() => {});
      client = c;
      lost(e);
      return;
    }
    if (closed) {
      await c.end().catch(() => {});
      return;
    }
    client = c;
    readyResolve();
  };
  void connect();

  return {
    publish(topic, id) {
      // Ourselves at once; the others through NOTIFY (we also hear our own: wake-ups are idempotent).
      queueMicrotask(() => listeners.emit(topic, id));
      client?.query("select pg_notify($1, $2)", [CHANNEL[topic], id]).catch((e: unknown) => {
        log.warn({ err: e }, "writeback notify failed (the others will poll)");
      });
    },
    subscribe: (topic, fn) => listeners.add(topic, fn),
    ready: () => readyPromise,
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = null;
      readyResolve();
      await c?.end().catch(() => {});
    },
  };
}

/** The bus for a store: LISTEN/NOTIFY on PostgreSQL, in memory on SQLite. */
export function createWritebackBus(p: {
  engine: "sqlite" | "postgres";
  url: string;
  db: Kysely<Database>;
  logger: Logger;
}): WritebackBus {
  return p.engine === "postgres" ? postgresBus(p.url, p.logger) : memoryBus(p.db);
}
