/**
 * `latchkey serve`: load the configuration, open the store, run migrations, make sure the tenant
 * exists, start the HTTP app, print the URL, and on SIGTERM/SIGINT stop taking requests, let those
 * in flight finish, and close the store. `latchkey demo` (demo.ts) starts the server the same way.
 */
import type { FastifyInstance } from "fastify";
import { type LoadConfigOptions, loadConfig } from "../config/load.js";
import type { DemoSeedResult } from "../tenants/demo.js";
import { type GlobalOptions, type Runtime, runtimeFrom } from "./runtime.js";

export interface ServeOptions extends GlobalOptions {
  host?: string;
  port?: number;
}

export interface Running {
  app: FastifyInstance;
  runtime: Runtime;
  url: string;
  stop(): Promise<void>;
}

export function listenOverrides(opts: ServeOptions): Record<string, unknown> {
  const server: Record<string, unknown> = {};
  if (opts.host !== undefined) server.host = opts.host;
  if (opts.port !== undefined) server.port = opts.port;
  return Object.keys(server).length > 0 ? { server } : {};
}

/** Starts the server; `seed` runs after the tenant exists (the demo seeds its users there). */
export async function startServer(
  load: LoadConfigOptions,
  seed: (rt: Runtime) => Promise<DemoSeedResult | null>,
): Promise<Running & { demo: DemoSeedResult | null; links: { label: string; path: string }[] }> {
  // The configuration is loaded (and refused) before anything else: nothing is written first,
  // and a refusal does not wait for the HTTP stack to load.
  const loaded = await loadConfig(load);
  // Start loading the HTTP side now, while the store opens (start-up time is module loading).
  const modules = Promise.all([
    import("../http/app.js"),
    import("../tenants/seed.js"),
    import("./features.js"),
    import("../portal/index.js"),
  ]);
  modules.catch(() => {}); // awaited below; a failure surfaces there
  const runtime = await runtimeFrom(loaded);
  const { store, logger } = runtime;
  try {
    const [{ buildApp }, { ensureTenant }, { buildFeatures }] = await modules;
    const applied = await store.migrate();
    if (applied.length > 0) logger.info({ migrations: applied }, "migrations applied");
    const { tenant, created } = await ensureTenant(
      { db: store.db, clock: runtime.clock, audit: runtime.audit },
      {
        slug: loaded.config.tenant.slug,
        name: loaded.config.tenant.name,
        settings: loaded.config.tenant.settings,
      },
    );
    if (created) logger.info({ tenant: tenant.slug }, "tenant created from the configuration");
    const demo = await seed(runtime);
    const features = await buildFeatures(runtime);
    const app = await buildApp({
      config: loaded.config,
      store,
      clock: runtime.clock,
      secrets: loaded.secrets,
      logger,
      plugins: features.plugins,
    });
    let address: string;
    try {
      address = await app.listen({ host: loaded.config.server.host, port: loaded.config.server.port });
    } catch (e) {
      await app.close().catch(() => {});
      await features.close().catch(() => {});
      throw e;
    }
    features.start();
    const url = loaded.config.server.publicUrl ? loaded.publicUrl : address;
    let stopping: Promise<void> | null = null;
    const stop = () => {
      // Requests first (in flight ones finish), then background work, then the store they all use.
      stopping ??= (async () => {
        await app.close();
        await features.close();
        await store.close();
      })();
      return stopping;
    };
    return { app, runtime, url, stop, demo, links: features.links };
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
}

/** Stops on SIGTERM/SIGINT: in-flight requests finish within server.shutdownTimeoutMs. */
function onSignals(running: Running, err: (s: string) => void): void {
  stopOnSignals(() => running.stop(), running.runtime.loaded.config.server.shutdownTimeoutMs, err);
}

/**
 * On SIGTERM/SIGINT runs `stop` once and exits 0 when it ends (after `stopped`), 1 when it fails or
 * takes longer than `timeoutMs`. A second signal exits at once.
 */
export function stopOnSignals(
  stop: () => Promise<unknown>,
  timeoutMs: number,
  err: (s: string) => void,
  stopped: () => void = () => {},
): void {
  let signalled = false;
  const handler = (signal: NodeJS.Signals) => {
    if (signalled) {
      err(`latchkey: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    signalled = true;
    err(`latchkey: ${signal} received, shutting down\n`);
    const timer = setTimeout(() => {
      err("latchkey: shutdown timed out, exiting\n");
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    stop().then(
      () => {
        clearTimeout(timer);
        stopped();
        process.exit(0);
      },
      (e: unknown) => {
        err(`latchkey: shutdown failed: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", handler);
  process.on("SIGINT", handler);
}

export async function serveCommand(opts: ServeOptions, err: (s: string) => void): Promise<Running> {
  const running = await startServer(
    { path: opts.config, overrides: listenOverrides(opts) },
    async () => null,
  );
  const { loaded } = running.runtime;
  if (loaded.config.demo) err("latchkey: demo mode is on: never use it in production\n");
  err(`latchkey: listening on ${running.url} (store: ${running.runtime.store.engine})\n`);
  onSignals(running, err);
  return running;
}
