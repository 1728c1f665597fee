/**
 * The agent link's Prometheus metrics, in the process registry that /metrics serves. The online
 * gauge is computed when scraped from every AgentRegistry of the process (one per running server).
 */
import { Counter, Gauge } from "prom-client";
import { registry } from "../http/ops/metrics.js";
import type { AgentRegistry } from "./registry.js";

const registries = new Set<AgentRegistry>();

/** Counts the registry's agents in latchkey_agents_online until the returned function is called. */
export function trackRegistry(r: AgentRegistry): () => void {
  registries.add(r);
  return () => {
    registries.delete(r);
  };
}

export const agentsOnline = new Gauge({
  name: "latchkey_agents_online",
  help: "Agents with an authenticated link to this instance, by directory they serve.",
  labelNames: ["directory"] as const,
  registers: [registry],
  collect() {
    this.reset();
    const total = new Map<string, number>();
    for (const r of registries) {
      for (const [dir, n] of r.countByDirectory()) total.set(dir, (total.get(dir) ?? 0) + n);
    }
    for (const [dir, n] of total) this.set({ directory: dir }, n);
  },
});

export const agentHeartbeats = new Counter({
  name: "latchkey_agent_heartbeats_total",
  help: "Heartbeats received from agents.",
  registers: [registry],
});

export const agentAuthFailures = new Counter({
  name: "latchkey_agent_auth_failures_total",
  help: "Agent link authentications refused, by reason (agent_unknown, agent_revoked, signature_invalid).",
  labelNames: ["reason"] as const,
  registers: [registry],
});

export const agentMessagesRefused = new Counter({
  name: "latchkey_agent_messages_refused_total",
  help: "Messages from agents answered with a protocol error, by wire error code.",
  labelNames: ["code"] as const,
  registers: [registry],
});
