/**
 * `latchkey admin agent-token`, `latchkey admin agents` and `latchkey admin agent revoke <id>`:
 * enrolling and governing writeback agents from a shell. The store is reached like the other
 * admin commands do; nothing here needs the server keys. The code that touches the store is
 * imported when a command runs, so `--help` stays fast.
 */
import { type Command, InvalidArgumentError } from "commander";
import { CliError } from "./errors.js";
import type { GlobalOptions } from "./runtime.js";

type Out = (s: string) => void;

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000 };

/** `90s`, `15m`, `1h` → milliseconds; from 1 minute to 1 hour. */
export function parseTtl(value: string): number {
  const m = /^(\d{1,7})(s|m|h)$/.exec(value.trim());
  const ms = m?.[1] && m[2] ? Number(m[1]) * (UNITS[m[2]] ?? 0) : Number.NaN;
  if (!Number.isFinite(ms) || ms < 60_000 || ms > 3_600_000) {
    throw new InvalidArgumentError("--ttl must be a duration from 1m to 1h, such as 90s, 15m or 1h.");
  }
  return ms;
}

function example(...lines: string[]): string {
  return `\nExample${lines.length > 1 ? "s" : ""}:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;
}

function iso(ms: number | null): string {
  return ms === null ? "" : new Date(ms).toISOString();
}

export interface AgentTokenOptions extends GlobalOptions {
  ttl?: number;
  directory?: string;
  tenant?: string;
  json?: boolean;
}

export async function agentTokenCommand(opts: AgentTokenOptions, out: Out): Promise<void> {
  const [{ withRuntime, pickTenant }, { createEnrollmentToken, DEFAULT_TOKEN_TTL_MS }] = await Promise.all([
    import("./runtime.js"),
    import("../directory-link/enrollment.js"),
  ]);
  await withRuntime({ path: opts.config, requireSecrets: false }, async (rt) => {
    const configured = rt.loaded.config.directories.map((d) => d.id);
    const directoryId = opts.directory ?? null;
    if (directoryId !== null && configured.length > 0 && !configured.includes(directoryId)) {
      throw new CliError(
        `no directory ${directoryId} in the configuration (directories: ${configured.join(", ")})`,
      );
    }
    if (directoryId !== null && !/^[a-z0-9][a-z0-9-]{0,39}$/.test(directoryId)) {
      throw new CliError("--directory must be lower-case letters, digits and dashes (at most 40)");
    }
    const tenant = await pickTenant(rt, opts.tenant);
    const made = await createEnrollmentToken(
      { db: rt.store.db, clock: rt.clock, audit: rt.audit },
      { tenantId: tenant.id, ttlMs: opts.ttl ?? DEFAULT_TOKEN_TTL_MS, directoryId, actor: "cli" },
    );
    const server = rt.loaded.publicUrl;
    if (opts.json) {
      out(
        `${JSON.stringify(
          { token: made.token, expiresAt: iso(made.expiresAt), directoryId, tenant: tenant.slug, server },
          null,
          2,
        )}\n`,
      );
      return;
    }
    out(`${made.token}\n`);
    out(
      `one use, expires ${iso(made.expiresAt)}; tenant ${tenant.slug}; directory ${directoryId ?? "any the agent announces"}\n`,
    );
    out(`on the agent's host: latchkey-agent enroll --server ${server} --token ${made.token}\n`);
  });
}

export interface AgentsListOptions extends GlobalOptions {
  tenant?: string;
  json?: boolean;
}

