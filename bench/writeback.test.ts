/**
 * Writeback benchmark (runs under vitest, on the test environment's slapd and Samba AD DC):
 *
 *   direct   ldapts on one bound connection: replace userPassword (slapd, as the service account,
 *            so ppolicy checks it) / unicodePwd (AD, as Administrator over LDAPS)
 *   agent    the agent's OperationHandler alone: open the seal, re-resolve by anchor, reset
 *   server   WritebackService.submit: row, seal, op.request over a real ws link to the same
 *            handler (in this process), op.result, row and audit — what the reset page waits for
 *
 * Sequential resets of one user; prints p50/p99 and the ratio server ÷ direct. The agent runs in
 * the server's process here (one event loop for both), which overstates the server's share a little.
 *
 *   npx vitest run bench/writeback.test.ts            (WRITEBACK_BENCH_N=1000 for more slapd samples)
 */
import type { OpRequest } from "@latchkey/protocol";
import { Attribute, Change, Client } from "ldapts";
import { expect, it } from "vitest";
import { OperationHandler } from "../packages/agent/src/operations/handler.js";
import { anchorOf, testOperators } from "../packages/agent/src/testing/operations.js";
import { syncedUser } from "../packages/server/src/directory-link/testing/agent-client.js";
import { startLinkServer } from "../packages/server/src/directory-link/testing/server.js";
import { createAdUser, createOpenLdapUser, getTestEnv, strictTls } from "../test-env/env.js";
import { formatMs, printTable, summarise } from "./lib/index.js";

const N_SLAPD = Number(process.env.WRITEBACK_BENCH_N ?? 200);
const N_AD = Math.max(20, Math.round(N_SLAPD / 8));
const WARMUP = 10;

it("writeback: direct vs through the server and agent, slapd and Samba AD", async () => {
  const env = getTestEnv();
  const s = await startLinkServer({ writeback: { pendingAfterMs: 60_000 } });
  try {
    const agent = await s.enrollAgent();
    const handler = new OperationHandler({
      sealingKey: agent.keys.x25519Private,
      directories: testOperators(env),
    });
    const { link } = await s.connectAgent({
      agent,
      directories: [
        { id: "corp-ol", dialect: "openldap", description: "slapd" },
        { id: "corp-ad", dialect: "ad", description: "Samba AD" },
      ],
    });
    void (async () => {
      for (;;) {
        let m: OpRequest;
        try {
          m = await link.next("op.request", 600_000);
        } catch {
          return;
        }
        void handler.handleOperation(m).then((r) => link.send({ type: "op.result", ...r }));
      }
    })();
    const wb = s.features.portal.writeback;
    if (!wb) throw new Error("no writeback");
    const { seal, operationAad, PROTOCOL_VERSION } = await import("@latchkey/protocol");
    const publicRaw = new Uint8Array(Buffer.from(agent.keys.x25519Public, "base64url"));

    const rows: string[][] = [];
    for (const dialect of ["openldap", "ad"] as const) {
      const n = dialect === "ad" ? N_AD : N_SLAPD;
      const directoryId = dialect === "ad" ? "corp-ad" : "corp-ol";
      const person = dialect === "ad" ? await createAdUser() : await createOpenLdapUser();
      const anchor = await anchorOf(env, dialect, person.dn);
      await link.sync({
        directoryId,
        syncId: `bench-${directoryId}`,
        full: false,
        seq: 0,
        final: true,
        users: [syncedUser(anchor, person.username, { dn: person.dn })],
      });
      const user = await s.store.db
        .selectFrom("users")
        .selectAll()
        .where("source_anchor", "=", anchor)
        .executeTakeFirstOrThrow();

      const direct = new Client({
        url: dialect === "ad" ? env.ad.url : env.openldap.url,
        ...(dialect === "ad" ? { tlsOptions: strictTls() } : {}),
      });
      if (dialect === "openldap") await direct.startTLS(strictTls());
      if (dialect === "ad") await direct.bind(env.ad.adminDn, env.ad.adminPassword);
      else await direct.bind(env.openldap.serviceDn, env.openldap.servicePassword);

      const samples = { direct: [] as number[], agent: [] as number[], server: [] as number[] };
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
        if (keep) samples.direct.push(performance.now() - t0);

        const opId = `bench-${dialect}-${i}`;
        const secrets = new TextEncoder().encode(JSON.stringify({ newPassword: pw("agent") }));
        const sealed = await seal(
          publicRaw,
          secrets,
          operationAad({ opId, kind: "reset", tenantId: s.tenant.id, anchor }),
        );
        t0 = performance.now();
        const r = await handler.handleOperation({
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
        if (keep) samples.agent.push(performance.now() - t0);
        expect(r.outcome, JSON.stringify(r)).toBe("applied");

        t0 = performance.now();
        const out = await wb.submit({
          tenantId: s.tenant.id,
          user,
          kind: "reset",
          secrets: { newPassword: pw("server") },
        });
        if (keep) samples.server.push(performance.now() - t0);
        expect(out.status, JSON.stringify(out)).toBe("applied");
      }
      await direct.unbind().catch(() => {});
      await person.remove();
      const d = summarise(samples.direct);
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
    }
    console.log("\nwriteback benchmark (sequential resets of one user)");
    printTable(rows, ["directory", "path", "n", "p50", "p99", "p50 ÷ direct", "p99 ÷ direct"]);
    link.close();
  } finally {
    await s.close();
  }
}, 600_000);
