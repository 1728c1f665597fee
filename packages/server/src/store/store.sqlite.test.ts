/** The store contract on SQLite: a fresh database file in a temporary directory. */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { storeContract } from "./contract/store-contract.js";
import { openStore } from "./db.js";
import { migrationProvider } from "./migrations/index.js";

storeContract("sqlite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-store-"));
  const file = join(dir, "nested", "latchkey.db");
  return {
    open: () => openStore({ url: `sqlite:${file}` }),
    sqliteFile: file,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

it("an in-memory SQLite store migrates and answers", async () => {
  const store = openStore({ url: "sqlite::memory:" });
  // Every migration, in order (003 on came with the issues after the first two).
  expect(await store.migrate()).toEqual(Object.keys(await migrationProvider.getMigrations()).sort());
  expect(await store.ping()).toBe(true);
  await store.close();
  expect(existsSync(":memory:")).toBe(false);
});
