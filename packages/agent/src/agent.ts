/**
 * The running agent: one link to the server and, per configured directory, a sync pass when the link
 * comes online, every `sync.intervalSeconds` after that, and whenever the server sends sync.request.
 * A pass that fails (directory down, link dropped, batch refused) is logged and retried at the next
 * tick; nothing a directory or the server does ends the process, except the server refusing the
 * agent for good (`fatal`). Password operations (op.request) go to the OperationHandler
 * (operations/), each answered with an op.result of the same opId.
 */
import { EventEmitter } from "node:events";
import { readFileSync } from "node:fs";
import type { DirectoryInfo } from "@latchkey/protocol";
import { readBindPassword } from "./config/load.js";
import type { AgentConfig, AgentDirectoryConfig } from "./config/schema.js";
import { describeLdapError } from "./directory/connect.js";
import { openDirectorySession } from "./directory/open.js";
import type { DirectorySession } from "./directory/types.js";
import type { AgentIdentity } from "./keys/key-file.js";
import { type Clock, systemClock, type TimerHandle } from "./link/clock.js";
import { AgentLink, type AgentLinkOptions, type FatalCode } from "./link/link.js";
import type { AgentLogger } from "./log.js";
import { checkServerUrl, linkUrl } from "./net/urls.js";
import { DirectoryOperator } from "./operations/directory.js";
import { OperationHandler, type OperationHandlerOptions } from "./operations/handler.js";
import { type PassOptions, type PassResult, SyncEngine } from "./sync/engine.js";
import { LinkSyncSink, type SyncSink } from "./sync/sink.js";
import { defaultStatePath, StateStore } from "./sync/state.js";
import { agentVersion } from "./version.js";

export interface AgentOptions {
  config: AgentConfig;
  identity: AgentIdentity;
  logger: AgentLogger;
  env?: NodeJS.ProcessEnv;
  clock?: Clock;
  random?: () => number;
  /** Run passes by themselves (on welcome, on the interval, on sync.request). Default true. */
  autoSync?: boolean;
  /** PEM of the server's CA (else config.server.caFile). */
  serverCa?: string;
  /** Inline CA PEM for every directory (tests; else each directory's caFile). */
  directoryCaPem?: string;
  /** Link tuning (backoff, handshake timeout). */
  link?: Pick<AgentLinkOptions, "backoff" | "handshakeTimeoutMs" | "stableAfterMs">;
  /** Replace the link as the sync destination (benchmarks, `preview`). */
  sink?: SyncSink;
  /** Password operations: remembered results and concurrency per directory (defaults in handler.ts). */
  operations?: Pick<OperationHandlerOptions, "cache" | "concurrency">;
}

export interface AgentEvents {
  pass: [PassResult];
  passFailed: [{ directoryId: string; error: string }];
  fatal: [{ code: FatalCode; message: string }];
}

export class Agent extends EventEmitter<AgentEvents> {
  readonly link: AgentLink;
  readonly state: StateStore;
  private readonly engine: SyncEngine;
  private readonly clock: Clock;
  private readonly log: AgentLogger;
  private readonly dialects = new Map<string, DirectoryInfo>();
  private timer: TimerHandle | null = null;
  private running: Promise<void> | null = null;
  private pendingAny = false;
  private readonly pendingFull = new Set<string>();
  private stopping = false;
  /** Directory ids the server accepted at the last welcome (undefined: it did not say). */
  private accepted: Set<string> | undefined;
  private ops: OperationHandler | null = null;

