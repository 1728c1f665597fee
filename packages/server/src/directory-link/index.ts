/**
 * The directory link: where agents enroll (POST AGENT_ENROLL_PATH) and hold their WebSocket link
 * (AGENT_LINK_PATH), and where their sync batches enter the store. `createDirectoryLink` builds it
 * once per server; `latchkey serve` registers its plugin (cli/features.ts). Its AgentRegistry tells
 * which agents are online on this instance; `revoke` revokes an agent and closes its link at once.
 *
 * Closing the fastify app closes every link with 1012 "service restart", so agents reconnect to the
 * next instance (or this one, restarted).
 */
import websocket from "@fastify/websocket";
import { AGENT_LINK_PATH } from "@latchkey/protocol";
import type { FastifyInstance, FastifyPluginAsync } from "fastify";
import type { AuditSink } from "../audit/emitter.js";
import type { Clock } from "../core/clock.js";
import { cryptoRandom, newId, type Random } from "../core/random.js";
import type { Logger } from "../logging/logger.js";
import type { Store } from "../store/db.js";
import { SyncIngestor } from "../sync/ingest.js";
import { type RevokeResult, revokeAgent } from "./agents.js";
import { enrollRoutes } from "./enrollment.js";
import { AgentLink, CLOSE } from "./link.js";
import { DEFAULT_HEARTBEAT_INTERVAL_MS, DEFAULT_HEARTBEAT_WRITE_EVERY_MS } from "./liveness.js";
import { trackRegistry } from "./metrics.js";
import { AgentRegistry } from "./registry.js";

export { CLOSE } from "./link.js";
export { AgentRegistry, type LiveLink, type OnlineAgent } from "./registry.js";

export interface DirectoryLinkOptions {
  /** Told to agents in `welcome`. Default 15 s. */
  heartbeatIntervalMs: number;
  /** `agents.last_heartbeat_at` is written at most this often per agent. Default 30 s. */
  heartbeatWriteEveryMs: number;
  /** A link must authenticate within this time. Default 10 s. */
  authTimeoutMs: number;
  /** Largest message accepted; a bigger one closes the link with 1009. Default 4 MiB. */
  maxMessageBytes: number;
  /** Sustained messages per second per link. Default 50. */
  messagesPerSecond: number;
  /** Burst above the sustained rate. Default 200. */
  messageBurst: number;
  /** Messages received but not yet handled, per link. Default 32. */
  maxPending: number;
  /** Enrollment attempts per client IP and minute. Default 10. */
  enrollPerMinute: number;
  /** How long closing waits for agents to acknowledge the close before cutting them off. Default 2 s. */
  closeGraceMs: number;
}

export const DEFAULT_LINK_OPTIONS: DirectoryLinkOptions = {
  heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
  heartbeatWriteEveryMs: DEFAULT_HEARTBEAT_WRITE_EVERY_MS,
  authTimeoutMs: 10_000,
  maxMessageBytes: 4 * 1024 * 1024,
  messagesPerSecond: 50,
  messageBurst: 200,
  maxPending: 32,
  enrollPerMinute: 10,
  closeGraceMs: 2_000,
};

export interface DirectoryLinkDeps {
  store: Store;
  clock: Clock;
  logger: Logger;
  audit: AuditSink;
  random?: Random;
  /** Directory ids from the configuration; when non-empty, agents serve only these. */
  directories?: readonly string[];
  /** The tenant refused enrollments and unknown agents are recorded under. */
  failureTenantId(): Promise<string | null>;
  options?: Partial<DirectoryLinkOptions>;
  /** This instance's id in `agents.link_instance`; default a fresh random id. */
  instanceId?: string;
}

export interface DirectoryLink {
  /** Registers the enrollment route and the link endpoint. Register once, on one app. */
  plugin: FastifyPluginAsync;
  registry: AgentRegistry;
  ingest: SyncIngestor;
  options: DirectoryLinkOptions;
  /** Revokes an agent (store and audit) and closes its link on this instance at once. */
  revoke(opts: { tenantId: string; agentId: string; actor?: string }): Promise<RevokeResult>;
  /** Waits for work in flight on the links (sync batches). Call after the app closed, before the store. */
  close(): Promise<void>;
}

export function createDirectoryLink(deps: DirectoryLinkDeps): DirectoryLink {
  const options: DirectoryLinkOptions = { ...DEFAULT_LINK_OPTIONS, ...deps.options };
  const random = deps.random ?? cryptoRandom;
  const db = deps.store.db;
  const registry = new AgentRegistry(deps.instanceId ?? newId(random));
  const ingest = new SyncIngestor({ db, clock: deps.clock, audit: deps.audit, logger: deps.logger, random });
  const links = new Set<AgentLink>();
  /** Work still running for links that have closed (recording the close); settled ones leave. */
  const ending = new Set<Promise<void>>();
  const logger = deps.logger.child({ component: "directory-link" });

  const linkContext = {
    db,
    clock: deps.clock,
    logger: deps.logger,
    audit: deps.audit,
    random,
    registry,
    ingest,
    timings: {
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      heartbeatWriteEveryMs: options.heartbeatWriteEveryMs,
      authTimeoutMs: options.authTimeoutMs,
    },
    limits: {
      messagesPerSecond: options.messagesPerSecond,
      messageBurst: options.messageBurst,
      maxPending: options.maxPending,
    },
    configuredDirectories: deps.directories ?? [],
    failureTenantId: deps.failureTenantId,
  };

  const plugin: FastifyPluginAsync = async (app: FastifyInstance) => {
    const untrack = trackRegistry(registry);
    const sweepEvery = Math.max(100, Math.min(options.heartbeatIntervalMs / 2, options.authTimeoutMs / 2));
    const sweeper = setInterval(() => {
      const now = deps.clock.now();
      for (const link of links) link.checkTimeouts(now);
    }, sweepEvery);
    sweeper.unref();

    await app.register(websocket, {
      options: { maxPayload: options.maxMessageBytes },
      errorHandler(error, socket) {
        // An agent's broken frame or oversize message: ws closes with 1002/1009; nothing to crash.
        logger.info(
          { err: { message: error.message, code: (error as { code?: unknown }).code } },
          "agent link error",
        );
        socket.terminate();
      },
      async preClose() {
        // Closing the app is a restart for the agents: they reconnect.
        const open = [...links];
        for (const link of open) link.close(CLOSE.SERVICE_RESTART, "service restart");
        await Promise.all(open.map((l) => l.closedWithin(options.closeGraceMs)));
        clearInterval(sweeper);
        untrack();
      },
    });

    await app.register(enrollRoutes, {
      db,
      clock: deps.clock,
      audit: deps.audit,
      random,
      failureTenantId: deps.failureTenantId,
      perMinute: options.enrollPerMinute,
    });

    app.get(AGENT_LINK_PATH, { websocket: true }, (socket, req) => {
      const link = new AgentLink(socket, linkContext, req.ip ?? null, (l) => {
        links.delete(l);
        const done: Promise<void> = l.drain().finally(() => ending.delete(done));
        ending.add(done);
      });
      links.add(link);
      link.start();
    });

    app.addHook("onClose", async () => {
      clearInterval(sweeper);
      untrack();
    });
  };

  return {
    plugin,
    registry,
    ingest,
    options,
    async revoke(opts) {
      const result = await revokeAgent({ db, clock: deps.clock, audit: deps.audit }, opts);
      if (result !== "unknown") {
        for (const link of links) if (link.agentId === opts.agentId) link.revoked();
      }
      return result;
    },
    async close() {
      await Promise.all([...[...links].map((l) => l.drain()), ...ending]);
    },
  };
}
