/**
 * The admin area (issue 7's pages): built from what the portal already has — the account guard,
 * the store, the configuration and the method registry — and returned as one fastify plugin.
 */
import type { FastifyPluginAsync } from "fastify";
import type { AccountGuard } from "../account/guard.js";
import type { LoadedConfig } from "../config/load.js";
import type { Clock } from "../core/clock.js";
import type { MethodRegistry } from "../methods/registry.js";
import type { Store } from "../store/db.js";
import { adminGuard } from "./guard.js";
import { adminPages } from "./pages.js";
import { AdminExplainService } from "./service.js";

export interface AdminDeps {
  store: Store;
  config: LoadedConfig["config"];
  methods: MethodRegistry;
  clock: Clock;
  accountGuard: AccountGuard;
}

export function createAdmin(deps: AdminDeps): { plugin: FastifyPluginAsync; service: AdminExplainService } {
  const service = new AdminExplainService({
    db: deps.store.db,
    config: deps.config,
    methods: deps.methods,
    clock: deps.clock,
  });
  const guard = adminGuard(deps.accountGuard);
  const plugin: FastifyPluginAsync = async (app) => {
    await app.register(adminPages, { guard, service });
  };
  return { plugin, service };
}
