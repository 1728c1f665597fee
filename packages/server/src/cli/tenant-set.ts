/**
 * `latchkey admin tenant set path=value …`: change a tenant's settings from a shell, validated by
 * the same schema as everywhere else and audited (tenant.settings_updated, actor "cli").
 */
import { LatchkeyError } from "../core/errors.js";
import { parseAssignments, updateTenantSettings } from "../tenants/settings-update.js";
import type { AdminOptions } from "./admin.js";
import { CliError, EXIT_CONFIG } from "./errors.js";
import { pickTenant, withRuntime } from "./runtime.js";

export async function tenantSetCommand(
  assignments: string[],
  opts: AdminOptions,
  out: (s: string) => void,
): Promise<void> {
  await withRuntime({ path: opts.config, requireSecrets: false }, async (rt) => {
    const tenant = await pickTenant(rt, opts.tenant);
    let changes: Awaited<ReturnType<typeof updateTenantSettings>>;
    try {
      changes = await updateTenantSettings(
        { db: rt.store.db, clock: rt.clock, audit: rt.audit },
        tenant,
        parseAssignments(assignments),
        "cli",
      );
    } catch (e) {
      // A refused value is a usage error: one line, nothing written.
      if (e instanceof LatchkeyError && e.code === "VALIDATION_FAILED")
        throw new CliError(`setting refused: ${e.message}`, EXIT_CONFIG);
      throw e;
    }
    if (opts.json) {
      out(`${JSON.stringify(changes, null, 2)}\n`);
      return;
    }
    for (const c of changes) out(`${c.path}: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}\n`);
    out(`tenant ${tenant.slug}: ${changes.length} setting(s) changed\n`);
  });
}