  constructor(private readonly opts: AgentOptions) {
    super();
    const { config, identity } = opts;
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger;
    if (config.server.url.replace(/\/+$/, "") !== identity.content.server.replace(/\/+$/, ""))
      this.log.warn(
        { configured: config.server.url, enrolledWith: identity.content.server },
        "server.url differs from the server this agent enrolled with; using server.url",
      );
    const server = checkServerUrl(config.server.url, config.server.allowInsecureLink);
    const ca =
      opts.serverCa ?? (config.server.caFile ? readFileSync(config.server.caFile, "utf8") : undefined);
    for (const d of config.directories)
      if (d.dialect !== "auto")
        this.dialects.set(d.id, { id: d.id, dialect: d.dialect, description: "configured" });
    this.link = new AgentLink({
      url: linkUrl(server, identity.content.linkPath),
      agentId: identity.content.agentId,
      signingKey: identity.signingKey,
      version: agentVersion(),
      directories: () => [...this.dialects.values()],
      ...(ca ? { ca } : {}),
      env: opts.env ?? process.env,
      clock: this.clock,
      ...(opts.random ? { random: opts.random } : {}),
      ...opts.link,
      logger: this.log,
    });
    this.state = StateStore.load(
      config.stateFile ?? defaultStatePath(config.keyFile),
      identity.content.agentId,
      this.log,
    );
    this.engine = new SyncEngine({
      sink:
        opts.sink ??
        new LinkSyncSink(this.link, { ackTimeoutMs: config.sync.ackTimeoutMs, clock: this.clock }),
      state: this.state,
      batchSize: config.sync.batchSize,
      window: config.sync.window,
      logger: this.log,
    });
    this.link.on("fatal", (f) => {
      this.stopping = true;
      this.clearTimer();
      this.emit("fatal", f);
    });
    this.link.on("online", (w) => {
      this.accepted = w.directories ? new Set(w.directories) : undefined;
      const refused = config.directories
        .filter((d) => this.accepted && !this.accepted.has(d.id))
        .map((d) => d.id);
      if (refused.length > 0)
        this.log.warn(
          { refused },
          "the server does not accept this agent for some directories (token bound to another directory, or not in its configuration): they are not synced",
        );
    });
    this.link.on("message", (m) => {
      if (m.type !== "op.request") return;
      void this.operations()
        .handleOperation(m)
        .then((result) => {
          // Offline: the server sends it again, and the result is answered from memory.
          if (this.link.send({ type: "op.result", ...result }) === null)
            this.log.warn({ opId: m.opId }, "the link went down before the operation's result could be sent");
        });
    });
    if (opts.autoSync !== false) {
      this.link.on("online", () => this.requestPasses(false));
      this.link.on("message", (m) => {
        if (m.type === "sync.request") {
          this.log.info({ full: m.full }, "the server asked for a sync pass");
          this.requestPasses(m.full);
        }
      });
    }
  }

  /** Probes each directory (logs its dialect), then dials the server. */
  async start(): Promise<void> {
    this.stopping = false;
    await Promise.all(this.opts.config.directories.map((d) => this.probe(d)));
    this.link.start();
  }

  /** Stops dialling and ticking, lets a running pass end (its acks fail when the link closes). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.clearTimer();
    await this.link.stop();
    await this.running?.catch(() => {});
    await this.ops?.close();
  }

  /** The password-operation handler, made at the first operation (one service connection per directory). */
  operations(): OperationHandler {
    if (this.ops) return this.ops;
    const { config, identity } = this.opts;
    const directories = new Map<string, DirectoryOperator>();
    config.directories.forEach((d, index) => {
      let password: string;
      try {
        password = readBindPassword(d, index, this.opts.env ?? process.env);
      } catch (e) {
        this.log.error(
          { directory: d.id, error: e instanceof Error ? e.message : String(e) },
          "no bind password: password operations for this directory are refused",
        );
        return;
      }
      directories.set(
        d.id,
        new DirectoryOperator({
          directory: d,
          password,
          ...(this.opts.directoryCaPem ? { caPem: this.opts.directoryCaPem } : {}),
        }),
      );
    });
    this.ops = new OperationHandler({
      sealingKey: identity.sealingKey,
      directories,
      clock: this.clock,
      logger: this.log,
      ...this.opts.operations,
    });
    return this.ops;
  }

