/**
 * Writeback benchmark (runs under vitest, on the test environment's slapd and Samba AD DC):
 *
 *   direct       ldapts on one bound connection: replace userPassword (slapd, as the service
 *                account, so ppolicy checks it) / unicodePwd (AD, as Administrator over LDAPS)
 *   agent        the agent's OperationHandler alone: open the seal, re-resolve by anchor, reset
 *   server       WritebackService.submit on SQLite: row, seal, op.request over a real ws link to the
 *                same kind of handler (in this process), op.result, row and audit — what the reset
 *                page waits for
 *   server pg    the same on PostgreSQL, the agent linked to the submitting instance
 *   relay pg     PostgreSQL, the agent linked to ANOTHER instance: the attempt is queued in the row,
 *                claimed by the other instance (woken by NOTIFY), answered through the row
 *
 * Sequential resets of one user per directory; prints p50/p99, the ratio to direct, and where the
 * server path's time goes (the agent's own timings from op.result; the link; the server's share).
 * The agents run in this process (one event loop for all), which overstates the overhead a little.
 *
 *   npx vitest run bench/writeback.test.ts            (WRITEBACK_BENCH_N=1000 for more slapd samples)
 */
import { Attribute, Change, Client } from "ldapts";
import { expect, it } from "vitest";
import { answerOperations } from "../e2e/harness/agent-link.js";
import { OperationHandler } from "../packages/agent/src/operations/handler.js";
import { anchorOf, testOperators } from "../packages/agent/src/testing/operations.js";
import {
  syncedUser,
  type TestAgentLink,
} from "../packages/server/src/directory-link/testing/agent-client.js";
import {
  type LinkServer,
  startLinkServer,
  testStore,
} from "../packages/server/src/directory-link/testing/server.js";
import type { User } from "../packages/server/src/store/schema.js";
import type { WritebackOutcome, WritebackService } from "../packages/server/src/writeback/service.js";
import {
  createAdUser,
  createOpenLdapUser,
  createTestDatabase,
  getTestEnv,
  strictTls,
} from "../test-env/env.js";
import { formatMs, printTable, summarise } from "./lib/index.js";

const N_SLAPD = Number(process.env.WRITEBACK_BENCH_N ?? 200);
const N_AD = Math.max(20, Math.round(N_SLAPD / 8));
const WARMUP = 10;
const DIRECTORIES = [
  { id: "corp-ol", dialect: "openldap" as const, description: "slapd" },
  { id: "corp-ad", dialect: "ad" as const, description: "Samba AD" },
];

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** Links a fresh agent (its own handler and keys) to the server and serves its op.requests. */
async function linkAgent(s: LinkServer) {
  const env = getTestEnv();
  const agent = await s.enrollAgent();
  const handler = new OperationHandler({
    sealingKey: agent.keys.x25519Private,
    directories: testOperators(env),
  });
  const { link } = await s.connectAgent({ agent, directories: DIRECTORIES });
  answerOperations(link, handler);
  return { agent, handler, link };
}

async function syncOne(
  s: LinkServer,
  link: TestAgentLink,
  directoryId: string,
  anchor: string,
  p: { username: string; dn: string },
): Promise<User> {
  await link.sync({
    directoryId,
    syncId: `bench-${directoryId}-${anchor}`,
    full: false,
    seq: 0,
    final: true,
    users: [syncedUser(anchor, p.username, { dn: p.dn })],
  });
  return s.store.db
    .selectFrom("users")
    .selectAll()
    .where("source_anchor", "=", anchor)
    .executeTakeFirstOrThrow();
}

