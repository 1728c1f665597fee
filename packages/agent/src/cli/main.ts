#!/usr/bin/env node
/**
 * The `latchkey-agent` program:
 *   enroll      make the agent's keys and register them with the server (one-time token)
 *   run         the service: link to the server, sync the directories, forever
 *   sync --once one sync pass of every directory over the link, with a progress bar, then exit
 *   check       validate the configuration and probe each directory (TLS, bind, RootDSE), then exit
 * Exit status: 0 ok, 1 failure (server or directory unreachable, a pass failed), 2 invalid or insecure
 * configuration, usage, not enrolled, or enrollment token refused (one line on stderr), 4 the server
 * refused this agent for good (revoked, or its identity is unknown): enroll again.
 */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { hostname } from "node:os";
import { pathToFileURL } from "node:url";
import { Command, CommanderError } from "commander";
import { AgentConfigError } from "../config/load.js";
import { agentVersion } from "../version.js";

export const EXIT_FAILURE = 1;
export const EXIT_CONFIG = 2;
export const EXIT_REFUSED = 4;

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

function example(...lines: string[]): string {
  return `\nExample${lines.length > 1 ? "s" : ""}:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, " ").trim();
}

interface GlobalOpts {
  config?: string;
  allowInsecureLink?: boolean;
}

/** --allow-insecure-link as the configuration's server.allowInsecureLink. */
function configEnv(opts: GlobalOpts): NodeJS.ProcessEnv {
  return opts.allowInsecureLink
    ? { ...process.env, LATCHKEY_AGENT_SERVER__ALLOW_INSECURE_LINK: "true" }
    : process.env;
}

async function loadEverything(opts: GlobalOpts) {
  const [{ loadAgentConfig }, { readKeyFile, KeyFileError }, { createLogger }] = await Promise.all([
    import("../config/load.js"),
    import("../keys/key-file.js"),
    import("../log.js"),
  ]);
  const { config } = await loadAgentConfig({ path: opts.config, env: configEnv(opts) });
  let identity: ReturnType<typeof readKeyFile>;
  try {
    identity = readKeyFile(config.keyFile);
  } catch (e) {
    if (e instanceof KeyFileError) throw new AgentCliError(e.message, EXIT_CONFIG);
    throw e;
  }
  return { config, identity, createLogger };
}

async function enrollCommand(
  o: {
    server: string;
    token?: string;
    tokenFile?: string;
    name?: string;
    keyFile?: string;
    caFile?: string;
    force?: boolean;
    allowInsecureLink?: boolean;
  },
  g: GlobalOpts,
): Promise<number> {
  const { enrollAgent, EnrollError } = await import("../keys/enroll.js");
  let keyFile = o.keyFile;
  let ca = o.caFile ? readFileSync(o.caFile, "utf8") : undefined;
  if (!keyFile) {
    // The key file goes where `run` will look for it: keyFile of the configuration, when there is one.
    const { loadAgentConfig, DEFAULT_AGENT_CONFIG_FILE } = await import("../config/load.js");
    if (g.config || existsSync(DEFAULT_AGENT_CONFIG_FILE)) {
      const { config } = await loadAgentConfig({ path: g.config });
      keyFile = config.keyFile;
      if (!ca && config.server.caFile) ca = readFileSync(config.server.caFile, "utf8");
    }
  }
  let token = o.token;
  if (o.tokenFile) token = readFileSync(o.tokenFile, "utf8").trim();
  if (!token) throw new AgentCliError("give the enrollment token with --token or --token-file", EXIT_CONFIG);
  try {
    const r = await enrollAgent({
      server: o.server,
      token,
      name: o.name ?? hostname(),
      keyFile: keyFile ?? "latchkey-agent.key",
      force: o.force ?? false,
      allowInsecure: o.allowInsecureLink ?? false,
      ...(ca ? { ca } : {}),
    });
    out(`enrolled as agent ${r.agentId} with ${r.server}; keys written to ${r.keyFile} (mode 0600)\n`);
    return 0;
  } catch (e) {
    if (e instanceof EnrollError)
      throw new AgentCliError(oneLine(e.message), e.failure === "unreachable" ? EXIT_FAILURE : EXIT_CONFIG);
    throw e;
  }
}

async function runCommand(g: GlobalOpts): Promise<number> {
  const { config, identity, createLogger } = await loadEverything(g);
  const [{ Agent }, { acquireLock, LockedError }, { defaultStatePath, StateFileError }] = await Promise.all([
    import("../agent.js"),
    import("../sync/lock.js"),
    import("../sync/state.js"),
  ]);
  const log = createLogger(config.logging.level);
  const statePath = config.stateFile ?? defaultStatePath(config.keyFile);
  let lock: ReturnType<typeof acquireLock>;
  try {
    lock = acquireLock(`${statePath}.lock`);
  } catch (e) {
    if (e instanceof LockedError) throw new AgentCliError(e.message, EXIT_FAILURE);
    throw e;
  }
  try {
    let agent: InstanceType<typeof Agent>;
    try {
      agent = new Agent({ config, identity, logger: log });
    } catch (e) {
      if (e instanceof StateFileError) throw new AgentCliError(e.message, EXIT_CONFIG);
      throw e;
    }
    err(`latchkey-agent: agent ${identity.content.agentId} starting; logs are JSON lines on stdout\n`);
    const code = await new Promise<number>((resolve) => {
      const onSignal = (signal: string) => {
        log.info({ signal }, "stopping");
        agent.stop().then(
          () => resolve(0),
          () => resolve(EXIT_FAILURE),
        );
      };
      process.once("SIGTERM", () => onSignal("SIGTERM"));
      process.once("SIGINT", () => onSignal("SIGINT"));
      agent.on("fatal", (f) => {
        err(
          f.code === "REPLACED"
            ? "latchkey-agent: another process connected with this agent's identity (the server replaced this link): stopping; run one agent per key file\n"
            : `latchkey-agent: the server refused this agent (${f.code}); ${
                f.code === "AGENT_REVOKED" ? "it was revoked" : "its identity is not known there"
              }: enroll again with a new token\n`,
        );
        agent.stop().finally(() => resolve(EXIT_REFUSED));
      });
      agent.start().catch((e: unknown) => {
        log.error({ error: e instanceof Error ? e.message : String(e) }, "agent failed to start");
        resolve(EXIT_FAILURE);
      });
    });
    return code;
  } finally {
    lock.release();
  }
}

async function syncCommand(
  o: { once?: boolean; full?: boolean; timeout: string },
  g: GlobalOpts,
): Promise<number> {
  if (!o.once)
    throw new AgentCliError("sync needs --once (the `run` command syncs continuously)", EXIT_CONFIG);
  const { config, identity, createLogger } = await loadEverything(g);
  const [{ Agent }, { acquireLock, LockedError }, { defaultStatePath }, { createProgressBar }] =
    await Promise.all([
      import("../agent.js"),
      import("../sync/lock.js"),
      import("../sync/state.js"),
      import("../sync/progress.js"),
    ]);
  const tty = Boolean(process.stderr.isTTY);
  const level =
    tty && ["info", "debug", "trace"].includes(config.logging.level) ? "warn" : config.logging.level;
  const log = createLogger(level);
  const statePath = config.stateFile ?? defaultStatePath(config.keyFile);
  let lock: ReturnType<typeof acquireLock>;
  try {
    lock = acquireLock(`${statePath}.lock`);
  } catch (e) {
    if (e instanceof LockedError) throw new AgentCliError(e.message, EXIT_FAILURE);
    throw e;
  }
  const agent = new Agent({ config, identity, logger: log, autoSync: false });
  try {
    await agent.start();
    try {
      await agent.waitOnline(Number(o.timeout) * 1000);
    } catch (e) {
      const refused = agent.link.fatal !== null;
      throw new AgentCliError(
        refused
          ? `the server refused this agent (${agent.link.fatal}): enroll again with a new token`
          : `cannot reach the server: ${(e as Error).message}`,
        refused ? EXIT_REFUSED : EXIT_FAILURE,
      );
    }
    const bar = createProgressBar();
    const results = await agent.runAll({ full: o.full ?? false, onProgress: (p) => bar.update(p) });
    let failed = 0;
    for (const r of results) {
      if (r.result) {
        const x = r.result;
        const line = `${x.directoryId}: ${x.full ? "full" : "incremental"} pass, ${x.users} users sent, ${x.deleted} deleted, ${x.skipped} skipped, ${(x.durationMs / 1000).toFixed(1)} s`;
        if (tty) bar.done(line);
        else err(`latchkey-agent: ${line}\n`);
      } else {
        failed++;
        err(`latchkey-agent: ${r.directoryId}: sync failed: ${r.error ?? "unknown error"}\n`);
      }
    }
    return failed > 0 ? EXIT_FAILURE : 0;
  } finally {
    await agent.stop();
    lock.release();
  }
}

async function checkCommand(g: GlobalOpts): Promise<number> {
  const [{ loadAgentConfig, readBindPassword }, { describeRootDse, probeDirectory }] = await Promise.all([
    import("../config/load.js"),
    import("../directory/rootdse.js"),
  ]);
  const { config } = await loadAgentConfig({ path: g.config });
  let failed = 0;
  for (const [i, d] of config.directories.entries()) {
    const password = readBindPassword(d, i);
    try {
      const dse = await probeDirectory({
        url: d.url,
        startTls: d.startTls,
        caFile: d.caFile,
        bind: { dn: d.bindDn, password },
        timeoutMs: d.timeoutMs,
      });
      const mismatch = d.dialect !== "auto" && d.dialect !== dse.dialect;
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
      const { describeLdapError } = await import("../directory/connect.js");
      err(
        `latchkey-agent: directory ${d.id} (${d.url}): cannot connect, verify TLS or bind: ${describeLdapError(e)}\n`,
      );
    }
  }
  if (failed > 0)
    throw new AgentCliError(`${failed} director${failed === 1 ? "y" : "ies"} failed the probe`, EXIT_FAILURE);
  err("latchkey-agent: configuration and directories are fine\n");
  return 0;
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command("latchkey-agent")
    .description(
      "The Latchkey writeback agent: runs inside your network, dials out to the Latchkey server (wss://), and keeps its view of your AD / OpenLDAP users current.",
    )
    .version(agentVersion(), "-V, --version", "print the version")
    .option("-c, --config <path>", "configuration file (default: ./latchkey-agent.yaml when it exists)")
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeOut: out, writeErr: err })
    .exitOverride()
    .addHelpText(
      "after",
      `${example(
        "latchkey-agent enroll --server https://reset.example.com --token 3q2-7wQ…",
        "latchkey-agent run --config /etc/latchkey/agent.yaml",
      )}
Exit status: 0 ok, 1 failure, 2 invalid or insecure configuration, usage, not enrolled or token refused,
4 the server refused this agent (revoked or unknown): enroll again.\n`,
    );

  program
    .command("enroll")
    .description(
      "Create this agent's keys (Ed25519 identity, X25519 sealing) and register their public halves with the server, using a one-time token from `latchkey admin agent-token`. The key file (mode 0600) is written only once the server accepted them.",
    )
    .requiredOption("--server <url>", "the Latchkey server's https:// URL")
    .option("--token <token>", "one-time enrollment token made by an administrator")
    .option("--token-file <path>", "read the token from this file instead (keeps it out of `ps`)")
    .option("--name <name>", "a name administrators will see (default: this host's name)")
    .option(
      "--key-file <path>",
      "where to write the keys (default: keyFile of --config, else ./latchkey-agent.key)",
    )
    .option("--ca-file <path>", "PEM of the CA of the server's certificate (default: system CAs)")
    .option("--force", "replace an existing key file (the old identity stops working)")
    .option("--allow-insecure-link", "allow plain http:// to a host that is not loopback (labs only)")
    .addHelpText(
      "after",
      example(
        "latchkey-agent enroll --server https://reset.example.com --token 3q2-7wQ… --key-file /etc/latchkey/agent.key",
      ),
    )
    .action(async (o: Parameters<typeof enrollCommand>[0], cmd: Command) => {
      setExit(await enrollCommand(o, cmd.optsWithGlobals() as GlobalOpts));
    });

  program
    .command("run")
    .description(
      "Run the agent: dial the server (reconnecting by itself), answer its challenge, send heartbeats, and sync every directory — a full pass first, then incremental passes every sync.intervalSeconds. Stops on SIGTERM/SIGINT.",
    )
    .option("--allow-insecure-link", "allow a plain ws:// link to a host that is not loopback (labs only)")
    .addHelpText("after", example("latchkey-agent run --config /etc/latchkey/agent.yaml"))
    .action(async (_o, cmd: Command) => {
      setExit(await runCommand(cmd.optsWithGlobals() as GlobalOpts));
    });

  program
    .command("sync")
    .description(
      "Connect to the server, run one sync pass of every directory (incremental when a cursor exists, else full) with a progress bar, and exit.",
    )
    .option("--once", "run one pass and exit (required)")
    .option("--full", "a full pass even when a cursor exists")
    .option("--timeout <seconds>", "how long to wait for the server link", "30")
    .option("--allow-insecure-link", "allow a plain ws:// link to a host that is not loopback (labs only)")
    .addHelpText("after", example("latchkey-agent sync --once --full --config /etc/latchkey/agent.yaml"))
    .action(async (o: { once?: boolean; full?: boolean; timeout: string }, cmd: Command) => {
      setExit(await syncCommand(o, cmd.optsWithGlobals() as GlobalOpts));
    });

  program
    .command("check")
    .description(
      "Validate the configuration and probe each directory over TLS (bind, RootDSE, dialect: AD or OpenLDAP with RFC 3062), then exit; status 1 when a directory fails.",
    )
    .addHelpText("after", example("latchkey-agent check --config /etc/latchkey/agent.yaml"))
    .action(async (_o, cmd: Command) => {
      setExit(await checkCommand(cmd.optsWithGlobals() as GlobalOpts));
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
    const code = (e as NodeJS.ErrnoException).code;
    err(
      `latchkey-agent: unexpected error: ${code ? `${code} ` : ""}${oneLine(e instanceof Error ? e.message : String(e)).slice(0, 300)}\n`,
    );
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
      // The link and LDAP sockets are closed by now; don't wait for stray timers.
      setTimeout(() => process.exit(code), 200).unref();
    },
    () => {
      process.exitCode = EXIT_FAILURE;
    },
  );
}
