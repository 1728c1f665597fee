/**
 * The composition root of the HTTP features: `latchkey serve` and `latchkey demo` register what this
 * returns on the fastify root (after security headers, cookies, rate limit and ops). The portal, the
 * reset API and the admin console are added here, each as a plugin built from the runtime.
 */
import type { FastifyPluginAsync } from "fastify";
import type { Runtime } from "./runtime.js";

export async function featurePlugins(_runtime: Runtime): Promise<FastifyPluginAsync[]> {
  return [];
}