export async function agentsListCommand(opts: AgentsListOptions, out: Out): Promise<void> {
  const [{ withRuntime, pickTenant }, { listStoredAgents }, { table }] = await Promise.all([
    import("./runtime.js"),
    import("../directory-link/liveness.js"),
    import("./admin.js"),
  ]);
  await withRuntime({ path: opts.config, requireSecrets: false }, async (rt) => {
    const tenant = await pickTenant(rt, opts.tenant);
    const agents = await listStoredAgents(rt.store.db, tenant.id, rt.clock.now());
    if (opts.json) {
      out(
        `${JSON.stringify(
          agents.map((a) => ({
            id: a.id,
            name: a.name,
            boundDirectory: a.boundDirectory,
            directories: a.directories.map((d) => d.id),
            version: a.version,
            online: a.online,
            lastHeartbeat: a.lastHeartbeatAt === null ? null : iso(a.lastHeartbeatAt),
            enrolled: iso(a.enrolledAt),
            revoked: a.revokedAt === null ? null : iso(a.revokedAt),
          })),
          null,
          2,
        )}\n`,
      );
      return;
    }
    out(
      table(
        ["ID", "NAME", "DIRECTORY", "VERSION", "ONLINE", "LAST HEARTBEAT", "ENROLLED", "REVOKED"],
        agents.map((a) => [
          a.id,
          a.name,
          a.directories.length > 0 ? a.directories.map((d) => d.id).join(",") : (a.boundDirectory ?? "any"),
          a.version,
          a.revokedAt !== null ? "revoked" : a.online ? "yes" : "no",
          iso(a.lastHeartbeatAt),
          iso(a.enrolledAt),
          iso(a.revokedAt),
        ]),
      ),
    );
    out(`${agents.length} agent(s) in tenant ${tenant.slug}\n`);
  });
}

export interface AgentRevokeOptions extends GlobalOptions {
  tenant?: string;
}

export async function agentRevokeCommand(agentId: string, opts: AgentRevokeOptions, out: Out): Promise<void> {
  const [{ withRuntime, pickTenant }, { revokeAgent }, { DEFAULT_HEARTBEAT_INTERVAL_MS }] = await Promise.all(
    [import("./runtime.js"), import("../directory-link/agents.js"), import("../directory-link/liveness.js")],
  );
  await withRuntime({ path: opts.config, requireSecrets: false }, async (rt) => {
    const tenant = await pickTenant(rt, opts.tenant);
    const result = await revokeAgent(
      { db: rt.store.db, clock: rt.clock, audit: rt.audit },
      { tenantId: tenant.id, agentId, actor: "cli" },
    );
    if (result === "unknown")
      throw new CliError(`no agent ${agentId} in tenant ${tenant.slug}; see: latchkey admin agents`);
    if (result === "already_revoked") {
      out(`agent ${agentId} was already revoked\n`);
      return;
    }
    out(
      `revoked agent ${agentId}: it can no longer connect; a live link closes at its next heartbeat (within ${
        DEFAULT_HEARTBEAT_INTERVAL_MS / 1000
      } s)\n`,
    );
  });
}

/** Adds the agent commands under `latchkey admin`. */
export function registerAgentCommands(admin: Command, out: Out): void {
  admin
    .command("agent-token")
    .description(
      "Make a one-time enrollment token for a writeback agent (32 random bytes; only its SHA-256 is stored). Prints it once.",
    )
    .option("--ttl <duration>", "how long it can be used: 1m to 1h (default 15m)", parseTtl)
    .option("--directory <id>", "bind the agent to this directory (default: any directory it announces)")
    .option("--tenant <slug>", "tenant (default: the configured one, or the only one)")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      example("latchkey admin agent-token", "latchkey admin agent-token --ttl 1h --directory corp-ad --json"),
    )
    .action(async (_o, cmd: Command) => {
      await agentTokenCommand(cmd.optsWithGlobals(), out);
    });

  admin
    .command("agents")
    .description(
      "List the enrolled agents: id, name, directories, version, online or not, last heartbeat, revocation.",
    )
    .option("--tenant <slug>", "tenant (default: the configured one, or the only one)")
    .option("--json", "print JSON")
    .addHelpText("after", example("latchkey admin agents", "latchkey admin agents --json"))
    .action(async (_o, cmd: Command) => {
      await agentsListCommand(cmd.optsWithGlobals(), out);
    });

  const agent = admin.command("agent").description("One enrolled agent.");
  agent
    .command("revoke")
    .description(
      "Revoke an agent: it is refused from now on, and its live link is closed at its next heartbeat.",
    )
    .argument("<id>", "the agent's id (see: latchkey admin agents)")
    .option("--tenant <slug>", "tenant (default: the configured one, or the only one)")
    .addHelpText("after", example("latchkey admin agent revoke q3Jd9x0mTnK2pL5vR8sW1A"))
    .action(async (id: string, _o, cmd: Command) => {
      await agentRevokeCommand(id, cmd.optsWithGlobals(), out);
    });
}
