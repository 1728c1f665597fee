/**
 * `latchkey admin …`: read-only views of the store for an operator at a shell (the console is the
 * web admin). Output is a plain table, or JSON with --json. Nothing secret is shown: no hash, no
 * sealed payload, no method data.
 */
import { parseTenantSettings } from "../config/tenant-settings.js";
import { listTenants } from "../tenants/seed.js";
import { CliError } from "./errors.js";
import { type GlobalOptions, pickTenant, withRuntime } from "./runtime.js";

type Out = (s: string) => void;

/** Renders rows as aligned columns. */
export function table(headers: string[], rows: (string | number | null)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (c === null ? "" : String(c))))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? "").length)));
  return `${cells
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

function iso(ms: number | null): string {
  return ms === null ? "" : new Date(ms).toISOString();
}

export interface AdminOptions extends GlobalOptions {
  tenant?: string;
  json?: boolean;
}

export async function usersListCommand(opts: AdminOptions, out: Out): Promise<void> {
  await withRuntime({ path: opts.config, requireSecrets: false }, async (rt) => {
    const tenant = await pickTenant(rt, opts.tenant);
    const users = await rt.store.db
      .selectFrom("users")
      .leftJoin("auth_methods", (j) =>
        j.onRef("auth_methods.user_id", "=", "users.id").on("auth_methods.confirmed_at", "is not", null),
      )
      .select((eb) => [
        "users.username",
        "users.kind",
        "users.email",
        "users.display_name",
        "users.enabled",
        "users.locked",
        "users.is_admin",
        "users.in_scope",
        eb.fn.count<number>("auth_methods.id").as("methods"),
      ])
      .where("users.tenant_id", "=", tenant.id)
      .groupBy([
        "users.id",
        "users.username",
        "users.kind",
        "users.email",
        "users.display_name",
        "users.enabled",
        "users.locked",
        "users.is_admin",
        "users.in_scope",
      ])
      .orderBy("users.username")
      .execute();
    if (opts.json) {
      out(
        `${JSON.stringify(
          users.map((u) => ({ ...u, methods: Number(u.methods) })),
          null,
          2,
        )}\n`,
      );
      return;
    }
    const yes = (b: number) => (b ? "yes" : "no");
    out(
      table(
        ["USERNAME", "KIND", "EMAIL", "NAME", "ENABLED", "LOCKED", "ADMIN", "IN SCOPE", "METHODS"],
        users.map((u) => [
          u.username,
          u.kind,
          u.email,
          u.display_name,
          yes(u.enabled),
          yes(u.locked),
          yes(u.is_admin),
          yes(u.in_scope),
          Number(u.methods),
        ]),
      ),
    );
    out(`${users.length} user(s) in tenant ${tenant.slug}\n`);
  });
}

export interface AuditTailOptions extends AdminOptions {
  limit?: number;
}

export async function auditTailCommand(opts: AuditTailOptions, out: Out): Promise<void> {
  const limit = opts.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new CliError("--limit must be a whole number from 1 to 10000");
  }
  await withRuntime({ path: opts.config, requireSecrets: false }, async (rt) => {
    const tenant = await pickTenant(rt, opts.tenant);
    const rows = await rt.store.db
      .selectFrom("audit_events")
      .select([
        "occurred_at",
        "event",
        "result",
        "actor",
        "target",
        "ip",
        "reason",
        "flow_id",
        "details_json",
      ])
      .where("tenant_id", "=", tenant.id)
      .orderBy("occurred_at", "desc")
      .orderBy("id", "desc")
      .limit(limit)
      .execute();
    rows.reverse(); // oldest first, like tail
    if (opts.json) {
      out(
        `${JSON.stringify(
          rows.map(({ details_json, ...r }) => ({
            ...r,
            time: iso(r.occurred_at),
            details: JSON.parse(details_json),
          })),
          null,
          2,
        )}\n`,
      );
      return;
    }
    out(
      table(
        ["TIME", "EVENT", "RESULT", "ACTOR", "TARGET", "IP", "REASON"],
        rows.map((r) => [iso(r.occurred_at), r.event, r.result, r.actor, r.target, r.ip, r.reason]),
      ),
    );
  });
}

export interface TenantShowOptions extends AdminOptions {
  all?: boolean;
}

export async function tenantShowCommand(opts: TenantShowOptions, out: Out): Promise<void> {
  await withRuntime({ path: opts.config, requireSecrets: false }, async (rt) => {
    if (opts.all) {
      const all = await listTenants(rt.store.db);
      if (opts.json)
        out(
          `${JSON.stringify(
            all.map(({ settings_json: _, ...t }) => t),
            null,
            2,
          )}\n`,
        );
      else
        out(
          table(
            ["SLUG", "NAME", "ID", "CREATED"],
            all.map((t) => [t.slug, t.name, t.id, iso(t.created_at)]),
          ),
        );
      return;
    }
    const tenant = await pickTenant(rt, opts.tenant);
    const settings = parseTenantSettings(tenant.settings_json);
    const users = await rt.store.db
      .selectFrom("users")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("tenant_id", "=", tenant.id)
      .executeTakeFirstOrThrow();
    const view = {
      slug: tenant.slug,
      name: tenant.name,
      id: tenant.id,
      created: iso(tenant.created_at),
      updated: iso(tenant.updated_at),
      users: Number(users.n),
      settings,
    };
    if (opts.json) {
      out(`${JSON.stringify(view, null, 2)}\n`);
      return;
    }
    out(
      table(
        ["FIELD", "VALUE"],
        [
          ["slug", view.slug],
          ["name", view.name],
          ["id", view.id],
          ["created", view.created],
          ["updated", view.updated],
          ["users", view.users],
          [
            "reset",
            `${settings.reset.enabled ? "on" : "off"}, scope ${settings.reset.scope}, ${settings.reset.gates} gate(s), ${settings.reset.disclosure} disclosure`,
          ],
          ["methods", settings.reset.methods.join(", ")],
          [
            "password",
            `min ${settings.password.minLength}, strength ≥ ${settings.password.minStrength}, history ${settings.password.history}`,
          ],
        ],
      ),
    );
    out(`\nsettings:\n${JSON.stringify(settings, null, 2)}\n`);
  });
}
