/**
 * The store contract on PostgreSQL. With the test environment's global setup, a fresh database
 * per file (createTestDatabase); without it, LATCHKEY_TEST_PG_URL or the local server, in a schema
 * of its own selected through search_path. Either way it is dropped afterwards.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { createTestDatabase } from "../../../../test-env/env.js";
import { type ContractTarget, storeContract } from "./contract/store-contract.js";
import { openStore } from "./db.js";

async function target(): Promise<ContractTarget> {
  let url: string;
  let cleanup: () => Promise<void>;
  try {
    const db = await createTestDatabase();
    url = db.url;
    cleanup = db.drop;
  } catch (e) {
    if (!String(e).includes("latchkeyEnv was not provided")) throw e;
    const base = process.env.LATCHKEY_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
    const schema = `lk_contract_${randomBytes(6).toString("hex")}`;
    const admin = async (q: string) => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(q);
      } finally {
        await c.end();
      }
    };
    await admin(`create schema "${schema}"`);
    const u = new URL(base);
    u.searchParams.set("options", `-c search_path=${schema}`);
    url = u.toString();
    cleanup = () => admin(`drop schema if exists "${schema}" cascade`);
  }
  return { open: () => openStore({ url, poolSize: 4 }), cleanup };
}

storeContract("postgres", target);
