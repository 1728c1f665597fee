/** Migrations are code, listed here in order; names sort in the order they run. */
import type { Migration, MigrationProvider } from "kysely";
import * as m001 from "./001-initial.js";
import * as m002 from "./002-agent-link-sync.js";
import * as m003 from "./003-account.js";
import * as m006 from "./006-lookup-indexes.js";
import * as m007 from "./007-writeback-routing.js";

const MIGRATIONS: Record<string, Migration> = {
  "001-initial": m001,
  "002-agent-link-sync": m002,
  "003-account": m003,
  "006-lookup-indexes": m006,
  "007-writeback-routing": m007,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
