/**
 * One agent process per state file: `run` and `sync --once` take `<state file>.lock` (created with
 * O_EXCL, holding the pid). A lock whose process is gone (crash, kill -9) is taken over.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";

export class LockedError extends Error {
  constructor(
    message: string,
    readonly pid: number,
  ) {
    super(message);
    this.name = "LockedError";
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface Lock {
  path: string;
  release(): void;
}

export function acquireLock(path: string): Lock {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          rmSync(path, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let pid = 0;
      try {
        pid = Number.parseInt(readFileSync(path, "utf8").trim(), 10) || 0;
      } catch {
        pid = 0;
      }
      if (pid > 0 && pid !== process.pid && alive(pid))
        throw new LockedError(`another latchkey-agent (pid ${pid}) is using this state file (${path})`, pid);
      rmSync(path, { force: true });
    }
  }
  throw new Error(`cannot take the lock ${path}`);
}
