/**
 * Which of the directories an agent announces it may serve. An agent enrolled with a token bound to
 * a directory serves that one only; when the configuration lists directories, only those can be
 * served at all. Everything else the agent announced is refused (and logged), never an error:
 * the link still works for the rest.
 */
import type { DirectoryInfo } from "@latchkey/protocol";

export interface DirectoryDecision {
  accepted: DirectoryInfo[];
  /** Ids refused, each with why. */
  refused: { id: string; reason: "not_bound" | "not_configured" | "duplicate" }[];
}

export function decideDirectories(
  announced: readonly DirectoryInfo[],
  boundTo: string | null,
  configured: readonly string[],
): DirectoryDecision {
  const accepted: DirectoryInfo[] = [];
  const refused: DirectoryDecision["refused"] = [];
  const seen = new Set<string>();
  for (const d of announced) {
    if (seen.has(d.id)) refused.push({ id: d.id, reason: "duplicate" });
    else if (boundTo !== null && d.id !== boundTo) refused.push({ id: d.id, reason: "not_bound" });
    else if (configured.length > 0 && !configured.includes(d.id))
      refused.push({ id: d.id, reason: "not_configured" });
    else accepted.push(d);
    seen.add(d.id);
  }
  return { accepted, refused };
}
