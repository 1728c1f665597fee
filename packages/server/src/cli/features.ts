/**
 * The composition root of the HTTP features: `latchkey serve` and `latchkey demo` register the
 * plugins returned here on the fastify root (after security headers, cookies, rate limit and ops),
 * start the background work once the server listens, and close it on shutdown before the store.
 * The portal (reset pages and API, with its outbox worker) is built here; the admin console will be too.
 */
import type { FastifyPluginAsync } from "fastify";
import type { Runtime } from "./runtime.js";

export interface Features {
  plugins: FastifyPluginAsync[];
  /** Starts background work (the outbox worker); called after the server listens. */
  start(): void;
  /** Stops background work; called after the server stopped taking requests, before the store closes. */
  close(): Promise<void>;
  /** Pages `latchkey demo` points to: a label and a path under the server's URL. */
  links: { label: string; path: string }[];
}

export async function buildFeatures(runtime: Runtime): Promise<Features> {
  const { createPortal } = await import("../portal/index.js");
  const portal = await createPortal({
    loaded: runtime.loaded,
    store: runtime.store,
    clock: runtime.clock,
    logger: runtime.logger,
    audit: runtime.audit,
  });
  return {
    plugins: portal.plugins,
    start: () => portal.start(),
    close: () => portal.close(),
    links: [
      { label: "reset page", path: "/reset" },
      ...(portal.demoMessages ? [{ label: "messages sent (codes)", path: "/demo/outbox" }] : []),
    ],
  };
}
