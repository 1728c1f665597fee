/**
 * Writing secret-bearing files (the key file, the sync state): created with mode 0600 from the first
 * byte, written to a temporary file in the same directory, flushed, then renamed over the target, so
 * a crash leaves either the old file or the new one, never half of one, and no other user ever can
 * read a byte of it.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** A temporary file beside `target`, already created (O_EXCL) with mode 0600. */
export interface PendingFile {
  readonly tempPath: string;
  /** Writes `content`, flushes and renames over the target. */
  commit(content: string): void;
  /** Removes the temporary file. */
  discard(): void;
}

export function createPending(target: string): PendingFile {
  const tempPath = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString("hex")}.tmp`);
  const fd = openSync(tempPath, "wx", 0o600);
  let open = true;
  const close = () => {
    if (open) {
      open = false;
      closeSync(fd);
    }
  };
  return {
    tempPath,
    commit(content: string) {
      try {
        writeSync(fd, content);
        fsyncSync(fd);
        close();
        renameSync(tempPath, target);
      } catch (e) {
        close();
        rmSync(tempPath, { force: true });
        throw e;
      }
    },
    discard() {
      close();
      rmSync(tempPath, { force: true });
    },
  };
}

/** Atomically replaces `target` with `content`, mode 0600. */
export function writeFileAtomic(target: string, content: string): void {
  createPending(target).commit(content);
}

/**
 * Why a secret file may not be used, or null when it is fine: it must be a regular file that only
 * its owner can read or write (mode & 0o077 === 0).
 */
export function secretFileProblem(path: string): string | null {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch {
    return `${path} does not exist`;
  }
  if (!st.isFile()) return `${path} is not a regular file`;
  if (process.platform !== "win32" && (st.mode & 0o077) !== 0)
    return `${path} is readable or writable by group or others (mode 0${(st.mode & 0o777).toString(8)}); run: chmod 600 ${path}`;
  return null;
}
