/**
 * The composition root of the HTTP features: `latchkey serve` and `latchkey demo` register the
 * plugins returned here on the fastify root (after security headers, cookies, rate limit and ops),
 * start the background work once the server listens, and close it on shutdown before the store.
 * The portal (reset pages and API, with its outbox worker) is built here; the admin console will be too.
 */
import type { FastifyPluginAsync } from "fastify";
import type { DirectoryLink, DirectoryLinkOptions } from "../directory-link/index.js";
import type { Portal } from "../portal/index.js";
import type { WritebackOptions } from "../writeback/service.js";
import type { Runtime } from "./runtime.js";

export interface Features {
  plugins: FastifyPluginAsync[];
  /** Starts background work (the outbox worker); called after the server listens. */
  start(): void;
  /** Stops background work; called after the server stopped taking requests, before the store closes. */
  close(): Promise<void>;
  /** Pages `latchkey demo` points to: a label and a path under the server's URL. */
  links: { label: string; path: string }[];
  /** The agent link: enrollment, live links (its registry says who is online), sync ingestion. */
  directoryLink: DirectoryLink;
  /** The portal: reset flow, outbox, and the writeback of synced users' passwords through the agents. */
  portal: Portal;
}

/** What tests may change; `serve` and `demo` use the defaults. */
export interface FeatureOverrides {
  directoryLink?: Partial<DirectoryLinkOptions>;
  writeback?: Partial<WritebackOptions>;
  /** Outbox poll interval (tests shorten it). */
  outboxPollMs?: number;
}

export async function buildFeatures(runtime: Runtime, overrides: FeatureOverrides = {}): Promise<Features> {
  const [{ createPortal }, { createDirectoryLink }, { findTenant }] = await Promise.all([
    import("../portal/index.js"),
    import("../directory-link/index.js"),
    import("../tenants/seed.js"),
  ]);
  const { config } = runtime.loaded;
  const directoryLink = createDirectoryLink({
    store: runtime.store,
    clock: runtime.clock,
    logger: runtime.logger,
    audit: runtime.audit,
    directories: config.directories.map((d) => d.id),
    // Refused enrollments and unknown agents name no tenant: they are recorded under the configured one.
    failureTenantId: async () => (await findTenant(runtime.store.db, config.tenant.slug))?.id ?? null,
    ...(overrides.directoryLink ? { options: overrides.directoryLink } : {}),
  });
  // Synced users' passwords go through the link's agents.
  const portal = await createPortal({
    loaded: runtime.loaded,
    store: runtime.store,
    clock: runtime.clock,
    logger: runtime.logger,
    audit: runtime.audit,
    agentRegistry: directoryLink.registry,
    ...(overrides.writeback ? { writeback: overrides.writeback } : {}),
    ...(overrides.outboxPollMs !== undefined ? { outboxPollMs: overrides.outboxPollMs } : {}),
  });
  return {
    plugins: [...portal.plugins, directoryLink.plugin],
    start: () => portal.start(),
    // The app is closed first (links get 1012); then the work they had in flight finishes.
    close: async () => {
      await Promise.all([portal.close(), directoryLink.close()]);
    },
    directoryLink,
    portal,
    links: [
      { label: "reset page", path: "/reset" },
      ...(portal.demoMessages ? [{ label: "messages sent (codes)", path: "/demo/outbox" }] : []),
    ],
  };
}
