/**
 * What every command that touches the store shares: load the configuration (which fails before
 * anything is written), then open the store, then, where the command needs them, migrations and the
 * tenant. A command gets a Runtime and closes it.
 */
import type { StoreAudit } from "../audit/emitter.js";
import { type LoadConfigOptions, type LoadedConfig, loadConfig } from "../config/load.js";
import { systemClock } from "../core/clock.js";
import type { Logger } from "../logging/logger.js";
import type { Store } from "../store/db.js";
import type { Tenant } from "../store/schema.js";
import { findTenant, listTenants } from "../tenants/seed.js";
import { CliError } from "./errors.js";

export interface Runtime {
  loaded: LoadedConfig;
  store: Store;
  logger: Logger;
  clock: typeof systemClock;
  audit: StoreAudit;
  close(): Promise<void>;
}

/** The global options every command accepts. */
export interface GlobalOptions {
  config?: string;
}

export async function openRuntime(load: LoadConfigOptions): Promise<Runtime> {
  return runtimeFrom(await loadConfig(load));
}

/** Opens the store and the logger for an already loaded (so already validated) configuration. */
export async function runtimeFrom(loaded: LoadedConfig): Promise<Runtime> {
  // Everything this process creates from here on (the SQLite file, its WAL, the data directory)
  // holds password hashes and sealed data: owner-only.
  process.umask(0o077);
  // Imported after the configuration passed: a refusal does not wait for the store drivers.
  const [{ createLogger }, { openStore }, { StoreAudit }] = await Promise.all([
    import("../logging/logger.js"),
    import("../store/db.js"),
    import("../audit/emitter.js"),
  ]);
  const logger = createLogger({ level: loaded.config.logging.level });
  const store = openStore({ url: loaded.config.database.url, poolSize: loaded.config.database.poolSize });
  return {
    loaded,
    store,
    logger,
    clock: systemClock,
    audit: new StoreAudit(store.db, systemClock),
    close: () => store.close(),
  };
}

/** The tenant a command acts on: `--tenant`, else the configured slug, else the only tenant. */
export async function pickTenant(rt: Runtime, slug?: string): Promise<Tenant> {
  if (slug) {
    const t = await findTenant(rt.store.db, slug);
    if (!t) throw new CliError(`no tenant with slug ${slug}; see: latchkey admin tenant show --all`);
    return t;
  }
  const configured = await findTenant(rt.store.db, rt.loaded.config.tenant.slug);
  if (configured) return configured;
  const all = await listTenants(rt.store.db);
  if (all.length === 1 && all[0]) return all[0];
  if (all.length === 0)
    throw new CliError("the store holds no tenant yet; start the server once (latchkey serve)");
  throw new CliError(
    `several tenants exist; choose one with --tenant (${all.map((t) => t.slug).join(", ")})`,
  );
}

/** Runs `fn` with a runtime and always closes it. */
export async function withRuntime<T>(load: LoadConfigOptions, fn: (rt: Runtime) => Promise<T>): Promise<T> {
  const rt = await openRuntime(load);
  try {
    return await fn(rt);
  } finally {
    await rt.close();
  }
}
