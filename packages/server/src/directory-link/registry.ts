/**
 * The agents whose link this instance holds, with their version and directories. The reset flow's
 * writeback routing (issue 5) asks it "is an agent serving directory X online here?" and gets the
 * link to send the operation on. With several instances, each has its own registry; the store
 * answers the same question across instances (liveness.ts: storedAgentsServing), and an operation
 * row is then claimed by the instance whose registry holds a suitable link.
 */
import type { DirectoryInfo, OpResult, ServerMessage } from "@latchkey/protocol";

/** Told of every `op.result` a link on this instance received (writeback/ waits on these). */
export type OpResultListener = (agentId: string, result: OpResult) => void;
/** Told when an agent's link on this instance is gone (closed, replaced or revoked). */
export type LinkClosedListener = (agentId: string) => void;

/** An agent online on this instance (a snapshot: read it again for fresh values). */
export interface OnlineAgent {
  agentId: string;
  tenantId: string;
  name: string;
  version: string;
  /** The directories this agent was accepted for on this link. */
  directories: readonly DirectoryInfo[];
  connectedAt: number;
  lastHeartbeatAt: number;
  remoteAddress: string | null;
}

/** What the link server registers for each authenticated link. */
export interface LiveLink {
  readonly agentId: string;
  readonly tenantId: string;
  view(): OnlineAgent;
  /** Sends a message on the link; false when it is no longer open. */
  send(message: ServerMessage): boolean;
  close(code: number, reason: string): void;
}

export class AgentRegistry {
  private readonly links = new Map<string, LiveLink>();
  private readonly resultListeners = new Set<OpResultListener>();
  private readonly closedListeners = new Set<LinkClosedListener>();

  /** @param instanceId this server instance, as written to `agents.link_instance`. */
  constructor(readonly instanceId: string) {}

  /** Online agents, optionally of one tenant, oldest link first. */
  list(tenantId?: string): OnlineAgent[] {
    return [...this.links.values()]
      .filter((l) => tenantId === undefined || l.tenantId === tenantId)
      .map((l) => l.view())
      .sort((a, b) => a.connectedAt - b.connectedAt || a.agentId.localeCompare(b.agentId));
  }

  get(agentId: string): OnlineAgent | undefined {
    return this.links.get(agentId)?.view();
  }

  /** The online agents serving a directory of a tenant, freshest heartbeat first. */
  serving(tenantId: string, directoryId: string): OnlineAgent[] {
    return this.list(tenantId)
      .filter((a) => a.directories.some((d) => d.id === directoryId))
      .sort((a, b) => b.lastHeartbeatAt - a.lastHeartbeatAt);
  }

  /** Whether any agent serving the directory is online on this instance. */
  isServing(tenantId: string, directoryId: string): boolean {
    for (const l of this.links.values()) {
      if (l.tenantId === tenantId && l.view().directories.some((d) => d.id === directoryId)) return true;
    }
    return false;
  }

  /** The live link of an agent, to send on (writeback routing, issue 5). */
  link(agentId: string): LiveLink | undefined {
    return this.links.get(agentId);
  }

  /** Online agents per directory id (for latchkey_agents_online). */
  countByDirectory(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const l of this.links.values()) {
      for (const d of l.view().directories) counts.set(d.id, (counts.get(d.id) ?? 0) + 1);
    }
    return counts;
  }

  get size(): number {
    return this.links.size;
  }

  /** Registers an authenticated link; returns the link of the same agent it replaces, if any. */
  add(link: LiveLink): LiveLink | undefined {
    const previous = this.links.get(link.agentId);
    this.links.set(link.agentId, link);
    return previous === link ? undefined : previous;
  }

  /** Removes the link, unless a newer link of the same agent has replaced it. */
  remove(link: LiveLink): void {
    if (this.links.get(link.agentId) === link) this.links.delete(link.agentId);
    // Even when replaced: whatever was sent on this link will not be answered on it.
    for (const l of this.closedListeners) l(link.agentId);
  }

  /** Listens to operation results (issue 5); returns the function that stops listening. */
  onOpResult(listener: OpResultListener): () => void {
    this.resultListeners.add(listener);
    return () => this.resultListeners.delete(listener);
  }

  /** Listens to links going away; returns the function that stops listening. */
  onLinkClosed(listener: LinkClosedListener): () => void {
    this.closedListeners.add(listener);
    return () => this.closedListeners.delete(listener);
  }

  /** Called by a link for each `op.result` it receives. False when nobody listens. */
  deliverResult(agentId: string, result: OpResult): boolean {
    for (const l of this.resultListeners) l(agentId, result);
    return this.resultListeners.size > 0;
  }
}
