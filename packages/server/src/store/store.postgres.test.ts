import { createTestDatabase } from "../../../../test-env/env.js";
import { type ContractTarget, storeContract } from "./contract/store-contract.js";
import { openStore } from "./db.js";

async function target(): Promise<ContractTarget> {
  const db = await createTestDatabase();
  return { open: () => openStore({ url: db.url, poolSize: 4 }), cleanup: db.drop };
}

storeContract("postgres", target);
