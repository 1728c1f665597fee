// The run's OpenLDAP slapd: the lab's throwaway slapd (packages/server/src/lab/slapd.ts, shared with
// `latchkey demo`) in <run dir>/slapd, seeded with the test people, recorded in the run registry so
// that a crashed run's slapd is stopped by the next run.
import { join } from "node:path";
import { OL, ssha, startLabSlapd } from "../../packages/server/src/lab/slapd.js";
import type { OpenLdapEnv } from "../types.js";
import { SEED_PEOPLE } from "./fixtures.js";
import type { RunRegistry } from "./registry.js";
import type { TlsFiles } from "./tls.js";

export { OL, ssha };

export interface SlapdHandle {
  env: OpenLdapEnv;
  timings: Record<string, number>;
  stop(): Promise<void>;
}

export async function startSlapd(opts: {
  runDir: string;
  tls: TlsFiles;
  registry: RunRegistry;
}): Promise<SlapdHandle> {
  return startLabSlapd({
    dir: join(opts.runDir, "slapd"),
    tls: opts.tls,
    people: SEED_PEOPLE,
    supervisor: opts.registry,
  });
}
