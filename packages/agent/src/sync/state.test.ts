/** The state file (mode 0600, atomic, refused when others can read it, set aside when foreign) and the progress line. */
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { memoryLogger } from "../log.js";
import { acquireLock, LockedError } from "./lock.js";
import { formatProgress } from "./progress.js";
import { type DirectoryState, defaultStatePath, StateFileError, StateStore } from "./state.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "latchkey-agent-state-"));
  dirs.push(d);
  return d;
}

const sample: DirectoryState = {
  dialect: "openldap",
  fingerprint: "f",
  server: null,
  cursor: "20260101000000Z",
  cursorAt: 1,
  settled: false,
  floor: null,
  anchors: ["a", "b"],
  scope: ["uid=a"],
  admin: [],
  groups: ["cn=g"],
  recent: { a: "csn" },
  passesSinceReconcile: 0,
  lastFullAt: 1,
  lastPassAt: 1,
};

describe("StateStore", () => {
  it("writes 0600 atomically and reads back; lives next to the key file", () => {
    const dir = tempDir();
    expect(defaultStatePath(join(dir, "agent.key"))).toBe(join(dir, "agent.state.json"));
    const path = defaultStatePath(join(dir, "agent.key"));
    StateStore.load(path, "agent-1").commit("corp", sample);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual(["agent.state.json"]);
    expect(StateStore.load(path, "agent-1").get("corp")).toEqual(sample);
  });

  it("refuses a state file others can read; sets aside a foreign or broken one (next pass is full)", () => {
    const dir = tempDir();
    const path = join(dir, "s.json");
    StateStore.load(path, "agent-1").commit("corp", sample);
    chmodSync(path, 0o644);
    expect(() => StateStore.load(path, "agent-1")).toThrow(StateFileError);
    chmodSync(path, 0o600);
    const log = memoryLogger();
    const other = StateStore.load(path, "agent-2", log);
    expect(other.get("corp")).toBeUndefined();
    expect(existsSync(path)).toBe(false);
    expect(readdirSync(dir)[0]).toMatch(/^s\.json\.invalid-\d+$/);
    expect(log.lines[0]?.msg).toContain("full sync");
    writeFileSync(path, "{", { mode: 0o600 });
    expect(StateStore.load(path, "agent-1", log).get("corp")).toBeUndefined();
  });
});

describe("lock", () => {
  it("one process per state file; a stale lock is taken over", () => {
    const dir = tempDir();
    const path = join(dir, "s.lock");
    const lock = acquireLock(path);
    expect(readFileSync(path, "utf8").trim()).toBe(String(process.pid));
    // A live process (the test runner's parent) holds it: refused.
    writeFileSync(path, `${process.ppid}\n`);
    expect(() => acquireLock(path)).toThrow(LockedError);
    // A pid that does not exist: taken over.
    writeFileSync(path, "999999999\n");
    const again = acquireLock(path);
    again.release();
    lock.release();
    expect(existsSync(path)).toBe(false);
  });
});

describe("progress line", () => {
  it("a bar when the size is known, a count and a rate otherwise", () => {
    expect(
      formatProgress({ directoryId: "corp", full: true, phase: "users", users: 5000, estimate: 10000 }, 1000),
    ).toBe("corp full ██████████████░░░░░░░░░░░░░░ 50% 5,000 users 5000/s (users)");
    expect(
      formatProgress({ directoryId: "corp", full: false, phase: "acks", users: 12, estimate: null }, 2000),
    ).toMatch(/^corp incremental . 12 users 6\/s \(acks\)$/);
  });
});
