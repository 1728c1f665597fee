/**
 * A one-line progress bar for a sync pass on a terminal (stderr, redrawn in place), or nothing when
 * stderr is not a TTY (services, pipes, CI): logs say the same in JSON.
 */
import type { PassProgress } from "./engine.js";

export interface ProgressBar {
  update(p: PassProgress): void;
  done(summary: string): void;
}

const WIDTH = 28;

export function formatProgress(p: PassProgress, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? Math.round((p.users * 1000) / elapsedMs) : 0;
  const count = p.users.toLocaleString("en-US");
  const kind = p.full ? "full" : "incremental";
  if (p.estimate && p.estimate > 0 && p.full) {
    const frac = Math.min(1, p.users / p.estimate);
    const filled = Math.round(frac * WIDTH);
    const bar = `${"█".repeat(filled)}${"░".repeat(WIDTH - filled)}`;
    return `${p.directoryId} ${kind} ${bar} ${Math.round(frac * 100)}% ${count} users ${rate}/s (${p.phase})`;
  }
  const spin = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"[Math.floor(elapsedMs / 100) % 10] ?? "";
  return `${p.directoryId} ${kind} ${spin} ${count} users ${rate}/s (${p.phase})`;
}

export function createProgressBar(stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (!stream.isTTY) return { update: () => {}, done: () => {} };
  const started = Date.now();
  let lastDraw = 0;
  return {
    update(p) {
      const now = Date.now();
      if (now - lastDraw < 80 && p.phase !== "done") return;
      lastDraw = now;
      stream.write(`\r\x1b[2K${formatProgress(p, now - started)}`);
    },
    done(summary) {
      stream.write(`\r\x1b[2K${summary}\n`);
    },
  };
}
