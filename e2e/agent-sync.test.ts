import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Attribute, Change, Client } from "ldapts";
import { describe, expect, it } from "vitest";
import {
  type LinkServer,
  type SharedStore,
  startLinkServer,
  testStore,
} from "../packages/server/src/directory-link/testing/server.js";
import type { User } from "../packages/server/src/store/schema.js";
import {
  type CreatedUser,
  createAdUser,
  createOpenLdapUser,
  getTestEnv,
  strictTls,
} from "../test-env/env.js";
import { agentProcessHooks, agentSpawner, until } from "./harness/agent-process.js";

const env = getTestEnv();
const INTERVAL_S = 5;
/** The bar: a change is in Latchkey within 5 s of the next incremental pass. */
const DEADLINE_MS = (INTERVAL_S + 5) * 1000 + 5000;

const cleanup = agentProcessHooks();
const spawnAgent = agentSpawner(cleanup);

/** A TCP forwarder with a fixed address: the agent's "load balancer" in front of whichever instance runs. */
async function forwarder(): Promise<{ port: number; target: { port: number }; close(): Promise<void> }> {
  const target = { port: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    target,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const portOf = (s: LinkServer) => Number(new URL(s.baseUrl).port);

interface Dialect {
  name: "ad" | "openldap";
  id: string;
  yaml: string[];
  password: string;
  create(opts?: { groups?: string[] }): Promise<CreatedUser>;
  admin<T>(fn: (c: Client) => Promise<T>): Promise<T>;
  disable(c: Client, dn: string): Promise<void>;
  /** Three wrong passwords: the directory's lockout policy locks the account. */
  tls: "ldaps" | "starttls";
  url: string;
}

async function as<T>(
  url: string,
  dn: string,
  pw: string,
  tls: "ldaps" | "starttls",
  fn: (c: Client) => Promise<T>,
) {
  const c = new Client({ url, ...(tls === "ldaps" ? { tlsOptions: strictTls() } : {}) });
  try {
    if (tls === "starttls") await c.startTLS(strictTls());
    await c.bind(dn, pw);
    return await fn(c);
  } finally {
    await c.unbind().catch(() => {});
  }
}

async function badBinds(d: Dialect, dn: string): Promise<void> {
  for (let i = 0; i < 3; i++) {
    const c = new Client({ url: d.url, ...(d.tls === "ldaps" ? { tlsOptions: strictTls() } : {}) });
    try {
      if (d.tls === "starttls") await c.startTLS(strictTls());
      await c.bind(dn, "Wrong-Passw0rd-1!").then(
        () => {
          throw new Error("a wrong password was accepted");
        },
        () => undefined,
      );
    } finally {
      await c.unbind().catch(() => {});
    }
  }
}

const replace = (type: string, values: string[]) =>
  new Change({ operation: "replace", modification: new Attribute({ type, values }) });

const dialects: Dialect[] = [
  {
    name: "ad",
    id: "corp-ad",
    yaml: [
      `    url: ${env.ad.url}`,
      `    bindDn: ${JSON.stringify(env.ad.serviceDn)}`,
      `    baseDn: ${JSON.stringify(env.ad.usersDn)}`,
      "    scopeGroups:",
      `      - ${JSON.stringify(env.ad.scopeGroupDn)}`,
      "    adminGroups:",
      `      - ${JSON.stringify(env.ad.adminGroupDn)}`,
    ],
    password: env.ad.servicePassword,
    create: (o) => createAdUser(o),
    admin: (fn) => as(env.ad.url, env.ad.adminDn, env.ad.adminPassword, "ldaps", fn),
    disable: (c, dn) => c.modify(dn, replace("userAccountControl", ["514"])),
    tls: "ldaps",
    url: env.ad.url,
  },
  {
    name: "openldap",
    id: "corp-ol",
    yaml: [
      `    url: ${env.openldap.url}`,
      "    startTls: true",
      `    bindDn: ${JSON.stringify(env.openldap.serviceDn)}`,
      `    baseDn: ${JSON.stringify(env.openldap.usersDn)}`,
      "    scopeGroups:",
      `      - ${JSON.stringify(env.openldap.scopeGroupDn)}`,
      "    adminGroups:",
      `      - ${JSON.stringify(env.openldap.adminGroupDn)}`,
    ],
    password: env.openldap.servicePassword,
    create: (o) => createOpenLdapUser(o),
    admin: (fn) => as(env.openldap.url, env.openldap.rootDn, env.openldap.rootPassword, "starttls", fn),
    disable: (c, dn) =>
      c.modify(
        dn,
        new Change({
          operation: "add",
          modification: new Attribute({ type: "pwdAccountLockedTime", values: ["000001010000Z"] }),
        }),
      ),
    tls: "starttls",
    url: env.openldap.url,
  },
];

describe.each(dialects)("agent ⇄ server, $name", (d) => {
  it("enroll, run, full sync, each directory change in the users table, server restart, revocation", async () => {
    const shared: SharedStore = await testStore();
    cleanup.push(() => shared.dispose());
    const linkOptions = { heartbeatIntervalMs: 1000 };
    let server = await startLinkServer({ shared, directories: [d.id], link: linkOptions });
    cleanup.push(() => server.close());
    const lb = await forwarder();
    lb.target.port = portOf(server);
    cleanup.push(() => lb.close());

    const dir = mkdtempSync(join(tmpdir(), "latchkey-e2e-agent-"));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, "bind.pw"), d.password);
    chmodSync(join(dir, "bind.pw"), 0o600);
    writeFileSync(
      join(dir, "latchkey-agent.yaml"),
      [
        "server:",
        `  url: http://127.0.0.1:${lb.port}`,
        "keyFile: agent.key",
        "sync:",
        `  intervalSeconds: ${INTERVAL_S}`,
        "directories:",
        `  - id: ${d.id}`,
        `    caFile: ${env.caFile}`,
        "    bindPasswordFile: bind.pw",
        ...d.yaml,
        "",
      ].join("\n"),
    );

    // The token `latchkey admin agent-token --directory <id>` makes; enrollment by the real program.
    const token = await server.token({ directoryId: d.id });
    const enrolled = spawnAgent(dir, [
      "enroll",
      "--server",
      `http://127.0.0.1:${lb.port}`,
      "--token",
      token,
      "--name",
      "e2e",
    ]);
    expect(await enrolled.exited, enrolled.out.stderr).toBe(0);
    const agentId = /enrolled as agent (\S+)/.exec(enrolled.out.stdout)?.[1] ?? "";
    expect(agentId).not.toBe("");

    const [kept, toDisable, toLock, toDelete] = await Promise.all([
      d.create(),
      d.create(),
      d.create(),
      d.create(),
    ]);
    const created: CreatedUser[] = [kept, toDisable, toLock, toDelete];
    cleanup.push(async () => {
      for (const u of created) await u.remove().catch(() => {});
    });

    const users = () =>
      server.store.db
        .selectFrom("users")
        .selectAll()
        .where("tenant_id", "=", server.tenant.id)
        .where("directory_id", "=", d.id)
        .execute();
    const user = async (name: string): Promise<User | undefined> =>
      (await users()).find((u) => u.username === name.toLowerCase());

    const agent = spawnAgent(dir, ["run"]);
    // The full sync: seeded and our users, with scope, admin and contacts.
    const alice = await until("alice synced", () => user("alice"), 30_000).catch((e: Error) => {
      throw new Error(
        `${e.message}\nagent stderr: ${agent.out.stderr}\nagent log: ${agent.out.stdout.slice(-3000)}`,
      );
    });
    expect(alice).toMatchObject({
      kind: "synced",
      email: "alice@example.test",
      mobile: "+15555550101",
      enabled: 1,
      locked: 0,
      in_scope: 1,
      is_admin: 0,
      deleted_at: null,
      password_hash: null,
    });
    expect(alice.source_anchor).toMatch(/^[0-9a-f-]{36}$/);
    await until(
      "carol, dave and ours",
      async () => (await user("carol")) && (await user("dave")) && (await user(toDelete.username)),
      30_000,
    );
    expect(await user("carol")).toMatchObject({ in_scope: 1, is_admin: 1 });
    expect(await user("dave")).toMatchObject({ in_scope: 0, is_admin: 0 });

    // Changes in the directory; each must reach the users table by the next incremental pass.
    const fresh = await d.create();
    created.push(fresh);
    await d.admin(async (c) => {
      await c.modify(kept.dn, replace("mail", [`new-${kept.username}@example.test`]));
      await d.disable(c, toDisable.dn);
    });
    await badBinds(d, toLock.dn);
    await toDelete.remove();
    await until(
      "every change in the users table",
      async () => {
        const [f, k, dis, lock, del] = await Promise.all([
          user(fresh.username),
          user(kept.username),
          user(toDisable.username),
          user(toLock.username),
          user(toDelete.username),
        ]);
        return (
          f?.in_scope === 1 &&
          f.deleted_at === null &&
          k?.email === `new-${kept.username}@example.test` &&
          dis?.enabled === 0 &&
          lock?.locked === 1 &&
          del?.deleted_at !== null
        );
      },
      DEADLINE_MS,
    );

    // The server restarts: every link gets 1012; a new instance on the same store answers at the same address.
    await server.close();
    server = await startLinkServer({ shared, directories: [d.id], link: linkOptions });
    cleanup.push(() => server.close());
    lb.target.port = portOf(server);
    await until(
      "the agent back on the new instance",
      async () => server.link.registry.get(agentId) !== undefined,
      30_000,
    );
    await d.admin((c) => c.modify(fresh.dn, replace("mobile", ["+15550007777"])));
    await until(
      "a change after the restart",
      async () => (await user(fresh.username))?.mobile === "+15550007777",
      DEADLINE_MS,
    );
    expect(agent.out.stdout).toContain("server restarting: dialling again");
    expect(agent.out.stdout.match(/"msg":"full sync pass starting"/g)).toHaveLength(1);

    // Revoked: the agent stops for good, exit status 4.
    await server.link.revoke({ tenantId: server.tenant.id, agentId });
    expect(await agent.exited).toBe(4);
    expect(agent.out.stderr).toContain("AGENT_REVOKED");
    const everything = `${agent.out.stdout}${agent.out.stderr}${enrolled.out.stdout}${enrolled.out.stderr}${server.logLines().join("")}`;
    expect(everything).not.toContain(d.password);
    expect(everything).not.toContain(token);
  });
});