  /** Waits until the link is online, or rejects after `timeoutMs` or on a fatal refusal. */
  waitOnline(timeoutMs: number): Promise<void> {
    if (this.link.isOnline) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => {
        cleanup();
        reject(new Error(`the link did not come online within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      const online = () => {
        cleanup();
        resolve();
      };
      const fatal = (f: { code: string }) => {
        cleanup();
        reject(new Error(`the server refused this agent (${f.code})`));
      };
      const cleanup = () => {
        clearTimeout(t);
        this.link.off("online", online);
        this.link.off("fatal", fatal);
      };
      this.link.on("online", online);
      this.link.on("fatal", fatal);
    });
  }

  /** Known dialects (from the RootDSE probe), as sent in `auth`. */
  directoryInfos(): DirectoryInfo[] {
    return [...this.dialects.values()];
  }

  private async open(d: AgentDirectoryConfig): Promise<DirectorySession> {
    const index = this.opts.config.directories.indexOf(d);
    const session = await openDirectorySession({
      directory: d,
      password: readBindPassword(d, index, this.opts.env ?? process.env),
      sync: this.opts.config.sync,
      ...(this.opts.directoryCaPem ? { caPem: this.opts.directoryCaPem } : {}),
    });
    const info: DirectoryInfo = {
      id: d.id,
      dialect: session.dialect,
      description: session.description.slice(0, 512),
    };
    const before = this.dialects.get(d.id);
    this.dialects.set(d.id, info);
    if (before?.description !== info.description)
      this.log.info(
        { directory: d.id, url: d.url, dialect: info.dialect },
        `directory ${d.id}: ${info.description}`,
      );
    return session;
  }

  private async probe(d: AgentDirectoryConfig): Promise<void> {
    try {
      const s = await this.open(d);
      await s.close();
    } catch (e) {
      this.log.error(
        { directory: d.id, url: d.url, error: describeLdapError(e) },
        "directory probe failed (retried at each sync pass)",
      );
    }
  }

  /** One pass of one directory (opens and closes its session). */
  async runPass(d: AgentDirectoryConfig, options: PassOptions = {}): Promise<PassResult> {
    const session = await this.open(d);
    try {
      return await this.engine.runPass(d, session, options);
    } finally {
      await session.close();
    }
  }

  /** One pass of every directory, in order; failures are reported, not thrown. */
  async runAll(
    options: PassOptions & { fullFor?: (id: string) => boolean } = {},
  ): Promise<{ directoryId: string; result?: PassResult; error?: string }[]> {
    const out: { directoryId: string; result?: PassResult; error?: string }[] = [];
    for (const d of this.opts.config.directories) {
      if (this.stopping) break;
      if (this.accepted && !this.accepted.has(d.id)) {
        out.push({ directoryId: d.id, error: "the server does not accept this agent for this directory" });
        continue;
      }
      const full = options.fullFor ? options.fullFor(d.id) : (options.full ?? false);
      try {
        const result = await this.runPass(d, { ...options, full });
        this.emit("pass", result);
        out.push({ directoryId: d.id, result });
      } catch (e) {
        const error = describeLdapError(e);
        this.log.error(
          { directory: d.id, error },
          "sync pass failed (the cursor did not move; retried next time)",
        );
        this.emit("passFailed", { directoryId: d.id, error });
        out.push({ directoryId: d.id, error });
      }
    }
    return out;
  }

  private requestPasses(full: boolean): void {
    if (full) for (const d of this.opts.config.directories) this.pendingFull.add(d.id);
    this.pendingAny = true;
    this.kick();
  }

  private kick(): void {
    if (this.running || this.stopping || !this.link.isOnline || !this.pendingAny) return;
    this.pendingAny = false;
    this.clearTimer();
    this.running = this.runAll({ fullFor: (id) => this.pendingFull.delete(id) })
      .then(() => undefined)
      .finally(() => {
        this.running = null;
        if (this.stopping) return;
        if (this.pendingAny) this.kick();
        else this.schedule();
      });
  }

  private schedule(): void {
    this.clearTimer();
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.requestPasses(false);
    }, this.opts.config.sync.intervalSeconds * 1000);
  }

  private clearTimer(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }
}
