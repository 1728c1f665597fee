/** `latchkey migrate`: applies pending migrations and says which ran. */
import type { GlobalOptions } from "./runtime.js";
import { withRuntime } from "./runtime.js";

export async function migrateCommand(opts: GlobalOptions, out: (s: string) => void): Promise<void> {
  await withRuntime({ path: opts.config, requireSecrets: false }, async (rt) => {
    const applied = await rt.store.migrate();
    if (applied.length === 0) out(`the store is up to date (${rt.store.engine})\n`);
    else out(`applied ${applied.length} migration(s) on ${rt.store.engine}: ${applied.join(", ")}\n`);
  });
}
