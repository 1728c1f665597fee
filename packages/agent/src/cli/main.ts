#!/usr/bin/env node
/**
 * The `latchkey-agent` program. Unfinished, and honest about it: the link to the server (enrollment,
 * the outbound WebSocket, sealed operations) arrives with issue 4. Today `run` validates the
 * configuration and probes each directory (strict TLS, bind, RootDSE, dialect), then exits with status
 * 3; `enroll` exits with status 3 at once. Exit status: 0 ok, 1 failure, 2 invalid or insecure
 * configuration (one line on stderr) or usage, 3 not available yet.
 */
import { readFileSync, realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { Command, CommanderError } from "commander";
import { AgentConfigError } from "../config/load.js";

export const EXIT_FAILURE = 1;
export const EXIT_CONFIG = 2;
export const EXIT_NOT_AVAILABLE = 3;

const out = (s: string) => {
  process.stdout.write(s);
};
const err = (s: string) => {
  process.stderr.write(s);
};

class AgentCliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function version(): string {
  try {
    return (
      JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
    ).version;
  } catch {
    return "0.0.0";
  }
}

function example(...lines: string[]): string {
  return `\nExample${lines.length > 1 ? "s" : ""}:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;
}

async function runCommand(opts: { config?: string }): Promise<number> {
  const [{ loadAgentConfig, readSecretFile }, { describeRootDse, probeDirectory }, { pino }] =
    await Promise.all([import("../config/load.js"), import("../directory/rootdse.js"), import("pino")]);
  const { config } = await loadAgentConfig({ path: opts.config });
  const log = pino({
    level: config.logging.level,
    redact: { paths: ["password", "*.password", "bind.password"], censor: "[redacted]" },
  });
  let failed = 0;
  for (const [i, d] of config.directories.entries()) {
    const password = readSecretFile(d.bindPasswordFile, `directories[${i}].bindPasswordFile`);
    try {
      const dse = await probeDirectory({
        url: d.url,
        startTls: d.startTls,
        caFile: d.caFile,
        bind: { dn: d.bindDn, password },
        timeoutMs: d.timeoutMs,
      });
      const mismatch = d.dialect !== "auto" && d.dialect !== dse.dialect;
      log.info(
        {
          directory: d.id,
          url: d.url,
          dialect: dse.dialect,
          policyHints: dse.policyHints,
          ppolicy: dse.ppolicy,
        },
        `directory ${d.id}: ${describeRootDse(dse)}`,
      );
      err(`latchkey-agent: directory ${d.id} (${d.url}): ${describeRootDse(dse)}\n`);
      if (dse.dialect === "unsupported" || mismatch) {
        failed++;
        err(
          `latchkey-agent: directory ${d.id}: ${
            mismatch
              ? `configured as ${d.dialect} but the RootDSE says ${dse.dialect}`
              : "no supported password operation"
          }\n`,
        );
      }
    } catch (e) {
      failed++;
      const message = e instanceof Error ? e.message : String(e);
      log.error({ directory: d.id, url: d.url, error: message }, "directory probe failed");
      err(
        `latchkey-agent: directory ${d.id} (${d.url}): cannot connect, verify TLS or bind: ${message.replace(/\s+/g, " ")}\n`,
      );
    }
  }
  if (failed > 0)
    throw new AgentCliError(`${failed} director${failed === 1 ? "y" : "ies"} failed the probe`, EXIT_FAILURE);
  err(
    "latchkey-agent: configuration and directories are fine; the link to the server is not built yet (issue 4), so the agent exits now\n",
  );
  return EXIT_NOT_AVAILABLE;
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command("latchkey-agent")
    .description(
      "The Latchkey writeback agent: runs inside your network, dials out to the server, sets passwords in AD/OpenLDAP. UNFINISHED: the server link arrives with issue 4.",
    )
    .version(version(), "-V, --version", "print the version")
    .option("-c, --config <path>", "configuration file (default: ./latchkey-agent.yaml when it exists)")
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeOut: out, writeErr: err })
    .exitOverride()
    .addHelpText(
      "after",
      `${example("latchkey-agent run --config /etc/latchkey/agent.yaml")}
Exit status: 0 ok, 1 failure, 2 invalid or insecure configuration (or usage), 3 not available yet.\n`,
    );

  program
    .command("enroll")
    .description(
      "Enroll this agent with a server using a one-time token. NOT AVAILABLE YET (issue 4): exits with status 3.",
    )
    .requiredOption("--server <url>", "the Latchkey server's https:// URL")
    .requiredOption("--token <token>", "one-time enrollment token made by an administrator")
    .addHelpText("after", example("latchkey-agent enroll --server https://reset.example.com --token 3q2+7w…"))
    .action(() => {
      throw new AgentCliError(
        "enroll is not available yet (issue 4): the agent cannot enroll with a server in this version",
        EXIT_NOT_AVAILABLE,
      );
    });

  program
    .command("run")
    .description(
      "Validate the configuration and probe each directory over TLS (bind, RootDSE, dialect: AD or OpenLDAP with RFC 3062), then exit: the server link arrives with issue 4 (status 3 when all directories pass).",
    )
    .addHelpText("after", example("latchkey-agent run --config /etc/latchkey/agent.yaml"))
    .action(async (_o, cmd: Command) => {
      setExit(await runCommand(cmd.optsWithGlobals()));
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : EXIT_CONFIG;
    if (e instanceof AgentConfigError) {
      err(`${e.line()}\n`);
      return EXIT_CONFIG;
    }
    if (e instanceof AgentCliError) {
      err(`latchkey-agent: ${e.message}\n`);
      return e.exitCode;
    }
    err(`latchkey-agent: unexpected error: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_FAILURE;
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

if (invokedDirectly()) {
  main(process.argv).then(
    (code) => {
      process.exitCode = code;
    },
    () => {
      process.exitCode = EXIT_FAILURE;
    },
  );
}
