/**
 * The setup the hybrid-reset e2e files share: a server with the directory link, a fresh directory
 * user, the real `latchkey-agent` enrolled and running against that directory, the user synced and
 * an agent online for them, and a confirmed email plus an authenticator app registered for them.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { type LinkServer, startLinkServer } from "../../packages/server/src/directory-link/testing/server.js";
import { registerEmail } from "../../packages/server/src/methods/email-code/index.js";
import { generateTotpSecret, registerTotp } from "../../packages/server/src/methods/totp/index.js";
import type { User } from "../../packages/server/src/store/schema.js";
import { type CreatedUser, createAdUser, createOpenLdapUser, getTestEnv } from "../../test-env/env.js";
import { type agentSpawner, type Cleanup, until } from "./agent-process.js";

export interface HybridDialect {
  name: "ad" | "openldap";
  id: string;
  /** The directory's lines in the agent's YAML configuration. */
  yaml: string[];
  password: string;
  /** Where to bind as the person over LDAPS. */
  ldapsUrl: string;
  create(): Promise<CreatedUser>;
}

export function hybridDialects(): HybridDialect[] {
  const env = getTestEnv();
  return [
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
      ],
      password: env.openldap.servicePassword,
      ldapsUrl: env.openldap.ldapsUrl,
      create: () => createOpenLdapUser(),
    },
    {
      name: "ad",
      id: "corp-ad",
      yaml: [
        `    url: ${env.ad.url}`,
        `    bindDn: ${JSON.stringify(env.ad.serviceDn)}`,
        `    baseDn: ${JSON.stringify(env.ad.usersDn)}`,
        "    scopeGroups:",
        `      - ${JSON.stringify(env.ad.scopeGroupDn)}`,
      ],
      password: env.ad.servicePassword,
      ldapsUrl: env.ad.url,
      create: () => createAdUser(),
    },
  ];
}

export interface HybridSetup {
  server: LinkServer;
  person: CreatedUser;
  user: User;
  totpSecret: string;
  agent: ReturnType<ReturnType<typeof agentSpawner>>;
}

export async function startHybrid(
  d: HybridDialect,
  cleanup: Cleanup,
  spawnAgent: ReturnType<typeof agentSpawner>,
): Promise<HybridSetup> {
  const env = getTestEnv();
  const server = await startLinkServer({
    directories: [d.id],
    smtpPort: env.smtp.port,
    outboxPollMs: 50,
    settings: {
      reset: { disclosure: "guided", scope: "all", gates: 2, methods: ["email", "totp"] },
      throttles: { perIpPerMinute: 1000 },
    },
  });
  cleanup.push(() => server.close());
  const person = await d.create();
  cleanup.push(() => person.remove().catch(() => {}));

  const dir = mkdtempSync(join(tmpdir(), "latchkey-e2e-writeback-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "bind.pw"), d.password);
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
      `  - id: ${d.id}`,
      `    caFile: ${env.caFile}`,
      "    bindPasswordFile: bind.pw",
      ...d.yaml,
      "",
    ].join("\n"),
  );
  const token = await server.token({ directoryId: d.id });
  const enrolled = spawnAgent(dir, ["enroll", "--server", server.baseUrl, "--token", token, "--name", "e2e"]);
  expect(await enrolled.exited, enrolled.out.stderr).toBe(0);
  const agent = spawnAgent(dir, ["run"]);

  const user = await until<User>(
    "the person synced",
    async () =>
      server.store.db
        .selectFrom("users")
        .selectAll()
        .where("username", "=", person.username.toLowerCase())
        .where("directory_id", "=", d.id)
        .executeTakeFirst(),
    30_000,
  ).catch((e: Error) => {
    throw new Error(
      `${e.message}\nagent stderr: ${agent.out.stderr}\nagent log: ${agent.out.stdout.slice(-3000)}`,
    );
  });
  await until("the agent online", async () => server.features.portal.writeback?.canServe(user), 10_000);

  // The person confirmed their directory email and registered an authenticator app.
  const address = user.email ?? "";
  expect(address).not.toBe("");
  await registerEmail(server.store.db, {
    tenantId: server.tenant.id,
    userId: user.id,
    address,
    confirmed: true,
    clock: server.clock,
  });
  const totpSecret = generateTotpSecret();
  await registerTotp(server.store.db, server.secrets, {
    tenantId: server.tenant.id,
    userId: user.id,
    issuer: "Link Test",
    accountName: person.username,
    secretBase32: totpSecret,
    confirmed: true,
  });
  return { server, person, user, totpSecret, agent };
}
