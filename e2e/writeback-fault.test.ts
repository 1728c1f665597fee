import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "ldapts";
import { expect, it } from "vitest";
import { tryBind } from "../packages/agent/src/testing/operations.js";
import { type LinkServer, startLinkServer } from "../packages/server/src/directory-link/testing/server.js";
import type { User } from "../packages/server/src/store/schema.js";
import type { WritebackOutcome } from "../packages/server/src/writeback/service.js";
import { type CreatedUser, createOpenLdapUser, getTestEnv } from "../test-env/env.js";
import { agentProcessHooks, agentSpawner, until } from "./harness/agent-process.js";

const env = getTestEnv();
const N = Number(process.env.WRITEBACK_FAULT_N ?? 200);
const CONCURRENCY = 8;

const cleanup = agentProcessHooks();
const spawnAgent = agentSpawner(cleanup);

async function startAgent(server: LinkServer, name: string) {
  const dir = mkdtempSync(join(tmpdir(), `latchkey-e2e-fault-${name}-`));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "bind.pw"), env.openldap.servicePassword);
  chmodSync(join(dir, "bind.pw"), 0o600);
  writeFileSync(
    join(dir, "latchkey-agent.yaml"),
    [
      "server:",
      `  url: ${server.baseUrl}`,
      "keyFile: agent.key",
      "sync:",
      "  intervalSeconds: 30",
      "directories:",
      "  - id: corp-ol",
      `    caFile: ${env.caFile}`,
      "    bindPasswordFile: bind.pw",
      `    url: ${env.openldap.url}`,
      "    startTls: true",
      `    bindDn: ${JSON.stringify(env.openldap.serviceDn)}`,
      `    baseDn: ${JSON.stringify(env.openldap.usersDn)}`,
      "    scopeGroups:",
      `      - ${JSON.stringify(env.openldap.scopeGroupDn)}`,
      "",
    ].join("\n"),
  );
  const token = await server.token({ directoryId: "corp-ol" });
  const enrolled = spawnAgent(dir, ["enroll", "--server", server.baseUrl, "--token", token, "--name", name]);
  expect(await enrolled.exited, enrolled.out.stderr).toBe(0);
  const agentId = /enrolled as agent (\S+)/.exec(enrolled.out.stdout)?.[1] ?? "";
  return { agentId, ...spawnAgent(dir, ["run"]) };
}

async function historyCount(dn: string): Promise<number> {
  const c = new Client({ url: env.openldap.url });
  try {
    await c.bind(env.openldap.rootDn, env.openldap.rootPassword);
    const { searchEntries } = await c.search(dn, { scope: "base", attributes: ["pwdHistory"] });
    const v = searchEntries[0]?.pwdHistory;
    return v === undefined ? 0 : Array.isArray(v) ? v.length : 1;
  } finally {
    await c.unbind().catch(() => {});
  }
}

it(`${N} resets while one of two agents is killed: each applied once or reported failed, none lost`, async () => {
  const server = await startLinkServer({
    directories: ["corp-ol"],
    // Long enough that nothing turns "pending" here: every submit ends with its final outcome.
    writeback: { pendingAfterMs: 120_000, attemptDeadlineMs: 20_000, answerGraceMs: 5_000 },
  });
  cleanup.push(() => server.close());
  const people: CreatedUser[] = [];
  for (let i = 0; i < N; i++) people.push(await createOpenLdapUser());
  cleanup.push(async () => {
    for (const p of people) await p.remove().catch(() => {});
  });
  const a = await startAgent(server, "a");
  const b = await startAgent(server, "b");
  const wb = server.features.portal.writeback;
  if (!wb) throw new Error("no writeback");
  const rows = await until(
    "every person synced and both agents online",
    async () => {
      const all = await server.store.db
        .selectFrom("users")
        .selectAll()
        .where("directory_id", "=", "corp-ol")
        .execute();
      const mine = people.map((p) => all.find((u) => u.username === p.username.toLowerCase()));
      const online = server.link.registry.serving(server.tenant.id, "corp-ol").length === 2;
      return online && mine.every(Boolean) ? (mine as User[]) : null;
    },
    60_000,
  );

  const outcomes: (WritebackOutcome | null)[] = new Array(N).fill(null);
  const newPassword = (i: number) => `Fault-Reset-${i}-Kq7!zW`;
  let next = 0;
  let done = 0;
  let killedAt = -1;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (;;) {
        const i = next++;
        if (i >= N) return;
        const user = rows[i] as User;
        outcomes[i] = await wb.submit({
          tenantId: server.tenant.id,
          user,
          kind: "reset",
          secrets: { newPassword: newPassword(i) },
        });
        done++;
        if (killedAt < 0 && done >= Math.floor(N / 3)) {
          killedAt = done;
          a.child.kill("SIGKILL");
        }
      }
    }),
  );
  const elapsed = performance.now() - started;

  // None lost: every submit answered with a final outcome.
  expect(outcomes.every((o) => o !== null && o.status !== "pending")).toBe(true);
  const applied = outcomes.filter((o) => o?.status === "applied").length;
  const failed = outcomes.filter((o) => o?.status === "failed" || o?.status === "refused");
  // Every applied reset: the new password binds, the old one fails, and exactly one history value.
  const doubles: string[] = [];
  for (let i = 0; i < N; i++) {
    const p = people[i] as CreatedUser;
    const o = outcomes[i];
    const history = await historyCount(p.dn);
    const bindsNew = (await tryBind(env, "openldap", p.dn, newPassword(i))) === "ok";
    if (o?.status === "applied") {
      expect(bindsNew, `${p.username} applied but the new password does not bind`).toBe(true);
      expect(await tryBind(env, "openldap", p.dn, p.password)).not.toBe("ok");
      if (history !== 1) doubles.push(`${p.username}: ${history} history values`);
    } else {
      // Reported failed: the person was told; the directory holds one password or the other.
      expect(history).toBeLessThanOrEqual(1);
    }
  }
  expect(doubles).toEqual([]);
  const retried = await server.store.db
    .selectFrom("writeback_operations")
    .select(["id", "attempts"])
    .where("attempts", ">", 1)
    .execute();
  const verifies = (await server.audit("writeback.applied")).length;
  console.log(
    `[writeback-fault] ${N} resets, concurrency ${CONCURRENCY}, agent a (${a.agentId}) SIGKILLed after ${killedAt}: ` +
      `${applied} applied, ${failed.length} reported failed (${failed.map((f) => (f && "code" in f ? f.code : "")).join(",")}), ` +
      `${retried.length} retried on the other agent, ${verifies} applied events, ${elapsed.toFixed(0)} ms`,
  );
  expect(b.child.exitCode).toBeNull();
  expect(applied + failed.length).toBe(N);
}, 300_000);
