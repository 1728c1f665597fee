#!/usr/bin/env node
/**
 * The `latchkey` program. Each command's code is imported only when that command runs, so `--help`,
 * `docs` and `migrate` do not pay for the HTTP stack. Exit status: 0 success, 1 failure, 2 invalid or
 * insecure configuration (one line on stderr, nothing written) or a usage error, 3 not available yet.
 */
import { readFileSync, realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { registerAgentCommands } from "./agents.js";
import { EXIT_CONFIG, reportError } from "./errors.js";
import { registerExplainCommands } from "./explain-commands.js";

const out = (s: string) => {
  process.stdout.write(s);
};
const err = (s: string) => {
  process.stderr.write(s);
};

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}

function integer(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max)
      throw new InvalidArgumentError(`${name} must be a whole number from ${min} to ${max}.`);
    return n;
  };
}

function example(...lines: string[]): string {
  return `\nExample${lines.length > 1 ? "s" : ""}:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;
}

export function buildProgram(): Command {
  const program = new Command("latchkey")
    .description("Latchkey: self-hosted self-service password reset.")
    .version(version(), "-V, --version", "print the version")
    .option("-c, --config <path>", "configuration file (default: ./latchkey.yaml when it exists)")
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeOut: out, writeErr: err })
    .exitOverride()
    .addHelpText(
      "after",
      `${example("latchkey serve --config /etc/latchkey/latchkey.yaml", "latchkey demo")}
Configuration: docs/configuration.md (every key, default and LATCHKEY_* variable).
Exit status: 0 ok, 1 failure, 2 invalid or insecure configuration (or usage), 3 not available yet.\n`,
    );

  program
    .command("serve")
    .description(
      "Start the server: load the configuration, run pending migrations, create the tenant when the store has none, listen for HTTP. Stops cleanly on SIGTERM/SIGINT.",
    )
    .option("--host <address>", "listen address (overrides server.host)")
    .option("--port <port>", "listen port (overrides server.port)", integer("--port", 0, 65535))
    .addHelpText(
      "after",
      example(
        "latchkey serve --config /etc/latchkey/latchkey.yaml",
        "LATCHKEY_SECRETS_HMAC_KEY=$(cat hmac.key) LATCHKEY_SECRETS_DATA_KEY=$(cat data.key) latchkey serve --port 9090",
      ),
    )
    .action(async (_o, cmd: Command) => {
      const { serveCommand } = await import("./serve.js");
      await serveCommand(cmd.optsWithGlobals(), err);
    });

  program
    .command("migrate")
    .description("Apply the store's pending migrations and print which ran (serve also runs them at start).")
    .addHelpText("after", example("latchkey migrate --config /etc/latchkey/latchkey.yaml"))
    .action(async (_o, cmd: Command) => {
      const { migrateCommand } = await import("./migrate.js");
      await migrateCommand(cmd.optsWithGlobals(), out);
    });

  program
    .command("demo")
    .description(
      "Start a demo server: demo mode on, SQLite at ./data/demo.db unless given, keys generated for the run, the demo tenant and users seeded. Prints the URL and the demo users. Not for production.",
    )
    .option(
      "--db <url>",
      "store for the demo (default sqlite:./data/demo.db; with a directory, a file in its temporary directory)",
    )
    .option("--host <address>", "listen address (default 127.0.0.1)")
    .option("--port <port>", "listen port (default 8080)", integer("--port", 0, 65535))
    .addOption(
      new Option(
        "--directory <kind>",
        "throwaway directory beside the cloud users, synced by a real latchkey-agent: openldap (slapd; the default when installed), samba (Samba AD DC: root, several seconds to provision), none",
      ).choices(["openldap", "samba", "none"]),
    )
    .addHelpText(
      "after",
      example(
        "latchkey demo",
        "latchkey demo --directory samba",
        "latchkey demo --directory none --port 9000 --db sqlite:/tmp/demo.db",
      ),
    )
    .action(async (_o, cmd: Command) => {
      const { demoCommand } = await import("./demo.js");
      await demoCommand(cmd.optsWithGlobals(), out, err);
    });

  const admin = program
    .command("admin")
    .description("Look into the store from a shell: users, audit events, tenant settings.")
    .addHelpText("after", example("latchkey admin users list", "latchkey admin audit tail --limit 50"));

  const users = admin.command("users").description("Users of a tenant.");
  users
    .command("list")
    .description("List the users of a tenant with their state and number of confirmed methods (no secrets).")
    .option("--tenant <slug>", "tenant (default: the configured one, or the only one)")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      example("latchkey admin users list", "latchkey admin users list --tenant acme --json"),
    )
    .action(async (_o, cmd: Command) => {
      const { usersListCommand } = await import("./admin.js");
      await usersListCommand(cmd.optsWithGlobals(), out);
    });

  const audit = admin.command("audit").description("The audit log.");
  audit
    .command("tail")
    .description("Print the latest audit events of a tenant, oldest first.")
    .option("-n, --limit <count>", "how many events (1–10000)", integer("--limit", 1, 10_000), 20)
    .option("--tenant <slug>", "tenant (default: the configured one, or the only one)")
    .option("--json", "print JSON")
    .addHelpText(
      "after",
      example("latchkey admin audit tail", "latchkey admin audit tail --limit 100 --json"),
    )
    .action(async (_o, cmd: Command) => {
      const { auditTailCommand } = await import("./admin.js");
      await auditTailCommand(cmd.optsWithGlobals(), out);
    });

  const tenant = admin.command("tenant").description("Tenants.");
  tenant
    .command("show")
    .description("Show a tenant and its settings, or list all tenants with --all.")
    .option("--tenant <slug>", "tenant (default: the configured one, or the only one)")
    .option("--all", "list every tenant")
    .option("--json", "print JSON")
    .addHelpText("after", example("latchkey admin tenant show", "latchkey admin tenant show --all"))
    .action(async (_o, cmd: Command) => {
      const { tenantShowCommand } = await import("./admin.js");
      await tenantShowCommand(cmd.optsWithGlobals(), out);
    });
  tenant
    .command("set")
    .description(
      "Change settings of a tenant: dotted paths from `latchkey admin tenant show --json` (settings part), values as JSON or text; lists may be comma-separated. Validated as a whole and audited; nothing is written when one value is refused.",
    )
    .argument("<path=value...>", "one or more settings to change")
    .option("--tenant <slug>", "tenant (default: the configured one, or the only one)")
    .option("--json", "print the changes as JSON")
    .addHelpText(
      "after",
      example(
        "latchkey admin tenant set reset.gates=2 reset.methods=email,totp",
        "latchkey admin tenant set password.minLength=12 reset.disclosure=guided",
      ),
    )
    .action(async (assignments: string[], _o, cmd: Command) => {
      const { tenantSetCommand } = await import("./tenant-set.js");
      await tenantSetCommand(assignments, cmd.optsWithGlobals(), out);
    });

  registerAgentCommands(admin, out);
  registerExplainCommands(program, admin, out);

  const docs = program.command("docs").description("Generated documentation.");
  docs
    .command("config")
    .description("Print the configuration reference (docs/configuration.md), generated from the schema.")
    .option("-o, --out <file>", "write it to a file instead of standard output")
    .addHelpText("after", example("latchkey docs config --out docs/configuration.md"))
    .action(async (o: { out?: string }) => {
      const { docsConfigCommand } = await import("./docs.js");
      await docsConfigCommand(o, out);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version end with 0; a usage error was already printed by commander.
      return e.exitCode === 0 ? 0 : EXIT_CONFIG;
    }
    return reportError(e, err);
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url;
  } catch {
    return false;
  }
}

// Run when executed (bin, `node dist/cli/main.js`), not when imported by a test.
if (invokedDirectly()) {
  main(process.argv).then(
    (code) => {
      if (code !== 0) process.exitCode = code;
    },
    (e: unknown) => {
      process.exitCode = reportError(e, err);
    },
  );
}