it("writeback: direct vs through the server and agent, slapd and Samba AD, SQLite and PostgreSQL (local and relayed)", async () => {
  const env = getTestEnv();
  const wbOptions = { pendingAfterMs: 60_000 };
  const s = await startLinkServer({ writeback: wbOptions });
  const pg = await testStore(await createTestDatabase());
  const p1 = await startLinkServer({ shared: pg, writeback: wbOptions });
  const p2 = await startLinkServer({ shared: pg, writeback: wbOptions });
  const links: TestAgentLink[] = [];
  try {
    const sqliteAgent = await linkAgent(s);
    const pgAgent = await linkAgent(p1);
    links.push(sqliteAgent.link, pgAgent.link);
    const wb = (x: LinkServer): WritebackService => {
      const w = x.features.portal.writeback;
      if (!w) throw new Error("no writeback");
      return w;
    };
    await wb(p2).ready();
    const { seal, operationAad, PROTOCOL_VERSION } = await import("@latchkey/protocol");
    const publicRaw = new Uint8Array(Buffer.from(sqliteAgent.agent.keys.x25519Public, "base64url"));

    const rows: string[][] = [];
    const breakdown: string[][] = [];
    for (const dialect of ["openldap", "ad"] as const) {
      const n = dialect === "ad" ? N_AD : N_SLAPD;
      const directoryId = dialect === "ad" ? "corp-ad" : "corp-ol";
      const person = dialect === "ad" ? await createAdUser() : await createOpenLdapUser();
      const anchor = await anchorOf(env, dialect, person.dn);
      const user = await syncOne(s, sqliteAgent.link, directoryId, anchor, person);
      const pgUser = await syncOne(p1, pgAgent.link, directoryId, anchor, person);
      expect(wb(p2).canServe(pgUser)).toBe(true);

      const direct = new Client({
        url: dialect === "ad" ? env.ad.url : env.openldap.url,
        ...(dialect === "ad" ? { tlsOptions: strictTls() } : {}),
      });
      if (dialect === "openldap") await direct.startTLS(strictTls());
      if (dialect === "ad") await direct.bind(env.ad.adminDn, env.ad.adminPassword);
      else await direct.bind(env.openldap.serviceDn, env.openldap.servicePassword);

      const samples: Record<string, number[]> = {
        direct: [],
        agent: [],
        server: [],
        "server pg": [],
        "relay pg": [],
      };
      /** Where each server path's time went, per reset. */
      const parts: Record<string, Record<string, number[]>> = {};
      const record = (label: string, total: number, out: WritebackOutcome) => {
        expect(out.status, JSON.stringify(out)).toBe("applied");
        if (out.status !== "applied") return;
        (samples[label] as number[]).push(total);
        const t = out.timings;
        if (!t || t.openMs === undefined || t.lookupMs === undefined || t.directoryMs === undefined)
          throw new Error("no timings in the outcome");
        const p = parts[label] ?? {};
        parts[label] = p;
        const add = (k: string, v: number) => {
          const xs = p[k] ?? [];
          p[k] = xs;
          xs.push(v);
        };
        add("agent: open seal", t.openMs);
        add("agent: anchor lookup", t.lookupMs);
        add("agent: directory write", t.directoryMs);
        // ws both ways, JSON and schema checks at both ends, the handler's queueing.
        add("link", t.roundTripMs - t.openMs - t.lookupMs - t.directoryMs);
        if (t.relayMs !== undefined) {
          // Queue the row, NOTIFY, claim, write the answer, NOTIFY, read it.
          add("relay (row hand-off)", t.relayMs - t.roundTripMs);
          add("server (seal, rows, audit)", total - t.relayMs);
        } else {
          add("server (seal, rows, audit)", total - t.roundTripMs);
        }
      };

      for (let i = 0; i < n + WARMUP; i++) {
        const keep = i >= WARMUP;
        const pw = (k: string) => `Bench-${k}-${i}-Qx7!vR`;
        let t0 = performance.now();
        const value = pw("direct");
        await direct.modify(
          person.dn,
          dialect === "ad"
            ? new Change({
                operation: "replace",
                modification: new Attribute({
                  type: "unicodePwd",
                  values: [Buffer.from(`"${value}"`, "utf16le")],
                }),
              })
            : new Change({
                operation: "replace",
                modification: new Attribute({ type: "userPassword", values: [value] }),
              }),
        );
        if (keep) samples.direct?.push(performance.now() - t0);

        const opId = `bench-${dialect}-${i}`;
        const secrets = new TextEncoder().encode(JSON.stringify({ newPassword: pw("agent") }));
        const sealed = await seal(
          publicRaw,
          secrets,
          operationAad({ opId, kind: "reset", tenantId: s.tenant.id, anchor }),
        );
        t0 = performance.now();
        const r = await sqliteAgent.handler.handleOperation({
          v: PROTOCOL_VERSION,
          id: opId,
          type: "op.request",
          opId,
          kind: "reset",
          tenantId: s.tenant.id,
          directoryId,
          anchor,
          dn: null,
          options: { unlock: false, mustChange: false },
          sealed,
          deadline: Date.now() + 30_000,
        });
        if (keep) samples.agent?.push(performance.now() - t0);
        expect(r.outcome, JSON.stringify(r)).toBe("applied");

        for (const [label, server, u] of [
          ["server", s, user],
          ["server pg", p1, pgUser],
          ["relay pg", p2, pgUser],
        ] as const) {
          t0 = performance.now();
          const out = await wb(server).submit({
            tenantId: server.tenant.id,
            user: u,
            kind: "reset",
            secrets: { newPassword: pw(label.replace(" ", "-")) },
          });
          const total = performance.now() - t0;
          if (keep) record(label, total, out);
          else expect(out.status, JSON.stringify(out)).toBe("applied");
        }
      }
      await direct.unbind().catch(() => {});
      await person.remove();
      const d = summarise(samples.direct as number[]);
      for (const [label, xs] of Object.entries(samples)) {
        const m = summarise(xs);
        rows.push([
          dialect,
          label,
          String(m.n),
          formatMs(m.p50),
          formatMs(m.p99),
          (m.p50 / d.p50).toFixed(2),
          (m.p99 / d.p99).toFixed(2),
        ]);
      }
      for (const [label, byPart] of Object.entries(parts))
        for (const [part, xs] of Object.entries(byPart)) {
          const m = summarise(xs);
          breakdown.push([dialect, label, part, formatMs(m.p50), formatMs(mean(xs)), formatMs(m.p99)]);
        }
    }
    console.log("\nwriteback benchmark (sequential resets of one user)");
    printTable(rows, ["directory", "path", "n", "p50", "p99", "p50 ÷ direct", "p99 ÷ direct"]);
    console.log("\nwhere each server path's time goes");
    printTable(breakdown, ["directory", "path", "part", "p50", "mean", "p99"]);
  } finally {
    for (const l of links) l.close();
    await s.close();
    await p1.close();
    await p2.close();
    await pg.dispose();
  }
}, 600_000);
