/**
 * Changing a tenant's settings after it was created: one validated, audited update. The CLI's
 * `latchkey admin tenant set` uses it today; the admin console will use the same function.
 *
 * Changes are given as dotted paths (`reset.gates`, `password.minLength`) so that an operator can
 * change one value without restating the rest. A path must name a setting that exists (the schema's
 * defaults list every one): zod alone would silently drop an unknown key, and a typo that is
 * accepted and ignored is worse than a refusal.
 */
import type { Kysely } from "kysely";
import type { AuditSink } from "../audit/emitter.js";
import { parseTenantSettings, type TenantSettings, tenantSettingsSchema } from "../config/tenant-settings.js";
import type { Clock } from "../core/clock.js";
import { LatchkeyError } from "../core/errors.js";
import type { Database, Tenant } from "../store/schema.js";

export interface SettingChange {
  path: string;
  before: unknown;
  after: unknown;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Reads `value` as the type the setting has now: JSON where it parses (numbers, booleans, null,
 * arrays, objects), a comma-separated list for list settings, else the text itself.
 */
export function parseSettingValue(raw: string, current: unknown): unknown {
  const text = raw.trim();
  if (Array.isArray(current) && !text.startsWith("[")) {
    return text === "" ? [] : text.split(",").map((s) => s.trim());
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return raw;
  }
}

/** Splits `a.b=c` assignments; refuses anything else with the offending text. */
export function parseAssignments(args: readonly string[]): { path: string; raw: string }[] {
  return args.map((arg) => {
    const eq = arg.indexOf("=");
    if (eq <= 0)
      throw new LatchkeyError("VALIDATION_FAILED", `expected path=value, got "${arg}"`, { field: "setting" });
    return { path: arg.slice(0, eq).trim(), raw: arg.slice(eq + 1) };
  });
}

/** Applies the changes to a copy of `settings`; throws on an unknown path or an invalid result. */
export function applySettingChanges(
  settings: TenantSettings,
  assignments: readonly { path: string; raw: string }[],
): { next: TenantSettings; changes: SettingChange[] } {
  const draft = structuredClone(settings) as unknown as Json;
  const known = tenantSettingsSchema.parse({}) as unknown as Json;
  const changes: SettingChange[] = [];
  for (const { path, raw } of assignments) {
    const keys = path.split(".");
    let node: Json = draft;
    let shape: unknown = known;
    for (const [i, key] of keys.entries()) {
      if (!isObject(shape) || !(key in shape))
        throw new LatchkeyError("VALIDATION_FAILED", `unknown setting ${keys.slice(0, i + 1).join(".")}`, {
          field: path,
        });
      shape = shape[key];
      if (i < keys.length - 1) {
        const child = node[key];
        if (!isObject(child))
          throw new LatchkeyError("VALIDATION_FAILED", `${path} is not a group of settings`, { field: path });
        node = child;
      }
    }
    const last = keys[keys.length - 1] as string;
    if (isObject(shape))
      throw new LatchkeyError("VALIDATION_FAILED", `${path} is a group; set one of its fields`, {
        field: path,
      });
    const before = node[last];
    const after = parseSettingValue(raw, before);
    node[last] = after;
    changes.push({ path, before, after });
  }
  const result = tenantSettingsSchema.safeParse(draft);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.join(".") ?? "";
    throw new LatchkeyError("VALIDATION_FAILED", `${where}: ${issue?.message ?? "invalid"}`, {
      field: where,
    });
  }
  return { next: result.data, changes };
}

/** Validates, stores and audits a change of settings; returns what changed. */
export async function updateTenantSettings(
  deps: { db: Kysely<Database>; clock: Clock; audit: AuditSink },
  tenant: Tenant,
  assignments: readonly { path: string; raw: string }[],
  actor: string,
): Promise<SettingChange[]> {
  const { next, changes } = applySettingChanges(parseTenantSettings(tenant.settings_json), assignments);
  const now = deps.clock.now();
  await deps.db
    .updateTable("tenants")
    .set({ settings_json: JSON.stringify(next), updated_at: now })
    .where("id", "=", tenant.id)
    .execute();
  await deps.audit.emit({
    tenantId: tenant.id,
    event: "tenant.settings_updated",
    result: "success",
    actor,
    // Settings hold no secrets (keys and passwords live in files): before and after are recorded.
    details: { changes: changes.map((c) => ({ path: c.path, before: c.before, after: c.after })) },
  });
  return changes;
}
