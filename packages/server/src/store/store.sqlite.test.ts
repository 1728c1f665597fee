/** The store contract on SQLite: a fresh database file in a temporary directory. */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, it } from "vitest";
import { storeContract } from "./contract/store-contract.js";
import { openStore } from "./db.js";

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
  expect(await store.migrate()).toEqual(["001-initial", "002-agent-link-sync"]);
  expect(await store.ping()).toBe(true);
  await store.close();
  expect(existsSync(":memory:")).toBe(false);
});
